"""The learned engine of the checker (``faithfulness.engine = "learned"``): a small feature-based model.

Instead of trusting one signal (the rule thresholds, or the v1 cross-encoder
on its own), a claim is described by the signals the checker already has —
MiniLM similarity with the best cited / other sentence, word coverage, the
rule checks that fired (number, name, attribution, negation, quantifier,
alignment), the v1 cross-encoder's P(support) for the best sentences, lengths
— and a model trained on real labelled pairs (SciFact, Citation-Integrity,
HealthVer, COVID-Fact, AttributionBench, WiCE, the team's dev answers) plus
synthetic perturbations maps them to P(support). ``evals/train_learned.py``
trains it and writes ``agent/models/learned/`` (manifest.json with name,
training data, threshold and SHA-256; model.json with the weights: gradient
boosted trees or a logistic regression, evaluated here with numpy alone).

Deterministic checks keep their caps only where they are truly deterministic:
a number or a name absent from the cited evidence, a citation to a paper that
was not retrieved. The soft rule checks (negation, quantifier, similarity)
are features and, when the model rejects a claim, name the kind of problem.
"""

from __future__ import annotations

import functools
import json
import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.checksums import first_bad_file
from agent.faithfulness import checks
from agent.faithfulness.align import Alignment, Unit
from agent.faithfulness.claims import Claim
from agent.faithfulness.issues import short
from agent.faithfulness.negation import negation_count
from agent.faithfulness.text import content_stems, names, numbers
from agent.ingest.normalize import title_key

if TYPE_CHECKING:
    from agent.faithfulness.checker import CheckerConfig, ClaimCheck, Contexts
    from agent.faithfulness.verifier import Verifier
    from agent.settings import Settings

PACKAGED_DIR = Path(__file__).resolve().parent.parent / "models" / "learned"
MODEL_FILE = "model.json"

#: Issue kinds of the rule checker used as features (1.0 = the check fired).
RULE_KINDS = ("number", "entity", "attribution", "negation", "quantifier", "alignment")
#: Hard issues: deterministic, they keep their cap whatever the model says.
HARD_KINDS = ("number", "entity", "uncited_paper", "no_citation")

FEATURES = (
    "rules_base", "rules_score", "cited_sim", "other_minus_cited", "coverage", "best_coverage",
    *(f"rule_{k}" for k in RULE_KINDS),
    "v1_best", "v1_top1", "v1_joined", "v1_other", "v1_mean",
    "claim_words", "evidence_words", "claim_numbers", "claim_names", "neg_diff",
    "missing_words", "bigram_cov_best", "bigram_cov_all", "claim_strong_words", "evidence_strong_words",
    "claim_negations", "best_negations",
)

_STRONG = re.compile(r"\b(all|every|only|always|never|none|no|cause[sd]?|prove[sd]?|must|entirely|completely|solely|"
                     r"significantly|strongly|not)\b", re.I)


def _bigrams(stems: list[str]) -> set[tuple[str, str]]:
    return set(zip(stems, stems[1:]))


def _text_features(text: str, best_text: str, cited_text: str) -> list[float]:
    """Word-level features: content words missing, bigram coverage, strong words (quantifiers, causes, negation)."""
    cs, es = content_stems(text), set(content_stems(cited_text))
    missing = len({w for w in cs if w not in es})
    cb = _bigrams(cs)
    bb = _bigrams(content_stems(best_text)) if best_text else set()
    ab = _bigrams(content_stems(cited_text))
    return [
        float(missing),
        len(cb & bb) / len(cb) if cb else 1.0,
        len(cb & ab) / len(cb) if cb else 1.0,
        float(len(_STRONG.findall(text))),
        float(len(_STRONG.findall(best_text))),
        float(negation_count(text)),
        float(negation_count(best_text)) if best_text else 0.0,
    ]


class LearnedModelError(RuntimeError):
    """The learned verifier's files are missing, corrupt or unreadable."""


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


