"""The verifier engine of the checker (``faithfulness.engine = "verifier"``).

Deterministic checks only for what is truly deterministic (a number or a
name the cited evidence does not contain, a citation to a paper that was not
retrieved); the learned verifier (:mod:`agent.faithfulness.verifier`) decides
whether the best cited sentences, one by one and joined, support the claim;
the rule checks only name the kind of problem of a rejected claim. Mixed into
:class:`agent.faithfulness.checker.FaithfulnessChecker`, whose state it uses
(``config``, ``settings``, ``_verifier``, ``_check_claim``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent.faithfulness import checks
from agent.faithfulness.align import Alignment, Unit
from agent.faithfulness.claims import Claim
from agent.faithfulness.issues import short
from agent.faithfulness.verifier import Verifier, get_verifier
from agent.ingest.normalize import title_key

if TYPE_CHECKING:
    from agent.faithfulness.checker import CheckerConfig, ClaimCheck, Contexts
    from agent.settings import Settings


class VerifierEngine:
    """Claim checks by the learned verifier; see the module docstring."""

    config: CheckerConfig
    settings: Settings | None
    _verifier: Verifier | None

    @property
    def verifier(self) -> Verifier:
        """The learned verifier, loaded (and checksum-verified) on first use."""
        if self._verifier is None:
            path = self.settings.faithfulness.verifier_path if self.settings is not None else None
            self._verifier = get_verifier(str(path) if path else None)
        return self._verifier

    @property
    def threshold(self) -> float:
        """P(support) at which the verifier accepts a claim."""
        t = self.config.verifier_threshold
        return self.verifier.threshold if t is None else t

    # ------------------------------------------------------------------ the learned verifier
    def _to_score(self, p: float) -> float:
        """Map P(support) onto the checker's score so that the verifier's threshold lands on ``support_threshold``."""
        t, st = self.threshold, self.config.support_threshold
        if p < t:
            return st * p / max(t, 1e-6)
        return st + (1 - st) * (p - t) / max(1 - t, 1e-6)

    def _windows(self, al: Alignment) -> list[Unit]:
        """The cited evidence the verifier reads: the best sentences one by one, and joined in abstract order."""
        n = self.config.verifier_windows
        units = [u for _, u in al.top_cited if u.kind == "sentence"][:n] or ([al.cited_unit] if al.cited_unit else [])
        out = list(units)
        for pid in dict.fromkeys(u.paper_id for u in units):
            mine = sorted((u for u in units if u.paper_id == pid), key=lambda u: u.position)
            if len(mine) > 1:
                out.append(Unit(pid, " ".join(u.text for u in mine), "window", mine[0].position))
        return out

    def _verify_claims(
        self, claims: list[Claim], alignments: list[Alignment], everything: Contexts, texts: dict[str, str]
    ) -> list[ClaimCheck]:
        """Verifier engine: deterministic checks for what is truly deterministic, the verifier for support."""
        cfg = self.config
        pending: list[tuple[ClaimCheck, list[Unit], Unit | None, str]] = []
        results: list[ClaimCheck] = []
        for claim, al in zip(claims, alignments):
            known = [c for c in claim.citations if c in everything]
            issues = checks.check_citations(claim.citations, everything, cfg.cap_uncited_paper)
            if not claim.citations or not known or (
                not issues and title_key(claim.text.lstrip("-*• ")) in {title_key(everything[c][0]) for c in known}
            ):
                results.append(self._check_claim(claim, al, everything, texts))  # uncited / unknown / title-only
                continue
            cited_text = " ".join(texts[c] for c in known)
            others = {pid: t for pid, t in texts.items() if pid not in known}
            unit_text = al.best_sentence.text if al.best_sentence else None
            issues += checks.check_numbers(claim.text, cited_text, unit_text, others, cfg.cap_number)
            issues += checks.check_names(claim.text, cited_text, others, known, cfg.cap_entity, cfg.cap_attribution)
            cc = _claim_check(claim, issues, al, checks.coverage(claim.text, cited_text))
            windows = self._windows(al)
            other = al.other_unit if al.other_unit is not None and al.other_unit.kind != "title" else None
            pending.append((cc, windows, other, cited_text))
            results.append(cc)
        pairs = [(u.text, cc.claim.text) for cc, ws, other, _ in pending for u in ws + ([other] if other else [])]
        probs = iter(self.verifier.score(pairs).tolist()) if pairs else iter(())
        for cc, windows, other, cited_text in pending:
            scored = [(next(probs), u) for u in windows]
            p_other = next(probs) if other else 0.0
            p, best = max(scored, key=lambda x: x[0]) if scored else (0.0, None)
            cc.verifier = p
            cc.base_score = self._to_score(p)
            if best is not None and best.kind != "window":
                cc.alignment = _with_best(cc.alignment, best)
            if p < self.threshold and not cc.issues:
                cc.issues.append(self._explain(cc, p, other, p_other, cited_text))
            cc.score = min([cc.base_score] + [i.cap for i in cc.issues])
            cc.supported = cc.score >= cfg.support_threshold
        return results

    def _explain(self, cc: ClaimCheck, p: float, other: Unit | None, p_other: float, cited_text: str) -> checks.Issue:
        """Why the verifier rejected a claim, when a check can tell; the verifier's word otherwise."""
        cfg = self.config
        al = cc.alignment
        if other is not None and p_other >= self.threshold:
            cited = ", ".join(f"[{c}]" for c in cc.claim.citations)
            return checks.Issue(
                "attribution", f"claim found in [{other.paper_id}], not in {cited}: {short(other.text)!r}",
                cfg.cap_attribution, other.paper_id,
            )
        body = al.best_body_sentence if al is not None else None
        nearby = [u.text for u in al.body_sentences(cfg.near_sentences)] if al is not None else []
        for issue in checks.check_negation(cc.claim.text, body.text if body else None, cfg.cap_negation, cited_text, nearby):
            return checks.Issue(issue.kind, issue.reason, self._to_score(p))
        for issue in checks.check_quantifiers(cc.claim.text, " ".join(nearby) or None, cited_text, cfg.cap_quantifier):
            return checks.Issue(issue.kind, issue.reason, self._to_score(p))
        quote = f": closest is {short(body.text)!r}" if body is not None else ""
        return checks.Issue("unsupported", f"the cited abstract does not say this (verifier P {p:.2f}){quote}", self._to_score(p))

    def _unsure(self, cc: ClaimCheck) -> bool:
        """Thorough mode asks the judge only where the verifier is near its threshold and no hard check fired."""
        hard = {"number", "entity", "attribution", "uncited_paper", "no_citation"}
        return (
            cc.verifier is not None
            and abs(cc.verifier - self.threshold) <= self.config.judge_band
            and not any(i.kind in hard for i in cc.issues)
        )

    def _apply_verifier_judge(self, cc: ClaimCheck, p_yes: float | bool | None) -> None:
        """Average the judge's P(YES) with the verifier's P(support) and decide again at the verifier's threshold."""
        if p_yes is None or cc.verifier is None:
            return
        cc.judge = float(p_yes)
        p = (cc.verifier + cc.judge) / 2
        cc.base_score = self._to_score(p)
        cc.issues = [i for i in cc.issues if i.kind not in ("unsupported", "negation", "quantifier")]
        if p < self.threshold:
            cc.issues.append(checks.Issue("judge", f"judge and verifier: not supported (P(yes) {cc.judge:.2f}, verifier {cc.verifier:.2f})", cc.base_score))
        cc.score = min([cc.base_score] + [i.cap for i in cc.issues])
        cc.supported = cc.score >= self.config.support_threshold


def _with_best(al: Alignment | None, unit: Unit) -> Alignment | None:
    """``al`` with ``unit`` (the sentence the verifier found the support in) as its best quote."""
    if al is None:
        return None
    rest = [(sc, u) for sc, u in al.top_cited if u != unit]
    al.top_cited = [(al.cited_score, unit)] + rest
    return al


def _claim_check(claim: Claim, issues: list, al: Alignment, coverage: float) -> "ClaimCheck":
    from agent.faithfulness.checker import ClaimCheck

    return ClaimCheck(claim, 0.0, False, issues, al, coverage, 0.0)
