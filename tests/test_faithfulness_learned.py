"""The learned feature model of the checker (engine "learned"): its shipped weights load only when their
SHA-256 matches, a missing file is a clear error, and on small hand-checked pairs it keeps supported
claims and flags each kind of error with the right reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from agent.faithfulness.checker import FaithfulnessChecker
from agent.faithfulness.learned import FEATURES, MODEL_FILE, PACKAGED_DIR, LearnedModel, LearnedModelError, _tree_value
from agent.settings import Settings


def test_packaged_manifest_names_model_data_threshold_and_checksum() -> None:
    manifest = json.loads((PACKAGED_DIR / "manifest.json").read_text())
    assert manifest["name"] and manifest["version"].startswith("learned-")
    assert 0 < manifest["threshold"] < 1
    assert manifest["training_data"]["cases_per_source"] and manifest["features"] == list(FEATURES)
    assert set(manifest["sha256"]) == {MODEL_FILE}
    assert (PACKAGED_DIR / MODEL_FILE).stat().st_size < 5 * 2**20
    model = LearnedModel(PACKAGED_DIR)
    p = model.predict(np.zeros((2, len(FEATURES))))
    assert p.shape == (2,) and ((p >= 0) & (p <= 1)).all()


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(PACKAGED_DIR, copy)
    (copy / MODEL_FILE).unlink()
    with pytest.raises(LearnedModelError, match="missing.*model.json"):
        LearnedModel(copy)
    with pytest.raises(LearnedModelError, match="not found"):
        LearnedModel(tmp_path / "nowhere")


def test_corrupt_model_file_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(PACKAGED_DIR, copy)
    body = (copy / MODEL_FILE).read_text()
    (copy / MODEL_FILE).write_text(body.replace("0", "1", 1))
    with pytest.raises(LearnedModelError, match="corrupt"):
        LearnedModel(copy)


def test_tree_evaluation_follows_sklearn_layout() -> None:
    # root splits feature 1 at 0.5; left leaf -1, right leaf +2
    tree = {k: np.array(v) for k, v in {
        "left": [1, -1, -1], "right": [2, -1, -1], "feature": [1, 0, 0], "threshold": [0.5, 0, 0], "value": [0, -1.0, 2.0],
    }.items()}
    x = np.array([[9.0, 0.2], [9.0, 0.9]])
    assert _tree_value(tree, x).tolist() == [-1.0, 2.0]


EVIDENCE = (
    "We evaluate on 12 of 16 benchmark tasks. Our model reaches 91.2% top-1 accuracy on ImageNet, "
    "13x faster than the baseline. The method does not require labelled data."
)
CONTEXTS = {"p1": ("A fast image model", EVIDENCE)}


@pytest.fixture(scope="module")
def checker() -> FaithfulnessChecker:
    return FaithfulnessChecker(Settings().with_overrides(**{"faithfulness.engine": "learned"}))


def test_learned_engine_keeps_the_sentence_shape(checker: FaithfulnessChecker) -> None:
    result = checker.check(
        "Our model reaches 91.2% top-1 accuracy on ImageNet [p1]. Protein folding depends on contact order [p1].", CONTEXTS
    )
    assert len(result.sentences) == 2
    first, second = result.sentences
    assert first.supported and first.evidence is not None and "91.2%" in first.evidence.quote
    assert not second.supported and second.reason
    for s in result.sentences:
        assert s.score is not None and 0 <= s.score <= 1


@pytest.mark.parametrize(
    ("claim", "kind"),
    [
        ("The model reaches 95.0% top-1 accuracy on ImageNet [p1].", "number"),
        ("The model reaches 91.2% top-1 accuracy on CIFAR-100 [p1].", "name"),
        ("Protein folding depends on contact order [p1].", "does not say"),
    ],
)
def test_learned_engine_flags_each_kind(checker: FaithfulnessChecker, claim: str, kind: str) -> None:
    s = checker.check(claim, CONTEXTS).sentences[0]
    assert not s.supported and kind in s.reason


def test_uncited_paper_stays_deterministic(checker: FaithfulnessChecker) -> None:
    s = checker.check("Our model reaches 91.2% top-1 accuracy on ImageNet [p9].", CONTEXTS).sentences[0]
    assert not s.supported
