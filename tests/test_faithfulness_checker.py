"""The checker end to end, with a deterministic bag-of-words embedder (no model) and a fake judge."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from agent.faithfulness.checker import CheckerConfig, FaithfulnessChecker
from agent.faithfulness.text import content_stems

CONTEXTS = {
    "pA": (
        "Smoothie: Label Free Language Model Routing",
        "Large language models are used for many tasks. We propose Smoothie, a weak supervision-inspired "
        "routing approach that requires no labeled data. Smoothie outperforms baselines for routing by up to "
        "10 points accuracy. It identifies the optimal model on 9/14 tasks.",
    ),
    "pB": (
        "Multimodal Latent Language Modeling with Next-Token Diffusion",
        "We propose LatentLM, which integrates continuous and discrete data using causal Transformers. "
        "In text-to-speech synthesis, LatentLM outperforms VALL-E 2 in speaker similarity while requiring "
        "10x fewer decoding steps.",
    ),
    "pC": (
        "Sequential Contrastive Audio-Visual Learning",
        "We propose sequential contrastive audio-visual learning (SCAV), which contrasts non-aggregated "
        "representations. Experiments on VGGSound and Music show 2-3x relative improvements.",
    ),
}


def bow_embed(texts: list[str]) -> np.ndarray:
    """Hashed bag of stems, L2-normalized: similar wording -> high cosine."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for i, t in enumerate(texts):
        for s in content_stems(t):
            out[i, int(hashlib.md5(s.encode()).hexdigest(), 16) % 256] += 1.0
        n = np.linalg.norm(out[i])
        out[i] = out[i] / n if n else out[i]
    return out


@pytest.fixture()
def checker() -> FaithfulnessChecker:
    return FaithfulnessChecker(embed=bow_embed, config=CheckerConfig(engine="rules"))


FAITHFUL = (
    "Smoothie is a weak supervision-inspired routing approach that requires no labeled data [pA]. "
    "It outperforms routing baselines by up to 10 points accuracy [pA]. "
    "LatentLM outperforms VALL-E 2 in speaker similarity while requiring 10x fewer decoding steps [pB]."
)


def test_faithful_answer(checker: FaithfulnessChecker) -> None:
    result = checker.check(FAITHFUL, CONTEXTS)
    assert result.verdict.verdict == "faithful"
    assert all(s.supported for s in result.sentences)
    assert result.verdict.score == min(s.score for s in result.sentences)
    assert result.sentences[0].evidence is not None and result.sentences[0].evidence.id == "pA"
    assert result.sentences[2].citations == ["pB"]
    assert 0.0 <= result.verdict.score <= 1.0


def test_changed_number_flags_its_sentence(checker: FaithfulnessChecker) -> None:
    answer = FAITHFUL.replace("10 points", "25 points")
    result = checker.check(answer, CONTEXTS)
    assert result.verdict.verdict == "unfaithful"
    assert [s.supported for s in result.sentences] == [True, False, True]
    assert "number 25 points not in evidence; evidence says 10 points" in result.sentences[1].reason
    assert result.verdict.score == result.sentences[1].score < 0.5


def test_wrong_attribution(checker: FaithfulnessChecker) -> None:
    answer = "LatentLM outperforms VALL-E 2 in speaker similarity while requiring 10x fewer decoding steps [pC]."
    result = checker.check(answer, CONTEXTS)
    s = result.sentences[0]
    assert not s.supported
    assert "claim found in [pB], cited to [pC]" in s.reason
    assert s.evidence is not None and s.evidence.id == "pB"


def test_citation_to_paper_not_in_contexts(checker: FaithfulnessChecker) -> None:
    result = checker.check("Smoothie requires no labeled data [pZ].", CONTEXTS)
    assert result.verdict.verdict == "unfaithful"
    assert "[pZ], which is not among the retrieved papers" in result.sentences[0].reason


def test_brackets_inside_a_verbatim_quote_are_the_papers_text_not_citations(checker: FaithfulnessChecker) -> None:
    # biomedical abstracts write "rate ratio [RR]", ML ones "the [CLS] token": a quote of them cites nothing
    contexts = {"pR": ("Francophone mental health", "Francophones had lower rates of suicide (rate ratio [RR] = 0.59) than non-Francophones.")}
    answer = "“Francophones had lower rates of suicide (rate ratio [RR] = 0.59) than non-Francophones.” [pR]"
    result = checker.check(answer, contexts)
    assert result.sentences[0].citations == ["pR"] and "not among the retrieved papers" not in (result.sentences[0].reason or "")
    assert result.verdict.verdict == "faithful"


