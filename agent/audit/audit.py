"""Per-sentence verdicts for a parsed draft against the indexed library.

For each sentence of :class:`~agent.audit.parse.ParsedDraft`:

* a heading, a sentence under ``audit.min_claim_words`` words, a signpost
  ("In this section ...", "The rest of the paper ...") or, when uncited, a
  statement of the draft's own work ("We propose ...") -> ``not_checkable``;
* cited: keys are resolved to paper ids (:func:`agent.ingest.normalize.key_to_id`,
  then case-insensitively); no key in the library -> ``unknown_key``. The
  sentence is checked against the cited abstracts with the faithfulness
  checker: ``supported`` (with the supporting quote), else other library
  papers are tried (``better_source`` when one supports it), else
  ``unsupported`` with the closest sentence of the cited abstract and the kind
  of problem (number, name, attribution, negation, overstatement, not stated).
  When some keys are unknown and the known papers do not support the
  sentence, the verdict is ``unknown_key`` (the missing paper may say it);
* uncited: other library papers are tried -> ``better_source`` or ``uncited``.

Better sources come from hybrid retrieval (``audit.candidates`` papers), each
checked on its own with the same checker; suggestions are the supporting ones,
best checker score first (ties: retrieval rank).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.audit.parse import DraftSentence, ParsedDraft
from agent.ingest.normalize import key_to_id
from agent.sentences import split_sentences
from agent.settings import Settings
from agent.types import Paper

Verdict = Literal["supported", "unsupported", "better_source", "uncited", "unknown_key", "not_checkable"]
VERDICTS: tuple[Verdict, ...] = ("supported", "unsupported", "better_source", "uncited", "unknown_key", "not_checkable")

#: Sentences that announce the text instead of claiming anything.
SIGNPOST = re.compile(
    r"^(?:in (?:this|the (?:following|next|present)) (?:section|chapter|paper|work|part|subsection|appendix)\b"
    r"|(?:the )?rest of (?:this|the) (?:paper|section|chapter|article)\b"
    r"|this (?:paper|chapter|section|article|thesis) is (?:organi[sz]ed|structured)\b"
    r"|(?:see|cf\.?)\s|for (?:an?|more) (?:overview|survey|review|details?|discussion)\b"
    r"|(?:table|figure|fig\.|section|appendix|algorithm)\s+\S+\s+(?:shows|summari[sz]es|lists|gives|presents|illustrates|describes)\b"
    r"|we (?:now |first |then |next |briefly )?(?:review|describe|discuss|summari[sz]e|outline|introduce|present|turn to|begin)\b"
    r".{0,40}\b(?:section|work|literature|background|approaches|methods|related)\b)",
    re.I,
)
#: Uncited statements of the draft's own work.
OWN_WORK = re.compile(r"^(?:we|our|in this (?:paper|work|thesis|article)|this (?:paper|work|thesis|article))\b", re.I)
#: Author mentions ("Smith et al.", "Smith and Jones (2020)"): names the cited abstract never contains.
AUTHORS = re.compile(
    r"\b[A-Z][A-Za-z'’-]+(?:\s+(?:and|&)\s+[A-Z][A-Za-z'’-]+)?(?:\s+et\s+al\.?(?:\s*\(\d{4}[a-z]?\))?|\s*\(\d{4}[a-z]?\))"
)
#: Issue kinds of the checker, as the problem named to the user.
PROBLEM_KINDS = {
    "number": "number",
    "entity": "name",
    "attribution": "attribution",
    "negation": "negation",
    "quantifier": "overstatement",
    "alignment": "not stated",
    "judge": "not stated",
}

Progress = Callable[[int, int], None]


@dataclass
class Suggestion:
    id: str
    title: str
    quote: str
    score: float = 0.0
    confirmed: bool = True  # the checker found the paper supports the sentence (else: only a close paper)

    def public(self) -> dict[str, str]:
        return {"id": self.id, "title": self.title, "quote": self.quote}


@dataclass
class SentenceAudit:
    line: int
    text: str
    citations: list[str]
    verdict: Verdict
    quote: str | None = None
    reason: str = ""
    suggestions: list[Suggestion] = field(default_factory=list)
    problem: str | None = None  # kind of problem of an unsupported sentence
    score: float | None = None

    def public(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "text": self.text,
            "citations": list(self.citations),
            "verdict": self.verdict,
            "quote": self.quote,
            "reason": self.reason,
            "suggestions": [s.public() for s in self.suggestions],
        }


@dataclass
class AuditReport:
    sentences: list[SentenceAudit]
    problems: list[str] = field(default_factory=list)  # what was worked around (draft lines, bib entries, keys)
    source: str = ""
    format: str = ""
    mode: str = "fast"
    seconds: float = 0.0

    def summary(self) -> dict[str, int]:
        counts = {v: 0 for v in VERDICTS}
        for s in self.sentences:
            counts[s.verdict] += 1
        return counts

    def public_json(self) -> dict[str, Any]:
        """The documented ``citewise audit --json`` document."""
        return {"sentences": [s.public() for s in self.sentences], "summary": self.summary()}


@dataclass
class Support:
    """The checker's reading of one sentence against some papers."""

    supported: bool
    score: float
    quote: str | None
    quote_id: str | None
    reason: str
    problem: str | None


