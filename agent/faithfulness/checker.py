"""Per-sentence faithfulness of a cited answer, and the answer's verdict.

Pipeline for one answer:

1. split into sentences (:func:`agent.sentences.cited_sentences`) and each
   sentence into atomic claims (:mod:`agent.faithfulness.claims`);
2. align every claim with the evidence units of the retrieved papers
   (:mod:`agent.faithfulness.align`, MiniLM) and compute word coverage;
3. a base score in [0, 1] from similarity and coverage with the cited papers;
4. deterministic checks (:mod:`agent.faithfulness.checks`); each issue caps
   the claim's score (e.g. a wrong number caps it at ``cap_number``);
5. thorough mode only: the local LLM judges each claim that is still
   supported (and each one flagged only by the softer checks in
   ``judge_rescue_kinds``), with its best evidence sentences; P(YES) below
   ``judge_threshold`` caps the score, at or above ``judge_rescue_min`` it
   accepts the flagged claim.

A sentence's score is its lowest claim score; it is supported when that is
at least ``support_threshold``. The answer's score is the MINIMUM sentence
score, so that "one unsupported sentence makes the answer unfaithful" and
"score below the threshold" always agree.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np

from agent.faithfulness import checks
from agent.faithfulness.align import Alignment, EmbeddingCache, EvidenceIndex, Unit
from agent.faithfulness.claims import Claim, split_claims
from agent.faithfulness.verified import VerifierEngine
from agent.faithfulness.verifier import Verifier
from agent.faithfulness.learned import LearnedEngine, LearnedModel
from agent.ingest.normalize import title_key
from agent.sentences import cited_sentences, strip_markers
from agent.settings import FaithfulnessSettings
from agent.types import Evidence, FaithfulnessVerdict, SentenceResult

if TYPE_CHECKING:
    from agent.settings import Settings

#: Contexts: paper id -> (title, abstract).
Contexts = Mapping[str, tuple[str, str]]
#: (claim, paper title, evidence sentences) -> P(the evidence supports the claim); a bool counts as 1/0.
Judge = Callable[[str, str, list[str]], "float | bool | None"]


_FS = FaithfulnessSettings()


@dataclass
class CheckerConfig:
    """Every threshold of the checker, in one place.

    The tuned ones are :class:`~agent.settings.FaithfulnessSettings` fields
    (their defaults are taken from there; :meth:`from_settings` copies a
    settings object's values). The caps stay module constants: each only has
    to sit below ``support_threshold`` (an issue makes its claim unsupported)
    and they order how bad issues are.
    """

    support_threshold: float = _FS.support_threshold
    # Base score: weighted similarity/coverage mapped linearly from [align_low, align_high] to [0, 1].
    align_low: float = _FS.align_low
    align_high: float = _FS.align_high
    similarity_weight: float = _FS.similarity_weight
    # Caps applied by issues (a claim's score is at most the cap of any of its issues).
    cap_number: float = 0.1
    cap_entity: float = 0.2
    cap_attribution: float = 0.1
    cap_uncited_paper: float = 0.05
    cap_no_citation: float = 0.2
    cap_negation: float = 0.25
    cap_quantifier: float = 0.3
    cap_judge_no: float = 0.3
    # Attribution by similarity: another paper beats the cited one by this margin.
    attribution_margin: float = _FS.attribution_margin
    attribution_min_score: float = _FS.attribution_min_score
    # An uncited sentence this similar to a retrieved paper states that paper's content.
    uncited_min_score: float = _FS.uncited_min_score
    # Weight of word overlap (vs. MiniLM similarity) when ranking evidence sentences.
    lexical_weight: float = _FS.lexical_weight
    # Abstract sentences (best-aligned first) that must license a universal quantifier, and whose negations a claim must keep.
    near_sentences: int = 3
    # Judge: evidence sentences shown per claim.
    judge_top_k: int = _FS.judge_top_k
    # Judge: a NO overrules only claims whose base score is at most this.
    judge_max_base: float = _FS.judge_max_base
    # Judge: P(YES) below this is a NO; at or above judge_rescue_min it accepts a weakly aligned claim.
    judge_threshold: float = _FS.judge_threshold
    judge_rescue_min: float = _FS.judge_rescue_min
    judge_rescue_kinds: tuple[str, ...] = tuple(_FS.judge_rescue_kinds)
    # Also align with windows of two adjacent sentences (slower; no gain on the dev set).
    windows: bool = False
    # The learned verifier (engine "verifier"): threshold None = the model manifest's.
    engine: str = _FS.engine
    verifier_threshold: float | None = _FS.verifier_threshold
    verifier_windows: int = _FS.verifier_windows
    # The learned feature model (engine "learned"): threshold None = the model manifest's.
    learned_threshold: float | None = _FS.learned_threshold
    judge_band: float = _FS.judge_band

    @classmethod
    def from_settings(cls, settings: Settings | None, **overrides: Any) -> CheckerConfig:
        cfg = cls()
        if settings is not None:
            fs = settings.faithfulness
            for f in fields(cls):
                if hasattr(fs, f.name):
                    value = getattr(fs, f.name)
                    setattr(cfg, f.name, tuple(value) if isinstance(value, list) else value)
        for k, v in overrides.items():
            setattr(cfg, k, v)
        return cfg


@dataclass
class ClaimCheck:
    """The full record of one claim's check (for debugging and the benchmark)."""

    claim: Claim
    score: float
    supported: bool
    issues: list[checks.Issue] = field(default_factory=list)
    alignment: Alignment | None = None
    coverage: float = 0.0
    base_score: float = 0.0
    judge: float | None = None  # the judge's P(YES), thorough mode only
    verifier: float | None = None  # the verifier's P(support) with the cited evidence (engine "verifier")
    rescued: str | None = None  # why the judge accepted a claim the fast checks flagged
    verbatim: str | None = None  # the cited paper this claim's sentence quotes word for word

    @property
    def evidence(self) -> Evidence | None:
        """The evidence to show: where the claim was found instead (misattribution), else its best cited sentence."""
        al = self.alignment
        if al is None:
            return None
        elsewhere = [i.paper_id for i in self.issues if i.paper_id and i.kind == "attribution"]
        elsewhere += [i.paper_id for i in self.issues if i.paper_id]
        for pid in elsewhere:
            if pid in al.paper_units:
                u = al.paper_units[pid]
                return Evidence(id=u.paper_id, quote=u.text)
        unit = al.best_sentence
        return Evidence(id=unit.paper_id, quote=unit.text) if unit else None


@dataclass
class AnswerCheck:
    sentences: list[SentenceResult]
    verdict: FaithfulnessVerdict
    claims: list[ClaimCheck]
    seconds: float = 0.0
    judge_calls: int = 0


def rescuable(supported: bool, issue_kinds: list[str], cfg: CheckerConfig) -> bool:
    """Whether the judge may accept a flagged claim: flagged only by checks in ``judge_rescue_kinds``,
    and rescue is on (``judge_rescue_min`` <= 1)."""
    return (
        not supported
        and cfg.judge_rescue_min <= 1.0
        and bool(issue_kinds)
        and all(k in cfg.judge_rescue_kinds for k in issue_kinds)
    )


def judge_ruling(
    supported: bool, base_score: float, issue_kinds: list[str], p_yes: float | None, cfg: CheckerConfig
) -> bool | None:
    """The thorough-mode rule: False = the judge flags a supported claim, True = it accepts a flagged one,
    None = the fast verdict stands.

    Flag when P(YES) < ``judge_threshold`` (and the base score is at most
    ``judge_max_base``); accept a :func:`rescuable` claim when P(YES) >=
    ``judge_rescue_min``. Numbers, names, attribution and citations are never
    overruled. ``evals/tune_judge.py`` replays this rule on recorded claims.
    """
    if p_yes is None:
        return None
    if supported and p_yes < cfg.judge_threshold and base_score <= cfg.judge_max_base:
        return False
    if rescuable(supported, issue_kinds, cfg) and p_yes >= cfg.judge_rescue_min:
        return True
    return None


def _base_score(sim: float, cov: float, cfg: CheckerConfig) -> float:
    x = cfg.similarity_weight * sim + (1 - cfg.similarity_weight) * cov
    return float(np.clip((x - cfg.align_low) / max(cfg.align_high - cfg.align_low, 1e-6), 0.0, 1.0))


def judge_question(claim: Claim, al: Alignment, everything: Contexts, top_k: int) -> tuple[str, str, list[str]]:
    """What the judge is shown about one claim: (claim text, cited title, its ``top_k`` best evidence sentences).

    ``evals/train_probe.py`` builds its prompts with this, so what it measures
    is what the checker would ask.
    """
    units: list[Unit] = [u for _, u in al.top_cited if u.kind == "sentence"][:top_k]
    if not units and al.cited_unit is not None:
        units = [al.cited_unit]
    pid = units[0].paper_id if units else (claim.citations[0] if claim.citations else "")
    title = everything.get(pid, ("", ""))[0]
    return claim.text, title, [u.text for u in units]


class FaithfulnessChecker(VerifierEngine, LearnedEngine):
    """Checks answers against their contexts; holds the embedder cache and (optionally) a judge."""

    def __init__(
        self,
        settings: Settings | None = None,
        config: CheckerConfig | None = None,
        embed: Callable[[list[str]], np.ndarray] | None = None,
        judge: Judge | None = None,
        verifier: Verifier | None = None,
        learned: LearnedModel | None = None,
    ) -> None:
        self.settings = settings
        self.config = config or CheckerConfig.from_settings(settings)
        if embed is None:
            from agent.index.embeddings import sentence_embedder_for

            embed = sentence_embedder_for(settings).embed
        self.embed = EmbeddingCache(embed)
        self.judge = judge
        self._verifier = verifier
        self._learned = learned

    # ------------------------------------------------------------------ API
    def check(
        self,
        answer: str,
        contexts: Contexts,
        retrieved: Contexts | None = None,
        mode: str = "fast",
    ) -> AnswerCheck:
        """Check ``answer`` against the cited ``contexts`` and all ``retrieved`` ones.

        ``mode="thorough"`` needs a judge (pass ``judge=`` to the constructor).
        """
        if mode not in ("fast", "thorough"):
            raise ValueError(f"unknown mode {mode!r}; use 'fast' or 'thorough'")
        if mode == "thorough" and self.judge is None:
            raise ValueError("thorough mode needs a judge model")
        t0 = time.perf_counter()
        cfg = self.config
        everything: dict[str, tuple[str, str]] = {**dict(retrieved or {}), **dict(contexts)}
        texts = {pid: f"{t}. {a}" for pid, (t, a) in everything.items()}

        sentences = cited_sentences(answer)
        claims: list[Claim] = []
        for i, s in enumerate(sentences):
            parts = split_claims(s.text, s.citations, i)
            # A bullet before a marker ("- [p1] Title") leaves a "-." fragment: not a claim.
            claims.extend([c for c in parts if re.search(r"\w", c.text)] or parts)
        alignments = self._align(claims, everything)
        # A sentence that quotes its cited paper word for word is supported by it: no check or judge may say otherwise.
        quoted = {i: pid for i, s in enumerate(sentences) if (pid := checks.verbatim_source(strip_markers(s.text), s.citations, texts))}
        ask = mode == "thorough" and self.judge is not None

        results: list[ClaimCheck] = []
        judge_calls = 0
        if cfg.engine == "learned":
            results = self._learned_claims(claims, alignments, everything, texts)
            for cc in results:
                if ask and cc.claim.sentence_index not in quoted and self._learned_unsure(cc):
                    judge_calls += 1
                    self._apply_learned_judge(cc, self._ask_judge(cc.claim, cc.alignment, everything))
        elif cfg.engine == "verifier":
            results = self._verify_claims(claims, alignments, everything, texts)
            for cc in results:
                if ask and cc.claim.sentence_index not in quoted and self._unsure(cc):
                    judge_calls += 1
                    self._apply_verifier_judge(cc, self._ask_judge(cc.claim, cc.alignment, everything))
        else:
            for claim, al in zip(claims, alignments):
                cc = self._check_claim(claim, al, everything, texts)
                wanted = cc.supported or rescuable(cc.supported, [i.kind for i in cc.issues], cfg)
                if ask and wanted and claim.citations and claim.sentence_index not in quoted:
                    judge_calls += 1
                    self._apply_judge(cc, self._ask_judge(claim, al, everything))
                results.append(cc)

        for cc in results:
            if cc.claim.sentence_index in quoted:
                cc.verbatim = quoted[cc.claim.sentence_index]
                cc.score, cc.supported, cc.issues = max(cc.score, 1.0), True, []
        sent_results = self._sentences(sentences, results)
        score = min((s.score for s in sent_results if s.score is not None), default=1.0)
        verdict = FaithfulnessVerdict(
            verdict="faithful" if all(s.supported for s in sent_results) else "unfaithful",
            score=round(float(score), 4),
            mode=mode,  # type: ignore[arg-type]
        )
        return AnswerCheck(sent_results, verdict, results, time.perf_counter() - t0, judge_calls)

    def judge_inputs(self, claim: Claim, contexts: Contexts) -> tuple[str, str, list[str]]:
        """What thorough mode shows the judge about ``claim``, aligned as :meth:`check` aligns it.

        ``contexts`` are all the papers :meth:`check` would see (cited and
        retrieved: word weights come from all of them). For experiments that
        must ask exactly what the checker asks (``evals/train_probe.py``).
        """
        (al,) = self._align([claim], contexts)
        return judge_question(claim, al, contexts, self.config.judge_top_k)

    # ------------------------------------------------------------------ internals
    def _align(self, claims: list[Claim], contexts: Contexts) -> list[Alignment]:
        """Each claim aligned with the evidence units of all ``contexts`` (MiniLM + word overlap)."""
        cfg = self.config
        index = EvidenceIndex(contexts, self.embed, windows=cfg.windows)
        claim_vecs = self.embed([c.text for c in claims]) if claims else np.zeros((0, 1), np.float32)
        return index.align(
            claim_vecs, [c.citations for c in claims], cfg.judge_top_k, [c.text for c in claims], cfg.lexical_weight
        )

    def _check_claim(self, claim: Claim, al: Alignment, everything: Contexts, texts: dict[str, str]) -> ClaimCheck:
        cfg = self.config
        text = claim.text
        known = [c for c in claim.citations if c in everything]
        cited_text = " ".join(texts[c] for c in known)
        others = {pid: t for pid, t in texts.items() if pid not in known}
        issues: list[checks.Issue] = []
        issues += checks.check_citations(claim.citations, everything, cfg.cap_uncited_paper)

        if not claim.citations:
            best_paper = max(al.paper_scores, key=al.paper_scores.get) if al.paper_scores else None
            best = al.paper_scores.get(best_paper, 0.0) if best_paper else 0.0
            issues += checks.check_uncited(text, best, best_paper, cfg.uncited_min_score, cfg.cap_no_citation)
            score = min([1.0] + [i.cap for i in issues])
            return ClaimCheck(claim, score, score >= cfg.support_threshold, issues, al, 1.0, 1.0)

        if not known:  # every citation unknown: nothing to compare with
            return ClaimCheck(claim, cfg.cap_uncited_paper, False, issues, al, 0.0, 0.0)
        # A list item that only names a cited paper ("- [p1] Its Title") states nothing beyond the title.
        if not issues and title_key(text.lstrip("-*• ")) in {title_key(everything[c][0]) for c in known}:
            return ClaimCheck(claim, 1.0, True, [], al, 1.0, 1.0)

        cov = checks.coverage(text, cited_text)
        base = _base_score(al.cited_score, cov, cfg)
        unit_text = al.best_sentence.text if al.best_sentence else None
        issues += checks.check_numbers(text, cited_text, unit_text, others, cfg.cap_number)
        issues += checks.check_names(text, cited_text, others, known, cfg.cap_entity, cfg.cap_attribution)
        if not any(i.kind == "attribution" for i in issues) and al.other_unit is not None:
            other_cov = checks.coverage(text, texts[al.other_unit.paper_id])
            issues += checks.check_attribution(
                al.cited_score, al.other_score, al.other_unit.paper_id, cov, other_cov, known,
                cfg.attribution_margin, cfg.attribution_min_score, cfg.cap_attribution,
            )
        body = al.best_body_sentence
        body_text = body.text if body else unit_text
        nearby = [u.text for u in al.body_sentences(cfg.near_sentences)]
        issues += checks.check_negation(text, body_text, cfg.cap_negation, cited_text, nearby)
        near = " ".join(nearby) or body_text
        issues += checks.check_quantifiers(text, near, cited_text, cfg.cap_quantifier)
        score = min([base] + [i.cap for i in issues])
        if not issues and base < cfg.support_threshold:
            issues.append(
                checks.Issue(
                    "alignment",
                    f"no cited evidence says this (best similarity {al.cited_score:.2f}, word coverage {cov:.0%})",
                    base,
                )
            )
        return ClaimCheck(claim, float(score), score >= cfg.support_threshold, issues, al, cov, base)

    def _apply_judge(self, cc: ClaimCheck, p_yes: float | bool | None) -> None:
        """Record the judge's P(YES) on ``cc`` and apply :func:`judge_ruling` to it."""
        cfg = self.config
        cc.judge = None if p_yes is None else float(p_yes)
        ruling = judge_ruling(cc.supported, cc.base_score, [i.kind for i in cc.issues], cc.judge, cfg)
        if ruling is None:
            return
        al = cc.alignment
        where = al.best_sentence.paper_id if al is not None and al.best_sentence else cc.claim.citations[0]
        if ruling is False:
            reason = f"judge: claim not supported by [{where}] (P(yes) {cc.judge:.2f})"
            cc.issues.append(checks.Issue("judge", reason, cfg.cap_judge_no))
            cc.score = min(cc.score, cfg.cap_judge_no)
            cc.supported = cc.score >= cfg.support_threshold
        else:
            cc.score = max(cc.score, cfg.support_threshold)
            cc.supported = True
            kinds = ", ".join(dict.fromkeys(i.kind for i in cc.issues))
            cc.rescued = f"judge: supported by [{where}] (P(yes) {cc.judge:.2f}), overruling the {kinds} check"
            cc.issues = []

    def _ask_judge(self, claim: Claim, al: Alignment, everything: Contexts) -> float | bool | None:
        assert self.judge is not None
        return self.judge(*judge_question(claim, al, everything, self.config.judge_top_k))

    def _sentences(self, sentences: list[SentenceResult], results: list[ClaimCheck]) -> list[SentenceResult]:
        out: list[SentenceResult] = []
        for i, s in enumerate(sentences):
            mine = [r for r in results if r.claim.sentence_index == i]
            if not mine:
                out.append(s.model_copy(update={"supported": True, "score": 1.0, "reason": "no claim"}))
                continue
            worst = min(mine, key=lambda r: r.score)
            supported = all(r.supported for r in mine)
            if worst.issues:
                reason = "; ".join(dict.fromkeys(i.reason for i in worst.issues))
            elif worst.verbatim:
                reason = f"supported (quoted word for word from [{worst.verbatim}])"
            elif worst.rescued:
                reason = worst.rescued
            elif worst.verifier is not None:
                reason = f"supported (verifier P {worst.verifier:.2f})"
            elif worst.alignment and worst.alignment.cited_unit is not None:
                reason = f"supported (similarity {worst.alignment.cited_score:.2f}, word coverage {worst.coverage:.0%})"
            else:
                reason = "no factual claim"
            out.append(
                s.model_copy(
                    update={
                        "supported": supported,
                        "score": round(float(worst.score), 4),
                        "evidence": worst.evidence,
                        "reason": reason,
                    }
                )
            )
        return out


def check_answer(
    answer: str,
    contexts: Contexts,
    retrieved: Contexts | None = None,
    mode: str = "fast",
    settings: Settings | None = None,
    judge: Judge | None = None,
) -> AnswerCheck:
    """One-shot helper; build a :class:`FaithfulnessChecker` to check many answers."""
    return FaithfulnessChecker(settings, judge=judge).check(answer, contexts, retrieved, mode)