class LearnedModel:
    """P(support) from a feature vector: boosted trees or a logistic regression stored as JSON."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        manifest = self.directory / "manifest.json"
        if not manifest.is_file():
            raise LearnedModelError(
                f"learned verifier not found: {manifest} is missing. Reinstall citewise, set "
                "CITEWISE_FAITHFULNESS__LEARNED_PATH to a directory made by evals/train_learned.py, "
                "or use CITEWISE_FAITHFULNESS__ENGINE=rules"
            )
        try:
            self.manifest: dict[str, Any] = json.loads(manifest.read_text(encoding="utf-8"))
            expected = self.manifest["sha256"][MODEL_FILE]
        except (ValueError, KeyError, TypeError) as exc:
            raise LearnedModelError(f"learned verifier manifest {manifest} is unreadable: {exc}") from exc
        path = self.directory / MODEL_FILE
        bad = first_bad_file(self.directory, {MODEL_FILE: expected})
        if bad is not None and bad[1] is None:
            raise LearnedModelError(f"learned verifier file missing: {path}; reinstall citewise or retrain with evals/train_learned.py")
        if bad is not None:
            raise LearnedModelError(
                f"learned verifier file {path} is corrupt: SHA-256 {bad[1]} does not match the manifest's {expected}; reinstall citewise"
            )
        raw = json.loads(path.read_text(encoding="utf-8"))
        if list(raw["features"]) != list(FEATURES):
            raise LearnedModelError(f"learned verifier {path} was trained on other features; retrain with evals/train_learned.py")
        self.kind = raw["kind"]
        self.threshold = float(self.manifest["threshold"])
        self.name = f"{self.manifest['name']} {self.manifest['version']}"
        if self.kind == "logistic":
            self.mean = np.array(raw["mean"], dtype=np.float64)
            self.scale = np.array(raw["scale"], dtype=np.float64)
            self.coef = np.array(raw["coef"], dtype=np.float64)
            self.intercept = float(raw["intercept"])
        elif self.kind == "trees":
            self.init = float(raw["init"])
            self.rate = float(raw["learning_rate"])
            self.trees = [{k: np.array(v) for k, v in t.items()} for t in raw["trees"]]
        else:
            raise LearnedModelError(f"learned verifier {path}: unknown model kind {self.kind!r}")

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(support) for each row of ``x`` (n, len(FEATURES))."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if self.kind == "logistic":
            z = ((x - self.mean) / self.scale) @ self.coef + self.intercept
        else:
            z = np.full(len(x), self.init)
            for t in self.trees:
                z += self.rate * _tree_value(t, x)
        return 1.0 / (1.0 + np.exp(-z))


def _tree_value(t: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """Leaf values of a sklearn-style regression tree (left/right/feature/threshold/value arrays) for rows of ``x``."""
    node = np.zeros(len(x), dtype=np.int64)
    left, right, feat, thr = t["left"], t["right"], t["feature"], t["threshold"]
    for _ in range(64):
        inner = left[node] >= 0
        if not inner.any():
            break
        rows = np.where(inner)[0]
        n = node[rows]
        go_left = x[rows, feat[n]] <= thr[n]
        node[rows] = np.where(go_left, left[n], right[n])
    return t["value"][node]


@functools.lru_cache(maxsize=2)
def get_learned_model(directory: str | None = None) -> LearnedModel:
    """One shared model per directory in a process (``None`` = the packaged one)."""
    return LearnedModel(Path(directory) if directory else PACKAGED_DIR)


def claim_features(
    rules: ClaimCheck, al: Alignment, v1: list[float], v1_other: float | None, cited_text: str
) -> list[float]:
    """The feature vector of one claim (order: :data:`FEATURES`).

    ``rules`` is the rule checker's full check of the claim, ``v1`` the v1
    cross-encoder's P(support) for each window read (best single sentence
    first, joined window last when there is one), ``v1_other`` for the best
    sentence of another retrieved paper.
    """
    text = rules.claim.text
    kinds = {i.kind for i in rules.issues}
    best = al.best_body_sentence or al.best_sentence
    best_text = best.text if best is not None else ""
    other_minus = (al.other_score - al.cited_score) if al.other_unit is not None else -1.0
    joined = v1[-1] if len(v1) > 1 else (v1[0] if v1 else 0.0)
    return [
        rules.base_score,
        rules.score,
        al.cited_score,
        other_minus,
        rules.coverage,
        checks.coverage(text, best_text) if best_text else 0.0,
        *(1.0 if k in kinds else 0.0 for k in RULE_KINDS),
        _logit(max(v1)) if v1 else -9.0,
        _logit(v1[0]) if v1 else -9.0,
        _logit(joined) if v1 else -9.0,
        _logit(v1_other) if v1_other is not None else -9.0,
        float(np.mean(v1)) if v1 else 0.0,
        math.log1p(len(text.split())),
        math.log1p(len(cited_text.split())),
        float(len(numbers(text))),
        float(len(names(text))),
        float(negation_count(text) - negation_count(best_text)) if best_text else 0.0,
        *_text_features(text, best_text, cited_text),
    ]


class LearnedEngine:
    """Claim checks by the learned feature model; see the module docstring. Mixed into the checker."""

    config: CheckerConfig
    settings: Settings | None
    _learned: LearnedModel | None

    @property
    def learned(self) -> LearnedModel:
        """The learned model, loaded (and checksum-verified) on first use."""
        if self._learned is None:
            path = self.settings.faithfulness.learned_path if self.settings is not None else None
            self._learned = get_learned_model(str(path) if path else None)
        return self._learned

    @property
    def learned_threshold(self) -> float:
        t = self.config.learned_threshold
        return self.learned.threshold if t is None else t

    def _learned_claims(
        self, claims: list[Claim], alignments: list[Alignment], everything: Contexts, texts: dict[str, str]
    ) -> list[ClaimCheck]:
        """Engine "learned": the rule check of each claim, then the model decides (hard checks keep their caps)."""
        rows, pending, results = self._claim_rows(claims, alignments, everything, texts)
        if pending:
            probs = self.learned.predict(np.array(rows))
            for (cc, al, other), p in zip(pending, probs.tolist()):
                self._decide(cc, p, al, other)
        return results

    def _claim_rows(
        self, claims: list[Claim], alignments: list[Alignment], everything: Contexts, texts: dict[str, str]
    ) -> tuple[list[list[float]], list[tuple[ClaimCheck, Alignment, Unit | None]], list[ClaimCheck]]:
        """Rule checks of every claim and the feature rows of those the model decides (cited, known, not a title)."""
        verifier: Verifier = self.verifier  # type: ignore[attr-defined]
        results: list[ClaimCheck] = []
        todo: list[tuple[ClaimCheck, Alignment, list[Unit], Unit | None, str]] = []
        for claim, al in zip(claims, alignments):
            cc = self._check_claim(claim, al, everything, texts)  # type: ignore[attr-defined]
            results.append(cc)
            known = [c for c in claim.citations if c in everything]
            if not claim.citations or not known or any(i.kind == "uncited_paper" for i in cc.issues) or (
                title_key(claim.text.lstrip("-*• ")) in {title_key(everything[c][0]) for c in known}
            ):
                continue
            windows = self._windows(al)  # type: ignore[attr-defined]
            other = al.other_unit if al.other_unit is not None and al.other_unit.kind != "title" else None
            todo.append((cc, al, windows, other, " ".join(texts[c] for c in known)))
        pairs = [(u.text, cc.claim.text) for cc, _, ws, other, _ in todo for u in ws + ([other] if other else [])]
        probs = iter(verifier.score(pairs).tolist()) if pairs else iter(())
        rows, pending = [], []
        for cc, al, windows, other, cited_text in todo:
            v1 = [next(probs) for _ in windows]
            v1_other = next(probs) if other else None
            rows.append(claim_features(cc, al, v1, v1_other, cited_text))
            pending.append((cc, al, other))
        return rows, pending, results

    def _decide(self, cc: ClaimCheck, p: float, al: Alignment, other: Unit | None) -> None:
        t, st = self.learned_threshold, self.config.support_threshold
        cc.verifier = p
        cc.base_score = st * p / max(t, 1e-6) if p < t else st + (1 - st) * (p - t) / max(1 - t, 1e-6)
        hard = [i for i in cc.issues if i.kind in HARD_KINDS or (i.kind == "attribution" and "is not in the cited paper" in i.reason)]
        soft = [i for i in cc.issues if i not in hard]
        cc.issues = hard
        if p < t and not hard:
            cc.issues.append(self._learned_reason(cc, p, soft, al))
        cc.score = min([cc.base_score] + [i.cap for i in cc.issues])
        cc.supported = cc.score >= st

    def _learned_reason(self, cc: ClaimCheck, p: float, soft: list[checks.Issue], al: Alignment) -> checks.Issue:
        """Why the model rejected a claim: the first rule check that fired names the kind, else 'unsupported'."""
        for kind in ("attribution", "negation", "quantifier"):
            for i in soft:
                if i.kind == kind:
                    return checks.Issue(i.kind, f"{i.reason} (verifier P {p:.2f})", cc.base_score, i.paper_id)
        body = al.best_body_sentence
        quote = f": closest is {short(body.text)!r}" if body is not None else ""
        return checks.Issue("unsupported", f"the cited abstract does not say this (verifier P {p:.2f}){quote}", cc.base_score)

    def _learned_unsure(self, cc: ClaimCheck) -> bool:
        """Thorough mode asks the judge only where the model is near its threshold and no hard check fired."""
        return (
            cc.verifier is not None
            and abs(cc.verifier - self.learned_threshold) <= self.config.judge_band
            and not any(i.kind in HARD_KINDS or i.kind == "attribution" for i in cc.issues)
        )

    def _apply_learned_judge(self, cc: ClaimCheck, p_yes: float | bool | None) -> None:
        """Average the judge's P(YES) with the model's P(support) and decide again at the model's threshold."""
        if p_yes is None or cc.verifier is None:
            return
        cc.judge = float(p_yes)
        p = (cc.verifier + cc.judge) / 2
        t, st = self.learned_threshold, self.config.support_threshold
        cc.base_score = st * p / max(t, 1e-6) if p < t else st + (1 - st) * (p - t) / max(1 - t, 1e-6)
        cc.issues = [i for i in cc.issues if i.kind not in ("unsupported", "negation", "quantifier")]
        if p < t:
            cc.issues.append(checks.Issue("judge", f"judge and verifier: not supported (P(yes) {cc.judge:.2f}, verifier {cc.verifier:.2f})", cc.base_score))
        cc.score = min([cc.base_score] + [i.cap for i in cc.issues])
        cc.supported = cc.score >= st