def test_uncited_factual_sentence_vs_meta_sentence(checker: FaithfulnessChecker) -> None:
    result = checker.check("SCAV shows 2-3x relative improvements on VGGSound.", CONTEXTS)
    assert not result.sentences[0].supported and "no citation" in result.sentences[0].reason
    result = checker.check(FAITHFUL + " The abstracts do not report training costs.", CONTEXTS)
    assert result.verdict.verdict == "faithful"


def test_negation_and_quantifier_errors(checker: FaithfulnessChecker) -> None:
    neg = checker.check("Smoothie is a weak supervision-inspired routing approach that requires labeled data [pA].", CONTEXTS)
    assert neg.verdict.verdict == "unfaithful" and "negation" in neg.sentences[0].reason
    quant = checker.check("Smoothie always outperforms all routing baselines by up to 10 points accuracy [pA].", CONTEXTS)
    assert quant.verdict.verdict == "unfaithful" and "quantifier" in quant.sentences[0].reason


def test_unsupported_entity(checker: FaithfulnessChecker) -> None:
    result = checker.check("SCAV shows 2-3x relative improvements on VGGSound and AudioSet [pC].", CONTEXTS)
    assert not result.sentences[0].supported and "'AudioSet'" in result.sentences[0].reason


def test_one_unsupported_claim_makes_the_sentence_and_answer_unsupported(checker: FaithfulnessChecker) -> None:
    answer = "Smoothie requires no labeled data [pA], while SCAV shows 7x relative improvements on VGGSound [pC]."
    result = checker.check(answer, CONTEXTS)
    assert len(result.claims) == 2
    assert [c.supported for c in result.claims] == [True, False]
    assert len(result.sentences) == 1 and not result.sentences[0].supported
    assert result.sentences[0].score == min(c.score for c in result.claims)


def test_unrelated_sentence_is_unsupported(checker: FaithfulnessChecker) -> None:
    result = checker.check("Bananas ripen faster when stored near apples [pA].", CONTEXTS)
    assert result.verdict.verdict == "unfaithful"
    assert "no cited evidence says this" in result.sentences[0].reason


def test_empty_answer_is_faithful(checker: FaithfulnessChecker) -> None:
    result = checker.check("", CONTEXTS)
    assert result.sentences == [] and result.verdict.verdict == "faithful" and result.verdict.score == 1.0


def test_thorough_mode_uses_the_judge_only_there() -> None:
    calls: list[str] = []

    def judge(claim: str, title: str, evidence: list[str]) -> bool:
        calls.append(claim)
        assert evidence and title
        return "10 points" not in claim  # rejects one claim

    checker = FaithfulnessChecker(embed=bow_embed, judge=judge, config=CheckerConfig(engine="rules"))
    fast = checker.check(FAITHFUL, CONTEXTS, mode="fast")
    assert fast.verdict.verdict == "faithful" and calls == [] and fast.verdict.mode == "fast"
    thorough = checker.check(FAITHFUL, CONTEXTS, mode="thorough")
    assert len(calls) == 3 and thorough.judge_calls == 3
    assert thorough.verdict.verdict == "unfaithful" and thorough.verdict.mode == "thorough"
    assert [s.supported for s in thorough.sentences] == [True, False, True]
    assert thorough.sentences[1].reason.startswith("judge: claim not supported")


def test_thorough_mode_without_judge_is_an_error() -> None:
    with pytest.raises(ValueError):
        FaithfulnessChecker(embed=bow_embed, config=CheckerConfig(engine="rules")).check(FAITHFUL, CONTEXTS, mode="thorough")
    with pytest.raises(ValueError):
        FaithfulnessChecker(embed=bow_embed, config=CheckerConfig(engine="rules")).check(FAITHFUL, CONTEXTS, mode="quick")


def test_threshold_comes_from_config() -> None:
    strict = FaithfulnessChecker(embed=bow_embed, config=CheckerConfig(engine="rules", support_threshold=0.99, align_high=2.0))
    assert strict.check(FAITHFUL, CONTEXTS).verdict.verdict == "unfaithful"


