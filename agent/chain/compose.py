"""Quote-built answers for every question type: extract, then write, one paper at a time.

The model never sees two papers' text when it writes about one of them, so it
cannot swap attributions; every number it writes must be in that paper's
quotes (:mod:`agent.chain.quotes`). Per type:

* single - the top candidates are screened ("do these quotes answer the
  question?"); the model answers from the quotes of the most likely paper; a
  sentence that fails the checks is replaced by the quote. Refused when no
  candidate's quotes answer it.
* list - each candidate is screened on its own ("does this paper address the
  question?") and, when included, gets one bullet saying what it does about
  the question. Near-misses are listed with their probability, and how many
  candidates were checked.
* summary - screened like a list; one sentence per included paper (at most
  ``answer.summary_papers``: screening stops there), grouped by similarity.
* compare - each side written from its own paper's quotes, a paper x aspect
  table of short cells (``not stated`` when the quotes do not say; a cell with
  a number its abstract lacks is ``not stated`` too), and a contrast written
  from the cells alone.

:meth:`Composer.run` yields :class:`ScreenEvent` and :class:`TokenEvent` as
decisions and sentences are made (a comparison first announces its papers,
:class:`SideEvent`), then one :class:`Composed`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Generator, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from agent.chain.citations import MarkerMapper, name_marker_mentions
from agent.chain.events import ScreenEvent, SideEvent, TokenEvent
from agent.chain.evidence import EvidenceSelector
from agent.chain.quotes import QuoteSteps, Quotes, Written, has_foreign_numbers, pick_quotes, quote_sentence, unsaid_quotes
from agent.chain.screening import ScreeningModel, get_screening_model
from agent.retrieval.names import NameIndex, defined_name, display_name
from agent.sentences import split_sentences, strip_markers
from agent.settings import AnswerSettings
from agent.types import Paper, ScreenedPaper, SearchHit, SentenceResult

NOT_STATED = "not stated"
#: Why a model sentence was replaced by its quote (prefix of the withheld sentence's reason).
REPLACED = "replaced by the paper's own words"
_ABOUT = re.compile(
    r"^(?:the|this)\s+(?:paper|work|study|article|method|approach)\b|^the authors\b|^it\b"
    r"|^the\s+(?:first|second|third|fourth|fifth|last|latter|former)(?:\s+one)?\b",  # a follow-up's own words
    re.I,
)


@dataclass
class Composed:
    """A quote-built answer before citations are resolved and checked."""

    text: str = ""  # prose with [id] markers; "" means refuse
    refusal: str | None = None  # why, when refusing
    table: str | None = None
    screened: list[ScreenedPaper] = field(default_factory=list)
    replaced: list[SentenceResult] = field(default_factory=list)
    notes: str | None = None


def about(name: str, text: str) -> str:
    """``text`` about the paper called ``name``: "The paper proposes X" -> "DCLR proposes X" ("The paper DCLR
    proposes X" too); a text that already names it is kept; else "DCLR: text"."""
    if text.startswith("“"):
        return f"{name}: {text}"
    m = _ABOUT.match(text)
    if m:
        rest = text[m.end():]
        return rest.lstrip() if rest.lstrip().lower().startswith(name.lower()) else f"{name}{rest}"
    if name.lower() in text.lower():
        return text
    return f"{name}: {text}"


def cite_named(sentence: str, papers: Sequence[tuple[str, str]]) -> str:
    """``sentence`` with the markers of the ``(id, name)`` papers it names but does not cite added to its closing
    markers: "LCD improves F1, while CODE reduces hallucinations [pCODE]." cites LCD's paper too."""
    plain = strip_markers(sentence)
    missing = "".join(
        f"[{pid}]" for pid, name in papers if f"[{pid}]" not in sentence and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", plain)
    )
    if not missing:
        return sentence
    m = re.search(r"((?:\s*\[[^\]]+\])*)(\s*[.!?]?\s*)$", sentence)
    assert m is not None  # the pattern matches the empty end of any string
    head, markers, stop = sentence[: m.start()], m.group(1), m.group(2).strip()
    return f"{head}{markers}{missing}{stop}" if markers else f"{head.rstrip()} {missing}{stop}"


def group_by_similarity(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Greedy single-link groups of row indices whose cosine is at least ``threshold``, in first-seen order."""
    groups: list[list[int]] = []
    for i in range(len(vectors)):
        for g in groups:
            if max(float(vectors[i] @ vectors[j]) for j in g) >= threshold:
                g.append(i)
                break
        else:
            groups.append([i])
    return groups


def parse_cells(reply: str, aspects: list[str], source: str) -> dict[str, str]:
    """``Aspect: value`` lines of the model's reply; a missing, empty or number-inventing value is not stated."""
    cells = dict.fromkeys(aspects, NOT_STATED)
    for line in reply.splitlines():
        m = re.match(r"^\s*[-*]?\s*\**([A-Za-z ]+?)\**\s*:\s*(.+)$", line)
        if not m:
            continue
        key = next((a for a in aspects if a.lower() == m.group(1).strip().lower()), None)
        value = m.group(2).strip().strip("*").strip().rstrip(".")
        if key is None or not value or cells[key] != NOT_STATED:
            continue
        if has_foreign_numbers(value, source) or value.lower().startswith("not stated"):
            continue
        words = value.split()
        cells[key] = " ".join(words[:12]).replace("|", "/")
    return cells


class Composer:
    """Builds one answer from per-paper decisions; see the module docstring."""

    def __init__(
        self, steps: QuoteSteps, selector: EvidenceSelector, cfg: AnswerSettings, names: NameIndex | None = None
    ) -> None:
        """``names``: the corpus' name index, so a paper is never called by a name several papers define."""
        self.steps = steps
        self.selector = selector
        self.cfg = cfg
        self._generic = names.is_generic if names is not None else None
        self._screening: ScreeningModel | None = None

    def _include_p(self, p_yes: float, rank: int) -> tuple[float, float]:
        """A list/summary candidate's (screening probability, threshold): the screening model's P(included) at
        search ``rank`` (``answer.screen_by = "model"``), or the model's P(YES) against ``screen_threshold``."""
        cfg = self.cfg
        if cfg.screen_by == "p_yes":
            return p_yes, cfg.screen_threshold
        if self._screening is None:
            self._screening = get_screening_model(str(cfg.screening_path) if cfg.screening_path else None)
        model = self._screening
        t = model.threshold if cfg.screen_model_threshold is None else cfg.screen_model_threshold
        return model.probability(p_yes, rank), t

    def run(
        self, question: str, qtype: str, hits: list[SearchHit], compared: int = 0, named: Sequence[str] = (), one_paper: bool = False
    ) -> Iterator[ScreenEvent | SideEvent | TokenEvent | Composed]:
        """``compared``: for a comparison, how many of the first hits are its sides' papers (0: answer.compare_papers);
        ``named``: ids of papers that define a name the question uses (a single answer prefers them); ``one_paper``:
        a summary of one paper ("Summarize the paper that ..."), which ends with the first paper included."""
        papers = [h.paper for h in hits]
        if qtype == "compare":
            yield from self._compare(question, papers, compared or self.cfg.compare_papers)
        elif qtype in ("list", "summary"):
            yield from self._screened(question, papers, qtype, set(named), 1 if one_paper else self.cfg.summary_papers)
        else:
            yield from self._single(question, papers, set(named))

    # -- shared -------------------------------------------------------------
    def _quotes(self, question: str, papers: list[Paper], n: int) -> list[Quotes]:
        qvec = self.selector.embedder.embed([question])[0]
        out = [pick_quotes(self.selector, question, p, n, qvec, role_weight=self.cfg.role_weight) for p in papers]
        if self.cfg.name_in_header:
            for qt in out:
                qt.name = defined_name(qt.paper, self._generic)
        return out

    def _sentence(self, written: Written, paper: Paper, out: Composed, name: str | None = None) -> str:
        """The answer text for ``written``, every sentence ending in the paper's marker; dropped drafts go to
        ``out.replaced``."""
        if written.draft:
            why = f"{REPLACED}: {written.reason}" if not written.from_model else f"left out: {written.reason}"
            out.replaced.append(SentenceResult(text=written.draft, citations=[paper.id], supported=False, reason=why))
        text = about(name, written.text) if name else written.text
        return " ".join(f"{s.rstrip()} [{paper.id}]" for s in (split_sentences(text) or [text]))

    def _first(self, question: str, quotes: Quotes, kind: str, write: bool) -> Written:
        """A list bullet's, summary sentence's or comparison side's first sentence: with ``write``, one sentence the
        model writes from ``quotes`` (the best quote when it gives none); without, the best quote, verbatim."""
        quoted = Written(quote_sentence(quotes.best), from_model=False)
        return (self.steps.write(question, quotes, kind) or quoted) if write else quoted

    def _unsaid(self, quotes: Quotes, text: str, room: int, out: Composed) -> list[str]:
        """Up to ``room`` of ``quotes`` that say what ``text`` does not (:func:`unsaid_quotes`), each a cited
        answer sentence in the paper's own words: the written sentences of the small model leave much of what
        the quotes hold unsaid, and a verbatim quote is true by construction."""
        cfg = self.cfg
        found = unsaid_quotes(
            quotes, text, room, self.selector.embedder.embed, cfg.fill_mmr_lambda, cfg.fill_max_similarity, cfg.fill_new_share
        )
        return [self._sentence(Written(quote_sentence(q), from_model=False), quotes.paper, out) for q in found]

    def name(self, paper: Paper) -> str:
        """How the answer names ``paper`` (:func:`display_name`, passing over the corpus' generic names)."""
        return display_name(paper, self._generic)

    def _decision(self, quotes: Quotes, p: float, included: bool) -> ScreenedPaper:
        return ScreenedPaper(
            id=quotes.paper.id, title=quotes.paper.title, included=included, p=round(p, 4), quote=quotes.best, name=self.name(quotes.paper)
        )

    # -- single -------------------------------------------------------------
    def _single(self, question: str, papers: list[Paper], named: Collection[str] = ()) -> Iterator[ScreenEvent | TokenEvent | Composed]:
        out = Composed()
        quotes = self._quotes(question, papers[: self.cfg.single_candidates], self.cfg.single_quotes)
        scored: list[tuple[float, int]] = []
        for i, qt in enumerate(quotes):
            p = self.steps.screen(question, qt, "single")
            included = p >= self.cfg.single_threshold
            decision = self._decision(qt, p, included)
            out.screened.append(decision)
            yield ScreenEvent(i + 1, len(quotes), qt.paper, included, p, qt.best, decision.name)
            if included:
                scored.append((p, i))
        if scored:
            # The screening probability decides whether the quotes answer (it was calibrated; the writer's
            # "the abstracts do not say" was not): when the writer declines, the best quote is the answer.
            # A question that names a paper ("What does LightGCL use ...") is about that paper: of the papers
            # whose quotes answer, a named one is preferred to a likelier neighbour.
            preferred = [(p, i) for p, i in scored if papers[i].id in named] or scored
            _, i = min(preferred, key=lambda t: (-t[0], t[1]))
            written = self.steps.write(
                question, quotes[i], "single", max_sentences=self.cfg.single_sentences, max_tokens=self.cfg.single_max_tokens
            )
            if written is None:
                written = Written(quote_sentence(quotes[i].best), False, "The abstracts do not say.", "the model declined to answer from the quotes")
            # Named by its short name when it has one ("Which paper ...?" is answered "MAUVE proposes ..."); a
            # sentence that opens with "It" or "The paper" names the paper by its whole title when it has no short
            # name (the display name cuts long titles with "…", which reads badly as a sentence's subject).
            short = defined_name(quotes[i].paper, self._generic)
            if short is None and _ABOUT.match(written.text):
                short = quotes[i].paper.title.strip()
            out.text = self._sentence(written, quotes[i].paper, out, name=short)
            yield TokenEvent(out.text)
            # The 1.5B mostly writes one sentence: the quotes that say what it left out follow it, verbatim.
            room = self.cfg.single_sentences - len(split_sentences(out.text))
            if self.cfg.single_fill_quotes and room > 0:
                for line in self._unsaid(quotes[i], out.text, room, out):
                    out.text += " " + line
                    yield TokenEvent(" " + line)
        if not out.text and len(quotes) == 1:  # a follow-up pinned to one paper
            out.refusal = f"the abstract of {self.name(papers[0])} does not answer the question"
        elif not out.text:
            out.refusal = f"none of the {len(quotes)} best-matching abstracts answers the question"
        yield out

    # -- list and summary -----------------------------------------------------
    def _screened(
        self, question: str, papers: list[Paper], qtype: str, named: Collection[str], summary_papers: int
    ) -> Iterator[ScreenEvent | TokenEvent | Composed]:
        """A list or summary: each candidate screened alone, an included one written about at once; a summary stops
        at ``summary_papers`` included."""
        cfg = self.cfg
        out = Composed()
        candidates = papers[: cfg.screen_candidates]
        quotes = self._quotes(question, candidates, cfg.quotes_per_paper)
        lines: list[str] = []
        misses = 0
        for i, qt in enumerate(quotes):
            p, threshold = self._include_p(self.steps.screen(question, qt, qtype), i + 1)
            included = p >= threshold
            decision = self._decision(qt, p, included)
            out.screened.append(decision)
            yield ScreenEvent(i + 1, len(quotes), qt.paper, included, p, qt.best, decision.name)
            if included:
                misses = 0
                # Written right after its decision: llama.cpp still holds this paper's quotes in its context.
                written = self._first(question, qt, qtype, write=cfg.list_write if qtype == "list" else cfg.summary_write)
                line = self._sentence(written, qt.paper, out, name=decision.name)
                if qtype == "list" and cfg.list_fill_quotes:
                    line = " ".join([line, *self._unsaid(qt, line, 1, out)])
                lines.append(line)
                yield TokenEvent(("- " if qtype == "list" else "") + line + "\n")
                if qtype == "summary" and len(lines) >= summary_papers:
                    break  # the summary is full: no later candidate could be included, so none is read
            else:
                misses += 1
                stop_after = cfg.summary_stop_after if qtype == "summary" else cfg.screen_stop_after
                if stop_after and misses >= stop_after and i + 1 >= cfg.screen_min_checked:
                    break
        if qtype == "summary" and lines:
            yield from self._fill_summary(question, [qt.paper for qt, s in zip(quotes, out.screened) if s.included], lines, out)
        answered: set[str] = set()
        if not lines and qtype == "list" and cfg.list_fallback_single:
            answered = yield from self._single_fallback(question, papers, named, out)
        elif not lines:
            out.refusal = f"none of the {len(out.screened)} candidate papers checked addresses the question"
        elif qtype == "list":
            out.text = "\n".join(f"- {line}" for line in lines)
        else:
            out.text = self._grouped(lines)
        near_misses = [s for s in out.screened if s.id not in answered]  # not the paper a fallback answered from
        out.notes = "\n".join(filter(None, [out.notes, self._notes(near_misses, len(quotes), len(out.screened))]))
        yield out

    def _single_fallback(
        self, question: str, papers: list[Paper], named: Collection[str], out: Composed
    ) -> Generator[TokenEvent, None, set[str]]:
        """A list question no screened paper addresses as a whole, answered as a single question (its own screening
        prompt and threshold) into ``out``; its decisions are not streamed again, the list's already were. Returns
        the id of the paper answered from (none when it refuses too)."""
        single = Composed()
        for event in self._single(question, papers, named):
            if isinstance(event, Composed):
                single = event
            elif isinstance(event, TokenEvent):
                yield event
        out.text, out.replaced = single.text, out.replaced + single.replaced
        cited = [s for s in single.screened if s.included and f"[{s.id}]" in single.text]
        if single.text:
            source = f" ({cited[0].name}, p {cited[0].p:.2f})" if cited else ""
            out.notes = (
                f"None of the {len(out.screened)} papers checked addresses the question as a whole; the answer is from "
                f"the best-matching abstract that answers it{source}."
            )
            return {s.id for s in cited}
        out.refusal = f"none of the {len(out.screened)} candidate papers checked addresses the question"
        return set()

    def _fill_summary(self, question: str, papers: list[Paper], lines: list[str], out: Composed) -> Iterator[TokenEvent]:
        """A summary of fewer sentences than ``answer.summary_min_sentences`` (one or two papers included) gets
        the included papers' further quotes that say something new, verbatim, each after its paper's sentence."""
        room = self.cfg.summary_min_sentences - sum(len(split_sentences(line)) for line in lines)
        if room <= 0:
            return
        share = -(-room // len(papers))  # spread over the papers, first papers first
        for k, quotes in enumerate(self._quotes(question, papers, self.cfg.summary_min_sentences + 1)):
            added = self._unsaid(quotes, lines[k], min(share, room), out)
            if added:
                lines[k] = " ".join([lines[k], *added])
                room -= len(added)
                yield TokenEvent(" ".join(added) + "\n")
            if room <= 0:
                break

    def _grouped(self, lines: list[str]) -> str:
        """Summary sentences in paragraphs of similar contributions (MiniLM cosine of the sentences)."""
        if len(lines) < 3:
            return " ".join(lines)
        vecs = self.selector.embedder.embed(lines)
        groups = group_by_similarity(vecs, self.cfg.summary_group_similarity)
        return "\n\n".join(" ".join(lines[i] for i in g) for g in groups)

    def _notes(self, near_misses: list[ScreenedPaper], total: int, checked: int) -> str:
        """'Also considered, not included' (the rejected of ``near_misses`` likely enough to mention), then how many
        of the ``total`` candidates were ``checked``."""
        near = [s for s in near_misses if not s.included and s.p >= self.cfg.near_miss_p]
        parts = []
        if near:
            parts.append("Also considered, not included:")
            parts.extend(f"- {s.title} ({s.id}): judged not to address the question (p {s.p:.2f})" for s in near)
        parts.append(f"Checked {checked} of {total} candidates.")
        return "\n".join(parts)

    # -- compare ----------------------------------------------------------------
    def _compare(self, question: str, papers: list[Paper], n: int) -> Iterator[ScreenEvent | SideEvent | TokenEvent | Composed]:
        out = Composed()
        chosen = papers[: max(2, n)]
        if len(chosen) < 2:
            yield from self._single(question, papers)
            return
        aspects = list(self.cfg.compare_aspects)
        task = self.steps.prompt.parts["aspects"].replace("{aspect_lines}", "\n".join(f"{a}:" for a in aspects))
        lines: list[str] = []
        rows: list[tuple[Paper, str, dict[str, str]]] = []
        sides = self._quotes(question, chosen, self.cfg.compare_quotes)
        names = [self.name(qt.paper) for qt in sides]
        for i, (qt, name) in enumerate(zip(sides, names)):
            yield SideEvent(i + 1, len(sides), qt.paper, qt.best, name)
        for qt, name in zip(sides, names):
            written = self._first(question, qt, "compare", write=self.cfg.compare_write)
            line = self._sentence(written, qt.paper, out, name=name)
            if self.cfg.compare_fill_quotes:
                line = " ".join([line, *self._unsaid(qt, line, 1, out)])
            lines.append(line)
            yield TokenEvent(line + " ")
            reply = self.steps.generate(question, qt.block(), task, max_tokens=self.cfg.aspect_max_tokens)
            rows.append((qt.paper, name, parse_cells(reply, aspects, qt.paper.abstract)))
        out.table = self._table(rows, aspects)
        contrast = self._contrast(question, rows)
        if contrast:
            lines.append(contrast)
            yield TokenEvent(contrast)
        out.text = " ".join(lines)
        yield out

    @staticmethod
    def _table(rows: list[tuple[Paper, str, dict[str, str]]], aspects: list[str]) -> str:
        header = "| Paper | " + " | ".join(aspects) + " |"
        rule = "|---" * (len(aspects) + 1) + "|"
        body = [f"| {name} [{paper.id}] | " + " | ".join(cells[a] for a in aspects) + " |" for paper, name, cells in rows]
        return "\n".join([header, rule, *body])

    def _contrast(self, question: str, rows: list[tuple[Paper, str, dict[str, str]]]) -> str:
        """One or two sentences written from the table cells only; markers [n] become the papers' ids.

        The small model labels sentences with the numbers ("[1][2] Both papers ...", "[1] uses X, while [2] ..."):
        labels move to the end of their sentence and numbers used as names become the papers' names
        (:func:`agent.chain.citations.name_marker_mentions`), and a sentence cites every compared paper it names
        (:func:`cite_named`). The labels had been read as citations of the sentence before them: the side quote
        before the contrast was cited to the other paper too, and each contrast sentence to the wrong one. On the
        19 compare questions (evals/questions.jsonl + compare_questions.jsonl) with the 1.5B, two answers whose
        contrast the checker withheld became faithful (q043, q046)."""
        blocks = []
        for n, (_, name, cells) in enumerate(rows, start=1):
            stated = [f"{a}: {v}" for a, v in cells.items() if v != NOT_STATED]
            if stated:
                blocks.append(f"[{n}] {name}\n" + "\n".join(stated))
        if len(blocks) < 2:
            return ""
        text = "Papers:\n" + "\n\n".join(blocks)
        messages = self.steps.messages(question, text, self.steps.prompt.parts["contrast"])
        with self.steps.timed("write"):
            reply = self.steps.complete(messages, self.cfg.contrast_max_tokens)
        reply = name_marker_mentions(reply, {n: name for n, (_, name, _) in enumerate(rows, start=1)})
        mapper = MarkerMapper({n: paper.id for n, (paper, _, _) in enumerate(rows, start=1)})
        reply = "".join(mapper.map_stream([reply]))
        ids = [paper.id for paper, _, _ in rows]
        named = [(paper.id, name) for paper, name, _ in rows]
        source = " ".join(paper.abstract for paper, _, _ in rows)
        kept = []
        for s in split_sentences(reply)[:2]:
            if has_foreign_numbers(s, source) or not re.search(r"[A-Za-z]{3}", s):
                continue
            if not re.search(r"\[[^\]]+\]\s*[.!?]?$", s):
                s = s.rstrip(".") + " " + "".join(f"[{i}]" for i in ids) + "."
            kept.append(cite_named(s, named))
        return " ".join(kept)
