"""The list/summary screening model (agent/chain/screening.py): loading with its checksum, and the decision
it makes inside the composer (P(YES) and search rank together, not P(YES) alone)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from support import BagOfWordsEmbedder as WordEmbedder
from test_chain_quotes import PAPERS, ScriptedLLM, _run

from agent.chain.compose import Composer
from agent.chain.evidence import EvidenceSelector
from agent.chain.quotes import QuoteSteps
from agent.chain.screening import MODEL_DIR, ScreeningModel, ScreeningModelError, get_screening_model
from agent.prompts import load_prompt
from agent.settings import AnswerSettings


def _model_dir(tmp_path: Path, coef: list[float], intercept: float, threshold: float) -> Path:
    d = tmp_path / "screening"
    d.mkdir()
    body = json.dumps({"features": ["logit_p_yes", "log_rank"], "coef": coef, "intercept": intercept})
    (d / "model.json").write_text(body)
    manifest = {"version": "screening-test", "threshold": threshold, "sha256": {"model.json": hashlib.sha256(body.encode()).hexdigest()}}
    (d / "manifest.json").write_text(json.dumps(manifest))
    return d


def test_packaged_model_loads_and_prefers_confident_high_ranked_candidates() -> None:
    m = get_screening_model()
    assert m.version == "screening-v1" and 0 < m.threshold < 1
    assert m.probability(0.9, 1) > m.probability(0.6, 1) > m.probability(0.3, 1)
    assert m.probability(0.6, 1) > m.probability(0.6, 5) > m.probability(0.6, 12)
    manifest = json.loads((MODEL_DIR / "manifest.json").read_text())
    assert manifest["fitted_on"]["model"] == "local:qwen2.5-coder-1.5b" and manifest["trainer"] == "evals/tune_screening.py --fit"
    # It was fitted on P(YES) of what the default answer path reads: changing those defaults needs a refit.
    from agent.prompts import load_prompt
    from agent.settings import AnswerSettings, LLMSettings

    cfg, fitted = AnswerSettings(), manifest["fitted_on"]
    assert (fitted["quotes_per_paper"], fitted["role_weight"]) == (cfg.quotes_per_paper, cfg.role_weight)
    assert fitted["prompt_version"] == load_prompt("quotes").version and fitted["model"] == LLMSettings().model


def test_corrupt_or_missing_model_files_are_refused_with_the_file_named(tmp_path: Path) -> None:
    d = tmp_path / "copy"
    shutil.copytree(MODEL_DIR, d)
    (d / "model.json").write_text((d / "model.json").read_text().replace("2", "3", 1))
    with pytest.raises(ScreeningModelError, match=r"model\.json does not match its SHA-256"):
        ScreeningModel(d)
    (d / "model.json").unlink()
    with pytest.raises(ScreeningModelError, match=r"model\.json is missing"):
        ScreeningModel(d)
    (d / "manifest.json").unlink()
    with pytest.raises(ScreeningModelError, match="manifest"):
        ScreeningModel(d)


def test_wrong_features_are_refused(tmp_path: Path) -> None:
    d = _model_dir(tmp_path, [1.0], 0.0, 0.5)
    with pytest.raises(ScreeningModelError, match="not a screening model"):
        ScreeningModel(d)


def test_composer_includes_by_the_model_probability_of_p_yes_and_rank(tmp_path: Path) -> None:
    # z = logit(P(YES)) - 2 log(rank): at rank 1 P(YES) 0.5 gives 0.5; at rank 4 P(YES) 0.8 gives 0.2
    d = _model_dir(tmp_path, [1.0, -2.0], 0.0, 0.4)
    llm = ScriptedLLM(
        {"Alpha: Debiased Negatives": 0.5, "Beta Graphs for Recommendation": 0.01, "Gamma Clusters": 0.01, "Delta Audio": 0.8},
        {("write_list", "Alpha: Debiased Negatives"): "The paper punishes false negatives with instance weights."},
    )
    composer = Composer(
        QuoteSteps(llm, load_prompt("quotes"), lambda s, p: True),
        EvidenceSelector(WordEmbedder()),
        AnswerSettings(screening_path=d, near_miss_p=0.1, screen_threshold=0.55, list_fill_quotes=False, list_write=True),
    )
    _, out = _run(composer, "Which papers address false negatives?", "list")
    decided = {s.id: (s.included, s.p) for s in out.screened}
    assert decided["pA"] == (True, 0.5)  # P(YES) alone (0.5 < 0.55) would have left it out
    assert decided["pD"] == (False, 0.2)  # ... and taken this one in (0.8 >= 0.55)
    assert out.text.splitlines() == ["- Alpha punishes false negatives with instance weights. [pA]"]
    assert "Delta Audio (pD): judged not to address the question (p 0.20)" in out.notes
    # the previous rule is one setting away
    composer.cfg = AnswerSettings(screen_by="p_yes", screen_threshold=0.55)
    _, old = _run(composer, "Which papers address false negatives?", "list")
    assert {s.id: s.included for s in old.screened} == {"pA": False, "pB": False, "pC": False, "pD": True}


def test_fit_writes_a_model_the_loader_accepts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """evals/tune_screening.py --fit on labelled candidates: tuning-part questions only, a checked model out."""
    import random

    from evals.splits import is_heldout
    from evals.tune_screening import FIT_THRESHOLDS, fit

    rng = random.Random(0)
    qids = [f"t{i:03d}" for i in range(200) if not is_heldout("questions", f"t{i:03d}")][:8]
    held = next(f"h{i:03d}" for i in range(200) if is_heldout("questions", f"h{i:03d}"))
    rows = []
    for q in [*qids, held]:
        for rank in range(1, 13):
            gold = rank <= 3 or rng.random() < 0.1
            p = min(max(rng.gauss(0.75 if gold else 0.35, 0.15), 0.01), 0.99)
            rows.append({"qid": q, "type": "list", "kind": "list", "id": f"{q}-{rank}", "rank": rank, "p": p, "label": int(gold)})
    out = tmp_path / "screening"
    fit(rows, out, "synthetic.jsonl", "fake", "quotes-test")
    model = ScreeningModel(out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert model.threshold in FIT_THRESHOLDS and manifest["fitted_on"]["questions_used"] == len(qids)
    assert manifest["fitted_on"]["candidates"] == 12 * len(qids)  # the held-out question is not fitted on
    assert model.probability(0.8, 1) > model.probability(0.4, 1) and model.probability(0.6, 1) > model.probability(0.6, 10)
    assert "held-out (12)" in capsys.readouterr().out