def test_settings_threshold_is_used() -> None:
    from agent.settings import Settings

    s = Settings().with_overrides(**{"faithfulness.support_threshold": 0.8})
    assert CheckerConfig.from_settings(s).support_threshold == 0.8


def test_tuned_thresholds_live_in_settings_with_descriptions() -> None:
    from agent.settings import FaithfulnessSettings, Settings

    fs = FaithfulnessSettings()
    for name, info in FaithfulnessSettings.model_fields.items():
        assert info.description, f"FaithfulnessSettings.{name} has no description"
    cfg = CheckerConfig(engine="rules")
    for name in ("align_low", "align_high", "similarity_weight", "attribution_margin", "uncited_min_score", "judge_max_base"):
        assert getattr(cfg, name) == getattr(fs, name)
    s = Settings().with_overrides(**{"faithfulness.attribution_margin": 0.3, "faithfulness.judge_top_k": 5})
    cfg = CheckerConfig.from_settings(s)
    assert cfg.attribution_margin == 0.3 and cfg.judge_top_k == 5
    assert s.faithfulness.judge_model == "local:qwen2.5-coder-1.5b"


def test_judge_no_overrules_only_claims_below_judge_max_base() -> None:
    def judge(claim: str, title: str, evidence: list[str]) -> bool:
        return False

    trusting = FaithfulnessChecker(embed=bow_embed, judge=judge, config=CheckerConfig(engine="rules", judge_max_base=0.0))
    result = trusting.check(FAITHFUL, CONTEXTS, mode="thorough")
    assert result.judge_calls == 3 and result.verdict.verdict == "faithful"
    strict = FaithfulnessChecker(embed=bow_embed, judge=judge, config=CheckerConfig(engine="rules", judge_max_base=1.0))
    assert strict.check(FAITHFUL, CONTEXTS, mode="thorough").verdict.verdict == "unfaithful"


def test_judge_reply_parsing() -> None:
    from agent.faithfulness.judge import parse_yes_no

    assert parse_yes_no("YES") is True and parse_yes_no(" Yes.") is True
    assert parse_yes_no("NO") is False and parse_yes_no("Not supported") is False
    assert parse_yes_no("maybe") is None and parse_yes_no("") is None


def test_list_item_naming_its_cited_paper_is_supported_but_a_wrong_title_is_not():
    from agent.faithfulness import check_answer

    ctx = {
        "p1": ("Non-negative Contrastive Learning", "We propose Non-negative Contrastive Learning (NCL), deriving interpretable features."),
        "p2": ("Conditional Contrastive Learning with Kernel", "We propose a kernel-based conditional contrastive objective."),
    }
    ok = check_answer("- [p1] Non-negative Contrastive Learning\n- [p2] Conditional Contrastive Learning with Kernel", ctx)
    assert ok.verdict.verdict == "faithful" and all(s.supported for s in ok.sentences)
    wrong = check_answer("- [p1] Conditional Contrastive Learning with Kernel", ctx)
    assert wrong.verdict.verdict == "unfaithful"


def test_judge_probability_threshold_and_rescue() -> None:
    """P(YES) under judge_threshold flags a supported claim; over judge_rescue_min it accepts a weakly aligned one,
    but never one with a deterministic issue (here: a number no abstract states)."""
    weak = "Smoothie routes between several models and picks among them on its own [pA]."
    wrong_number = "Smoothie outperforms baselines for routing by up to 12 points accuracy [pA]."
    answer = f"{FAITHFUL} {weak} {wrong_number}"
    probs = {"picks among them": 0.95, "12 points": 0.99}

    def judge(claim: str, title: str, evidence: list[str]) -> float:
        return next((p for key, p in probs.items() if key in claim), 0.4)

    lenient = CheckerConfig(engine="rules", judge_threshold=0.3, judge_rescue_min=0.9, align_low=0.6)
    fast = FaithfulnessChecker(embed=bow_embed, judge=judge, config=lenient).check(answer, CONTEXTS, mode="fast")
    assert [s.supported for s in fast.sentences][-2:] == [False, False]  # the weak claim needs the judge
    result = FaithfulnessChecker(embed=bow_embed, judge=judge, config=lenient).check(answer, CONTEXTS, mode="thorough")
    assert [s.supported for s in result.sentences] == [True, True, True, True, False]
    assert result.sentences[3].reason.startswith("judge: supported") and "0.95" in result.sentences[3].reason
    assert "12" in result.sentences[4].reason
    assert [c.judge for c in result.claims][:3] == [0.4, 0.4, 0.4]

    strict = CheckerConfig(engine="rules", judge_threshold=0.5, judge_rescue_min=1.01, align_low=0.6)
    result = FaithfulnessChecker(embed=bow_embed, judge=judge, config=strict).check(answer, CONTEXTS, mode="thorough")
    assert [s.supported for s in result.sentences] == [False, False, False, False, False]
    assert "P(yes) 0.40" in result.sentences[0].reason
    assert result.judge_calls == 3  # not asked about flagged claims when rescue is off


