"""The sentence-role prior (agent/chain/roles.py) and how the quote picker uses it."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
from support import BagOfWordsEmbedder as WordEmbedder

from agent.chain.evidence import EvidenceSelector
from agent.chain.quotes import pick_quotes
from agent.chain.roles import MODEL_DIR, VERSION, RoleModel, RoleModelError, get_role_model, role_features, role_model_for
from agent.settings import Settings
from agent.types import Paper

PAPER = Paper(
    id="p1",
    title="Reweighting negatives",
    abstract="False negatives hurt contrastive learning of sentence embeddings. Our method reweights false negatives.",
)
QUESTION = "Which papers address false negatives in contrastive learning of sentence embeddings?"


class PositionRoles:
    """A stand-in role model: the later the sentence, the more it is the paper's own work."""

    version = "test"

    def own_work(self, vecs: np.ndarray) -> np.ndarray:
        return np.linspace(0.0, 1.0, len(vecs))


def test_features_add_position_first_and_last() -> None:
    x = role_features(np.ones((3, 4), dtype=np.float32))
    assert x.shape == (3, 7)
    assert x[:, 4].tolist() == [0.0, 0.5, 1.0]
    assert x[:, 5].tolist() == [1.0, 0.0, 0.0] and x[:, 6].tolist() == [0.0, 0.0, 1.0]
    assert role_features(np.ones((1, 4), dtype=np.float32))[0, 4:].tolist() == [0.0, 1.0, 1.0]


def test_shipped_model_loads_and_gives_probabilities() -> None:
    model = get_role_model()
    assert model.version == VERSION and model.sentence_model == Settings().index.sentence_model
    vecs = np.random.default_rng(0).normal(size=(5, len(model.coef) - 3)).astype(np.float32)
    p = model.own_work(vecs)
    assert p.shape == (5,) and np.all((p > 0) & (p < 1))
    assert model.own_work(np.zeros((0, len(model.coef) - 3))).shape == (0,)
    with pytest.raises(RoleModelError, match="expects 384-dimensional vectors, got 8"):
        model.own_work(np.zeros((2, 8), dtype=np.float32))


def test_a_changed_or_missing_file_is_refused_with_its_name(tmp_path) -> None:
    copy = tmp_path / "roles"
    shutil.copytree(MODEL_DIR, copy)
    weights = json.loads((copy / "model.json").read_text())
    weights["intercept"] += 1.0
    (copy / "model.json").write_text(json.dumps(weights))
    with pytest.raises(RoleModelError, match="model.json does not match its SHA-256"):
        RoleModel(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(RoleModelError, match="manifest .* is missing or unreadable"):
        RoleModel(copy)


def test_role_prior_moves_the_best_quote_from_background_to_the_papers_own_work() -> None:
    plain = pick_quotes(EvidenceSelector(WordEmbedder()), QUESTION, PAPER, 1, role_weight=1.0)
    assert plain.best.startswith("False negatives hurt")  # no role model: the weight does nothing
    with_roles = EvidenceSelector(WordEmbedder(), roles=PositionRoles())
    assert pick_quotes(with_roles, QUESTION, PAPER, 1).best.startswith("False negatives hurt")  # weight 0: off
    assert pick_quotes(with_roles, QUESTION, PAPER, 1, role_weight=1.0).best == "Our method reweights false negatives."
    both = pick_quotes(with_roles, QUESTION, PAPER, 2, role_weight=1.0)
    assert both.sentences == ["False negatives hurt contrastive learning of sentence embeddings.", "Our method reweights false negatives."]
    assert both.best_index == 1


def test_role_model_for_follows_the_settings() -> None:
    settings = Settings()
    settings.answer.role_weight = 0.0
    assert role_model_for(settings) is None
    settings.answer.role_weight = 0.2
    assert isinstance(role_model_for(settings), RoleModel)
    settings.index.sentence_model = "some/other-model"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert role_model_for(settings) is None
    assert any("role_weight is ignored" in str(w.message) and "some/other-model" in str(w.message) for w in caught)


def test_trainer_maps_section_labels_to_roles() -> None:
    from evals.train_roles import is_background

    assert is_background("BACKGROUND") and is_background("INTRODUCTION AND OBJECTIVES")
    assert not any(is_background(x) for x in ("METHODS", "RESULTS", "OBJECTIVE", "CONCLUSIONS"))


@pytest.mark.slow
def test_real_model_tells_background_from_own_work() -> None:
    from agent.index.embeddings import sentence_embedder_for

    sents = [
        "Contrastive learning of sentence embeddings is widely used, but sampled negatives often include false negatives.",
        "We propose an instance weighting method that down-weights likely false negatives.",
        "Experiments on seven benchmarks show gains of 1.2 points over strong baselines.",
    ]
    p = get_role_model().own_work(sentence_embedder_for(Settings()).embed(sents))
    assert p[0] < 0.5 < min(p[1], p[2])