def claim_text(sentence: DraftSentence) -> str:
    """What is checked: the sentence without citations and author mentions."""
    text = AUTHORS.sub("", sentence.claim or sentence.text)
    text = re.sub(r"\s+([.,;:!?)])", r"\1", " ".join(text.split())).strip(" ,;:")
    return text[:1].upper() + text[1:] if text else text


def is_checkable(sentence: DraftSentence, text: str, settings: Settings) -> str | None:
    """Why ``sentence`` states no claim to check (None = it does)."""
    if sentence.heading:
        return "heading"
    words = re.findall(r"\w+", text)
    if len(words) < settings.audit.min_claim_words:
        return f"too short to state a claim ({len(words)} words)"
    if text.rstrip().endswith("?"):
        return "a question, not a claim"
    if SIGNPOST.match(text):
        return "announces the text (no claim)"
    if not sentence.citations and settings.audit.own_work_not_checkable and OWN_WORK.match(text):
        return "about the draft's own work (needs no citation)"
    return None


class Auditor:
    """Audits drafts against the papers of one retriever, with one checker."""

    def __init__(self, settings: Settings, retriever: Any, checker: Any, mode: str = "fast") -> None:
        self.settings = settings
        self.retriever = retriever
        self.checker = checker
        self.mode = mode
        #: Keys found in the --bib files (key -> "file:line"), to explain a key that was not indexed.
        self.bib_keys: dict[str, str] = {}
        self.refresh()

    def refresh(self) -> None:
        papers: Mapping[str, Paper] = self.retriever.papers
        self.papers = papers
        self._folded = {pid.casefold(): pid for pid in papers}
        self._memo: dict[tuple[str, tuple[str, ...]], Support] = {}
        self._found: dict[tuple[str, tuple[str, ...]], list[Suggestion]] = {}
        self._hits: dict[tuple[str, int], list] = {}

    # -- keys -------------------------------------------------------------
    def resolve(self, key: str) -> str | None:
        """The paper id a citation key stands for, or None when it is not in the library."""
        pid = key_to_id(key)
        if pid in self.papers:
            return pid
        if key in self.papers:
            return key
        return self._folded.get(pid.casefold())

    def _missing(self, keys: list[str]) -> str:
        if not keys:
            return ""
        parts = [
            f"{k} (in {self.bib_keys[k]} but not indexed: see the warning for that entry)" if k in self.bib_keys else k
            for k in keys
        ]
        return f"not in the library: {', '.join(parts)}"

    # -- checking ---------------------------------------------------------
    def support(self, text: str, ids: list[str]) -> Support:
        """Check ``text`` against the papers ``ids`` (all of them cited); a repeated check is answered from memory."""
        key = (text, tuple(ids))
        if key not in self._memo:
            self._memo[key] = self._support(text, ids)
        return self._memo[key]

    def _support(self, text: str, ids: list[str]) -> Support:
        contexts = {pid: (self.papers[pid].title, self.papers[pid].abstract) for pid in ids}
        markers = "".join(f"[{pid}]" for pid in ids)
        # Each piece the checker's splitter may cut carries the markers, so no piece reads as uncited.
        pieces = split_sentences(text) or [text]
        answer = " ".join(f"{p} {markers}" for p in pieces)
        result = self.checker.check(answer, contexts, retrieved=contexts, mode=self.mode)
        rows = [s for s in result.sentences if s.supported is not None] or list(result.sentences)
        if not rows:
            return Support(False, 0.0, None, None, "the checker found nothing to check", None)
        worst = min(rows, key=lambda s: s.score if s.score is not None else 1.0)
        score = float(worst.score if worst.score is not None else (1.0 if worst.supported else 0.0))
        threshold = self.settings.audit.support_threshold
        supported = all(bool(s.supported) for s in rows) if threshold is None else score >= threshold
        ev = worst.evidence
        quote_id = ev.id if ev is not None else None
        quote = ev.quote if ev is not None else None
        if quote_id is not None and quote_id not in contexts:
            quote, quote_id = None, None
        return Support(supported, score, quote, quote_id, worst.reason or "", None if supported else _problem(result))

    def better_sources(self, text: str, exclude: set[str], fill: bool = False) -> list[Suggestion]:
        """Library papers (not in ``exclude``) that support ``text``, best checker score first; with ``fill``,
        up to ``audit.max_suggestions`` by adding the closest retrieved papers the checker did not confirm.
        Remembered per sentence."""
        key = (text, tuple(sorted(exclude)))
        if key not in self._found:
            self._found[key] = self._better_sources(text, exclude)
        found = self._found[key]
        confirmed = [s for s in found if s.confirmed]
        n = self.settings.audit.max_suggestions
        if not fill:
            return confirmed[:n]
        return (confirmed + [s for s in found if not s.confirmed])[:n]

    def _better_sources(self, text: str, exclude: set[str]) -> list[Suggestion]:
        cfg = self.settings.audit
        hits = self._search(text, cfg.candidates + len(exclude))
        found: list[tuple[bool, float, int, Suggestion]] = []
        for rank, hit in enumerate(h for h in hits if h.paper.id not in exclude):
            if rank >= cfg.candidates:
                break
            s = self.support(text, [hit.paper.id])
            sug = Suggestion(hit.paper.id, hit.paper.title, s.quote or "", s.score, s.supported)
            # confirmed ones by score (ties: retrieval rank); the others by retrieval rank
            found.append((not s.supported, -s.score if s.supported else 0.0, rank, sug))
        found.sort(key=lambda x: x[:3])
        return [s for *_, s in found]

    def _search(self, text: str, k: int) -> list:
        key = (text, k)
        if key not in self._hits:
            self._hits[key] = self.retriever.search(text, k)
        return self._hits[key]

    def prewarm(self, draft: ParsedDraft) -> None:
        """Embed, in large batches, the abstracts the audit will read: the cited papers and the candidate
        sources of uncited sentences. Many small embedding calls (one per check) cost several times more
        on a CPU. Only an optimisation: a checker without ``embed`` is left alone."""
        embed = getattr(self.checker, "embed", None)
        try:
            from agent.faithfulness.align import paper_units
        except ImportError:  # pragma: no cover - the checker's internals changed
            return
        if embed is None:
            return
        windows = bool(getattr(getattr(self.checker, "config", None), "windows", False))
        ids: list[str] = []
        for sentence in draft.sentences:
            text = claim_text(sentence)
            if is_checkable(sentence, text, self.settings):
                continue
            if sentence.citations:
                ids += [pid for pid in map(self.resolve, sentence.citations) if pid is not None]
            else:
                ids += [h.paper.id for h in self._search(text, self.settings.audit.candidates)]
        texts: list[str] = []
        for pid in dict.fromkeys(ids):
            p = self.papers[pid]
            texts += [u.text for u in paper_units(pid, p.title, p.abstract, windows)]
        step = 256
        for start in range(0, len(texts), step):
            embed(texts[start : start + step])

    # -- one sentence -----------------------------------------------------
    def audit_sentence(self, sentence: DraftSentence) -> SentenceAudit:
        text = claim_text(sentence)
        row = SentenceAudit(sentence.line, sentence.text, list(sentence.citations), "not_checkable")
        why_not = is_checkable(sentence, text, self.settings)
        if why_not:
            row.reason = why_not
            return row
        if not sentence.citations:
            row.suggestions = self.better_sources(text, set(), fill=self.settings.audit.unconfirmed_suggestions)
            confirmed = [s for s in row.suggestions if s.confirmed]
            close = [s for s in row.suggestions if not s.confirmed]
            if confirmed:
                row.verdict = "better_source"
                row.quote = confirmed[0].quote
                row.reason = f"uncited; {_ids(confirmed)} in your library {'supports' if len(confirmed) == 1 else 'support'} it"
            else:
                row.verdict = "uncited"
                row.reason = "factual sentence without a citation; no paper in the library is confirmed to support it"
            if close:
                row.reason += f"; close but not confirmed by the checker: {_ids(close)}"
            return row
        ids: list[str] = []
        unknown: list[str] = []
        for key in sentence.citations:
            pid = self.resolve(key)
            (ids if pid is not None else unknown).append(pid if pid is not None else key)
        ids = list(dict.fromkeys(ids))
        missing = self._missing(unknown)
        if not ids:
            row.verdict = "unknown_key"
            row.reason = missing
            return row
        s = self.support(text, ids)
        row.score = round(s.score, 4)
        row.quote = s.quote
        if s.supported:
            row.verdict = "supported"
            row.reason = s.reason + (f"; {missing}" if missing else "")
            return row
        row.problem = s.problem
        cited = ", ".join(ids)
        row.reason = f"not supported by [{cited}]" + (f" ({s.problem})" if s.problem else "") + f": {s.reason}"
        if unknown:
            row.verdict = "unknown_key"
            row.reason = f"{missing}; {row.reason}"
            return row
        row.suggestions = self.better_sources(text, set(ids))
        if row.suggestions:
            row.verdict = "better_source"
            row.reason += f"; [{row.suggestions[0].id}] in your library supports it"
        else:
            row.verdict = "unsupported"
        return row

    def audit(self, draft: ParsedDraft, progress: Progress | None = None) -> AuditReport:
        import time

        t0 = time.perf_counter()
        self.prewarm(draft)
        rows: list[SentenceAudit] = []
        total = len(draft.sentences)
        if progress:
            progress(0, total)
        for n, sentence in enumerate(draft.sentences, start=1):
            rows.append(self.audit_sentence(sentence))
            if progress:
                progress(n, total)
        report = AuditReport(rows, [str(p) for p in draft.problems], format=draft.format, mode=self.mode)
        for key in draft.keys:
            pid = self.resolve(key)
            if pid is not None and pid != key:
                report.problems.append(f"key {key!r} is indexed as [{pid}] (ids keep only A-Z a-z 0-9 _ . : -)")
        report.seconds = time.perf_counter() - t0
        return report


def _ids(suggestions: list[Suggestion]) -> str:
    return ", ".join(f"[{s.id}]" for s in suggestions)


def _problem(result: Any) -> str | None:
    """The kind of problem the checker found (from its claim records when it exposes them)."""
    kinds: list[str] = []
    for claim in getattr(result, "claims", None) or []:
        if getattr(claim, "supported", True):
            continue
        for issue in getattr(claim, "issues", []) or []:
            kind = PROBLEM_KINDS.get(getattr(issue, "kind", ""))
            if kind and kind not in kinds:
                kinds.append(kind)
    return ", ".join(kinds) or None