def test_yes_probability() -> None:
    import math

    from agent.faithfulness.judge import yes_probability

    assert yes_probability({"YES": math.log(0.3), "NO": math.log(0.1)}) == pytest.approx(0.75)
    assert yes_probability({"YES": float("-inf"), "NO": -2.0}) == 0.0
    assert yes_probability({"YES": float("-inf"), "NO": float("-inf")}) is None


def _tune_judge_module():  # noqa: ANN202 - a module loaded from evals/
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "evals" / "tune_judge.py"
    spec = importlib.util.spec_from_file_location("tune_judge", path)
    tune = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(tune)
    return tune


def test_tune_judge_replays_the_checkers_judge_rule() -> None:
    """evals/tune_judge.py chooses thresholds by replaying the judge rule on recorded claims; it must be the same rule."""
    import itertools

    tune = _tune_judge_module()

    weak = "Smoothie routes between several models and picks among them on its own [pA]."
    answer = f"{FAITHFUL} {weak} Smoothie outperforms baselines for routing by up to 12 points accuracy [pA]."
    probs = {"picks among": 0.93, "12 points": 0.99, "10 points": 0.08, "LatentLM": 0.35}

    def judge(claim: str, title: str, evidence: list[str]) -> float:
        return next((p for key, p in probs.items() if key in claim), 0.6)

    base = {"align_low": 0.6}
    fast = FaithfulnessChecker(embed=bow_embed, config=CheckerConfig(engine="rules", **base)).check(answer, CONTEXTS)
    records = [{"supported": c.supported, "base": c.base_score, "issues": [i.kind for i in c.issues]} for c in fast.claims]
    kinds = [("alignment",), ("alignment", "quantifier"), ("negation",)]
    for (t, r, b), k in itertools.product([(0.1, 0.9, 1.0), (0.4, 0.95, 1.0), (0.5, 1.01, 1.0), (0.4, 0.9, 0.5), (0.0, 0.5, 1.0)], kinds):
        cfg = CheckerConfig(engine="rules", judge_threshold=t, judge_rescue_min=r, judge_max_base=b, judge_rescue_kinds=k, **base)
        thorough = FaithfulnessChecker(embed=bow_embed, judge=judge, config=cfg).check(answer, CONTEXTS, mode="thorough")
        asked = {c.claim.text: c.judge for c in thorough.claims}
        replayed = [tune.claim_supported(rec, asked[c.claim.text], cfg) for rec, c in zip(records, fast.claims)]
        assert replayed == [c.supported for c in thorough.claims], (t, r, b, k)


def test_tune_judge_groups_cases_by_set_and_reads_replay_configurations() -> None:
    """Shared sources share a prefix ("scifact-3", "scifact-abstract-3"): each must be its own set in the replay."""
    import argparse

    tune = _tune_judge_module()

    assert [tune.set_of(c) for c in ("scifact-3", "scifact-abstract-12", "fh001", "fd017")] == [
        "scifact", "scifact-abstract", "fh", "fd",
    ]
    assert tune.parse_config("0.2,0.7,alignment+negation") == (0.2, 0.7, 1.0, ("alignment", "negation"))
    assert tune.parse_config("0.1,1.01") == (0.1, 1.01, 1.0, ("alignment",))
    assert tune.parse_config("0.1,0.9,quantifier,0.8") == (0.1, 0.9, 0.8, ("quantifier",))
    with pytest.raises(argparse.ArgumentTypeError):
        tune.parse_config("0.3")


def test_tune_judge_stack_learns_from_answer_labels() -> None:
    """--stack fits P(claim supported) from answer labels (noisy AND): an answer whose one judged claim the
    judge doubts is the unfaithful one; claims flagged outside the judge's reach decide their answer alone."""
    import random

    tune = _tune_judge_module()
    rng = random.Random(0)
    cases = []
    for i in range(120):
        faithful = i % 2 == 0
        doubted = rng.uniform(0.01, 0.2)
        claims = [{"supported": True, "base": 0.9, "issues": []} for _ in range(1 + i % 3)]
        probs = [rng.uniform(0.6, 0.99) for _ in claims]
        if not faithful:
            probs[-1] = doubted
        cases.append(("faithful" if faithful else "unfaithful", claims, probs))
    w = tune.fit_stack(cases)
    assert w[1] > 0  # the judge's logit raises P(supported)
    assert tune.stack_accuracy(cases, w, 0.5) == 1.0
    hard = [{"supported": False, "base": 0.2, "issues": ["number"]}]
    assert tune.stack_accuracy([("unfaithful", hard, [None]), ("faithful", *cases[0][1:])], w, 0.5) == 1.0


def test_judge_inputs_are_what_thorough_mode_asks_the_judge() -> None:
    """Experiments (evals/train_probe.py) build the judge's prompt with judge_inputs; it must match check()."""
    asked: list[tuple[str, str, list[str]]] = []

    def judge(claim: str, title: str, evidence: list[str]) -> float:
        asked.append((claim, title, list(evidence)))
        return 0.9

    cfg = CheckerConfig(engine="rules", align_low=0.0)
    checker = FaithfulnessChecker(embed=bow_embed, judge=judge, config=cfg)
    result = checker.check(FAITHFUL, CONTEXTS, mode="thorough")
    assert asked and len(asked) == result.judge_calls
    judged = [c.claim for c in result.claims if c.judge is not None]
    assert [checker.judge_inputs(c, CONTEXTS) for c in judged] == asked


QUOTED = {
    "pD": (
        "Improving Contrastive Learning of Sentence Embeddings from AI Feedback",
        "Although supervised contrastive learning can produce accurate sample pairs with human feedback labels, it "
        "still lacks fine-grained training signals. Our method utilizes AI feedback from large language models to "
        "construct sample pairs with fine-grained sample similarity scores.",
    )
}
VERBATIM = "“Our method utilizes AI feedback from large language models to construct sample pairs with fine-grained sample similarity scores.” [pD]"


@pytest.mark.parametrize("engine", ["rules", "learned", "verifier"])
def test_a_verbatim_quote_of_the_cited_paper_is_supported(engine: str) -> None:
    """The quote-built answers quote abstracts word for word; the negation check used to compare such a quote with
    its neighbour ("... still lacks fine-grained ...") and withhold it. A quotation of the cited paper is supported
    by it, in every engine, and the thorough judge is not asked about it."""
    calls: list[str] = []

    def judge(claim: str, title: str, evidence: list[str]) -> bool:
        calls.append(claim)
        return False

    checker = FaithfulnessChecker(embed=bow_embed, judge=judge, config=CheckerConfig(engine=engine))
    for answer in (VERBATIM, "AI Feedback: " + VERBATIM, "- Improving Contrastive Learning …: " + VERBATIM):
        result = checker.check(answer, QUOTED, mode="thorough")
        assert result.verdict.verdict == "faithful", (engine, answer, result.sentences[0].reason)
        assert result.sentences[0].reason == "supported (quoted word for word from [pD])"
    assert calls == []


def test_a_quotation_is_only_verbatim_when_every_word_is_the_papers(checker: FaithfulnessChecker) -> None:
    changed = VERBATIM.replace("AI feedback", "no feedback")
    assert "quoted word for word" not in checker.check(changed, QUOTED).sentences[0].reason
    # A name before the quotation may not add a claim of its own.
    prefixed = checker.check("Its approach fails badly: " + VERBATIM, QUOTED)
    assert "quoted word for word" not in prefixed.sentences[0].reason
    # Quoting another paper than the one cited is not verbatim either.
    cited_elsewhere = checker.check(VERBATIM.replace("[pD]", "[pA]"), {**QUOTED, **CONTEXTS})
    assert not cited_elsewhere.sentences[0].supported
