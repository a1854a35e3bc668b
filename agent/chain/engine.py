"""The answer engine: plan -> retrieve -> compact evidence -> generate (streamed) -> cite.

:meth:`AnswerEngine.stream` yields events so the CLI and UI can show the
retrieved papers before the first token, then the tokens, then the finished
:class:`~agent.types.Answer`. History is passed in (see :class:`Conversation`),
so one engine serves many chat sessions without mixing them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.chain.citations import (
    REFUSAL_TEXT,
    MarkerMapper,
    attach_missing_citations,
    cited_ids,
    clean_markers,
    drop_example_echoes,
    format_references,
    is_refusal,
    reference_list,
)
from agent.chain.classify import (
    QuestionPlan,
    Turn,
    asks_for_a_paper,
    compared_within,
    is_request,
    named_as_themselves,
    plan_question,
    unwritten_subject,
    validate_question,
)
from agent.chain.checking import withhold_numberless
from agent.chain.compose import Composed, Composer
from agent.chain.events import DoneEvent, Event, RetrievalEvent, ScreenEvent, TokenEvent
from agent.chain.evidence import EvidenceBlock, EvidenceSelector, render_blocks
from agent.chain.hygiene import clean_paper
from agent.chain.lc import build_generation_chain
from agent.chain.quotes import QuoteSteps
from agent.chain.repetition import SoftLimit, first_repeat
from agent.chain.roles import role_model_for
from agent.chain.tables import comparison_table
from agent.errors import QuestionError
from agent.index.embeddings import sentence_embedder_for
from agent.llm import LLM, load_llm
from agent.prompts import load_prompt
from agent.retrieval import Retriever, open_retriever
from agent.retrieval.sides import resolve_sides, side_finds_another
from agent.sentences import cited_sentences
from agent.settings import Settings
from agent.types import Answer, Citation, Evidence, Paper, SearchHit, Timings

#: A summary of at most this many papers quotes whole abstracts.
WHOLE_ABSTRACT_PAPERS = 2


#: Post-processing hook (the faithfulness checker): (answer, evidence papers by id) -> None, edits in place.
AnswerHook = Callable[[Answer, dict[str, Paper]], None]


def _manifest_version(directory: Path) -> str:
    """``version`` of a shipped model's manifest.json ("missing" when it cannot be read; loading reports why)."""
    try:
        return str(json.loads((directory / "manifest.json").read_text(encoding="utf-8")).get("version", "?"))
    except (OSError, ValueError, AttributeError):
        return "missing"


def trained_models(settings: Settings) -> dict[str, str]:
    """The trained models that shape an answer under ``settings``, by role: name and version (recorded in
    every eval run next to the answering model and prompt version)."""
    from agent.chain.roles import VERSION as ROLES_VERSION
    from agent.chain.screening import MODEL_DIR as SCREENING_DIR
    from agent.faithfulness.learned import PACKAGED_DIR as LEARNED_DIR
    from agent.faithfulness.verifier import PACKAGED_DIR as VERIFIER_DIR

    a, f = settings.answer, settings.faithfulness
    out = {"embedder": settings.index.embed_model, "sentences": settings.index.sentence_model}
    if a.role_weight:
        out["roles"] = ROLES_VERSION
    if a.pipeline == "quotes" and a.screen_by == "model":
        out["screening"] = _manifest_version(a.screening_path or SCREENING_DIR)
    out["checker"] = f.engine
    if f.engine in ("learned", "verifier"):
        out["verifier"] = _manifest_version(f.verifier_path or VERIFIER_DIR)
    if f.engine == "learned":
        out["learned"] = _manifest_version(f.learned_path or LEARNED_DIR)
    return out


@dataclass
class AnswerEngine:
    settings: Settings
    retriever: Retriever | None = None
    llm: LLM | None = None
    hooks: list[AnswerHook] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.retriever = self.retriever or open_retriever(self.settings)
        self.selector = EvidenceSelector(
            sentence_embedder_for(self.settings),
            cache_dir=self.settings.home / "cache" / "sentences",
            cache_key=self.settings.index.sentence_model,
            roles=role_model_for(self.settings),
        )
        self._model_lock = threading.Lock()
        self.prompt = load_prompt("answer")
        self.condense_prompt = load_prompt("condense")
        self.quotes_prompt = load_prompt("quotes")

    def _off_topic(self, hits: list[SearchHit], relevance: float) -> bool:
        """No retrieved paper is about the question: by its best sentence (the sentence model), or by the
        best paper-level dense score, unless a paper's name matched the question."""
        cfg = self.settings.answer
        if relevance < cfg.min_relevance:
            return True
        if any("name" in h.ranks for h in hits):
            return False
        dense = [h.scores["dense"] for h in hits if "dense" in h.scores]
        return bool(dense) and max(dense) < cfg.min_dense_relevance

    def _unwritten_subject(self, plan: QuestionPlan) -> str | None:
        """The name a single question or a compared side is about that no indexed paper writes (None when
        ``answer.refuse_unwritten_names`` is off). Papers chosen for the question (a follow-up's, or pinned) do not
        change that: "Does DiffCSE handle them too?" after a list had been refused as "the abstract of DCLR does not
        answer the question"."""
        if not self.settings.answer.refuse_unwritten_names:
            return None
        retriever = self.retriever
        assert retriever is not None
        searched = lambda: [h.paper for h in retriever.search(plan.retrieval_query)]  # noqa: E731
        return unwritten_subject(plan, retriever.names, retriever.mentioned_by, searched)

    @property
    def prompt_version(self) -> str:
        """The version of the prompt the configured pipeline answers with (recorded in every answer)."""
        return (self.quotes_prompt if self.settings.answer.pipeline == "quotes" else self.prompt).version

    # -- model ---------------------------------------------------------------
    def model(self) -> LLM:
        """The answering model, loaded on first use (a local model takes seconds to load). Thread-safe."""
        with self._model_lock:
            if self.llm is None:
                self.llm = load_llm(self.settings.llm.model, self.settings)
            return self.llm

    def _prefetch_model(self) -> threading.Thread | None:
        """Start loading the model in the background, so it loads while retrieval runs (cold starts)."""
        if self.llm is not None:
            return None

        def load() -> None:
            try:
                self.model()
            except Exception:  # the answering thread's own model() call reports it
                pass

        thread = threading.Thread(target=load, name="citewise-model-load", daemon=True)
        thread.start()
        return thread

    # -- retrieval ---------------------------------------------------------
    def _retrieve(self, plan: QuestionPlan, k: int | None = None) -> list[SearchHit]:
        """Hits for ``plan``: at most ``k`` papers (default: the settings' count for the question type)."""
        assert self.retriever is not None
        cfg = self.settings.answer
        if plan.pinned:
            papers = self.retriever.store.get_papers(plan.pinned)
            unknown = set(plan.pinned) - {p.id for p in papers}
            if unknown:
                raise QuestionError(f"unknown paper id(s): {', '.join(sorted(unknown))} (see `citewise papers`)")
            return [SearchHit(paper=p, score=1.0, ranks={"pinned": i}) for i, p in enumerate(papers, start=1)]
        if k is None and plan.qtype in ("list", "summary"):
            # Quote-built answers screen the first answer.screen_candidates; the answer still reports the usual
            # top retrieval.k as retrieved ("checked 8 of 10 candidates").
            k = max(cfg.screen_candidates, self.settings.retrieval.k) if cfg.pipeline == "quotes" else cfg.list_papers
        k = k or cfg.papers
        if plan.restrict_to:
            allowed = set(plan.restrict_to)
            hits = [h for h in self.retriever.search(plan.retrieval_query, self.settings.retrieval.candidates) if h.paper.id in allowed]
            return hits[:k]
        hits = self.retriever.search(plan.retrieval_query, k)
        if plan.qtype == "single" and plan.named and not asks_for_a_paper(plan.question):
            # A question that names a paper as the paper names itself (its whole title, or the name its title opens
            # with) is answered from that paper alone, wherever the search ranked it: "How much does LLM2Vec improve
            # on MTEB?" had been answered with NV-Embed's scores when LLM2Vec's sentences gave no number. So is one
            # using a name a title holds that no other paper defines or mentions: "Does Poly-View need large
            # batches?" had been answered from SwAV's "can be trained with large and small batches" (of SciFact's
            # 809 training claims, 48 are now answered from one paper, 46 of them from a gold one; before, 5 and
            # 3). A name that only an abstract spells out ("... Benchmark (MTEB)", PubMedQA's "(PRISM)", "(INR)")
            # is often a shared term: 26 of PubMedQA's 973 single questions use one that another study defines.
            # ("Which paper extends LightGCL?" asks for another paper than the one it names.)
            own = named_as_themselves(
                self.retriever.store.get_papers(plan.named), plan.question, self.retriever.names, self.retriever.mentioned_by
            )
            if own:
                plan.about_named = True
                found = {h.paper.id: h for h in hits}
                hits = [found.get(p.id) or SearchHit(paper=p, score=0.0, ranks={"name": 1}) for p in own]
        if plan.qtype == "compare" and plan.sides and hits and not any(self.retriever.names.search(side) for side in plan.sides):
            # Sides no paper is named for ("rural or urban residence"), all mentioned by the best hit: a comparison
            # made within one study. (A side named by the best hit itself is not enough: "TSCTM or the multi-objective
            # contrastive topic model" names TSCTM's paper, whose abstract also has the other side's words.)
            # Asked as a request or a wh-question ("How do X and Y differ?", "Compare X and Y"), described sides are
            # usually two papers' methods, whose words one abstract may well share: there no side may find another of
            # the best hits first. A yes/no question ("Does rural or urban residence make a difference ...?") asks
            # what one study found, and its sides ("whites") are often too plain to search on their own.
            if compared_within(hits[0].paper, plan.sides, cfg.within_side_share) and not (
                is_request(plan.question) and side_finds_another(self.retriever, plan.question, plan.sides, hits, cfg.compare_papers)
            ):
                plan.qtype, plan.sides = "single", []
        if plan.qtype == "compare" and plan.sides:
            first = resolve_sides(self.retriever, plan.question, plan.sides, cfg.compare_side_candidates)
            first = first[: cfg.compare_max_papers]
            plan.compared = len(first) if len(first) >= 2 else 0
            seen = {h.paper.id for h in first}
            hits = (first + [h for h in hits if h.paper.id not in seen])[: max(k, len(first))]
        return hits

    def _screen(self, hits: list[SearchHit]) -> tuple[list[SearchHit], list[Evidence]]:
        """Evidence hygiene: hits whose papers lack the text that addresses the model, and that text.

        Every later step (evidence, prompt, reference titles, automatic
        citation, the checker's evidence) reads these cleaned papers, so a
        screened sentence cannot reach the model or support an answer. A paper
        with no abstract sentence left is dropped from the hits.
        """
        if not self.settings.answer.evidence_hygiene:
            return hits, []
        kept: list[SearchHit] = []
        screened: list[Evidence] = []
        for hit in hits:
            paper, flagged = clean_paper(hit.paper)
            screened.extend(Evidence(id=paper.id, quote=f.text) for f in flagged)
            if paper.abstract.strip():
                kept.append(hit if paper is hit.paper else hit.model_copy(update={"paper": paper}))
        return kept, screened

    def _render_evidence(self, blocks: list[EvidenceBlock]) -> str:
        """The evidence section of the answer prompt, between the prompt's delimiters when ``answer.delimit_evidence``."""
        text = render_blocks(blocks)
        if not self.settings.answer.delimit_evidence:
            return text
        return f"{self.prompt.parts['evidence_open']}\n{text}\n{self.prompt.parts['evidence_close']}"

    # -- evidence ----------------------------------------------------------
    def _evidence(
        self, question: str, plan: QuestionPlan, papers: list[Paper], budget_tokens: int | None = None
    ) -> tuple[list[EvidenceBlock], float]:
        """Numbered evidence blocks and the best question-sentence similarity (relevance).

        ``budget_tokens`` overrides the settings' evidence budget for the question type.
        """
        cfg = self.settings.answer
        if budget_tokens is None:
            budget_tokens = cfg.list_evidence_budget_tokens if plan.qtype in ("list", "summary") else cfg.evidence_budget_tokens
        whole = plan.qtype == "summary" and len(papers) <= WHOLE_ABSTRACT_PAPERS
        llm = self.model()
        blocks = self.selector.select(
            question,
            papers,
            cfg.sentences_per_paper,
            whole=whole,
            budget_tokens=budget_tokens,
            count_tokens=llm.count_tokens,
            keep_all=bool(plan.pinned),
        )
        relevance = self.selector.relevance(question, papers)
        if llm.count_tokens(render_blocks(blocks)) > cfg.context_budget_tokens:
            blocks = self._condense(question, blocks)
        return blocks, relevance

    def _condense(self, question: str, blocks: list[EvidenceBlock]) -> list[EvidenceBlock]:
        """Map step of map-reduce: shrink each paper's evidence to two sentences with the model."""
        llm = self.model()
        out = []
        for block in blocks:
            messages = self.condense_prompt.render(question=question, title=block.paper.title, text=" ".join(block.sentences))
            summary = llm.complete(messages, max_tokens=120).strip()
            # A refusal or empty map output would erase the paper's evidence: keep its best sentence instead.
            keep = summary if summary and not is_refusal(summary) else block.sentences[0]
            out.append(EvidenceBlock(block.number, block.paper, [keep]))
        budget = self.settings.answer.context_budget_tokens
        while len(out) > 1 and llm.count_tokens(render_blocks(out)) > budget:
            out.pop()  # still too big: drop the lowest-ranked paper
        return out

    def evidence_for(
        self, question: str, papers: int | None = None, budget_tokens: int | None = None
    ) -> tuple[QuestionPlan, list[SearchHit], list[EvidenceBlock], float]:
        """Plan, retrieval and compact evidence of a fresh question, without generating.

        For callers that put the evidence into their own prompt (the PubMedQA
        yes/no decision). ``papers`` and ``budget_tokens`` override the
        settings' paper count and evidence budget. Returns the plan, the hits,
        the numbered evidence blocks and the retrieval time in seconds.
        """
        t0 = time.perf_counter()
        assert self.retriever is not None
        q = validate_question(question, self.settings.answer.max_question_chars)
        plan = plan_question(q, [], self.retriever.names)
        hits, _ = self._screen(self._retrieve(plan, papers))
        retrieve_s = time.perf_counter() - t0
        blocks = self._evidence(q, plan, [h.paper for h in hits], budget_tokens)[0] if hits else []
        return plan, hits, blocks, retrieve_s

    # -- the whole flow ----------------------------------------------------
    def stream(
        self,
        question: str,
        history: Sequence[Turn] = (),
        paper_ids: list[str] | None = None,
        force_type: str | None = None,
    ) -> Iterator[Event]:
        """Answer ``question``; yields RetrievalEvent, TokenEvent..., DoneEvent."""
        assert self.retriever is not None
        t0 = time.perf_counter()
        q = validate_question(question, self.settings.answer.max_question_chars)
        plan = plan_question(q, list(history), self.retriever.names)
        if paper_ids:
            plan.pinned = list(paper_ids)
        if force_type:
            plan.qtype = force_type  # type: ignore[assignment]
        loading = self._prefetch_model()
        hits, screened = self._screen(self._retrieve(plan))
        retrieve_s = time.perf_counter() - t0
        if loading is not None:
            # llama-cpp-python points the process' stdout and stderr at /dev/null while it loads a model, so anything
            # shown before the load ends is lost (a cold `citewise ask` of an off-topic question printed nothing).
            loading.join()
        yield RetrievalEvent(hits, plan, retrieve_s)

        papers = [h.paper for h in hits]
        by_id = {p.id: p for p in papers}
        composed: Composed | None = None
        quotes = self.settings.answer.pipeline == "quotes"
        if quotes:  # each step picks its own paper's quotes; only the relevance gate is needed here
            blocks, relevance = [], self.selector.relevance(q, papers)
        else:
            blocks, relevance = self._evidence(q, plan, papers) if papers else ([], 0.0)
        timings = Timings(retrieve_s=round(retrieve_s, 4))
        model_name = self.settings.llm.model if self.llm is None else self.llm.name
        missing = self._unwritten_subject(plan)
        if (
            missing
            or not papers
            or (not quotes and not blocks)
            or (not plan.pinned and not plan.about_named and self._off_topic(hits, relevance))
        ):
            plan.qtype = "out_of_scope"
            why = f"No indexed paper mentions {missing}." if missing else "No indexed paper is about this question."
            text = f"{REFUSAL_TEXT} {why}"
            yield TokenEvent(text)
            pieces_text, unknown, usage = text, 0, (0, 0)
            timings.first_token_s = round(time.perf_counter() - t0, 4)
        elif quotes:
            llm = self.model()
            model_name = llm.name
            cfg = self.settings.answer
            steps = QuoteSteps(llm, self.quotes_prompt, self._supports, cfg.write_max_tokens, cfg.max_question_echo_words)
            for event in Composer(steps, self.selector, self.settings.answer, self.retriever.names).run(
                # "Which paper extends LightGCL?" asks for another paper than the one it names: none is preferred.
                q, plan.qtype, hits, plan.compared, () if asks_for_a_paper(q) else plan.named, plan.one_paper
            ):
                if isinstance(event, Composed):
                    composed = event
                    continue
                if timings.first_token_s is None:  # the first visible result: a decided paper or a sentence
                    timings.first_token_s = round(time.perf_counter() - t0, 4)
                yield event
            pieces_text = composed.text or f"{REFUSAL_TEXT} ({composed.refusal}.)"
            unknown, usage = 0, (steps.tokens_in, steps.tokens_out)
            answer_steps = steps.step_seconds()
        else:
            llm = self.model()
            model_name = llm.name
            evidence_text = self._render_evidence(blocks)
            messages = self.prompt.render(
                question=plan.question if not plan.restrict_to else f"{plan.question} (follow-up to: {history[-1].question})",
                evidence=evidence_text,
                task=self.prompt.parts[plan.qtype],
            )
            mapper = MarkerMapper({b.number: b.paper.id for b in blocks})
            chain = build_generation_chain(llm, self.settings.llm.max_tokens)
            parts: list[str] = []
            limit = SoftLimit(llm, self.settings.answer.soft_max_tokens)
            for piece in mapper.map_stream(chain.stream(messages)):
                if timings.first_token_s is None:
                    timings.first_token_s = round(time.perf_counter() - t0, 4)
                piece, done = limit.feed("".join(parts), piece)
                if piece:
                    parts.append(piece)
                    yield TokenEvent(piece)
                if done:
                    break  # long enough and at a sentence end: closing the stream stops the model
                if any(c in piece for c in ".!?\n") and first_repeat("".join(parts)) is not None:
                    break  # a loop: closing the stream stops the model
            pieces_text, unknown = "".join(parts), mapper.unknown
            if limit.cut_at is not None:
                pieces_text = pieces_text[: limit.cut_at].rstrip()
            cut = first_repeat(pieces_text, complete=True)
            pieces_text = pieces_text[:cut].rstrip() if cut is not None else pieces_text
            pieces_text, _ = drop_example_echoes(pieces_text, self.prompt.example_terms, f"{evidence_text}\n{q}")
            usage = (llm.last_usage.tokens_in, llm.last_usage.tokens_out)

        evidence = papers if quotes else [b.paper for b in blocks]
        answer = self._finish(q, plan, pieces_text, unknown, papers, hits, model_name, timings, usage, evidence, composed)
        answer.screened_evidence = screened
        if self.settings.answer.withhold_numberless:
            withhold_numberless(answer)
        t_check = time.perf_counter()
        for hook in self.hooks:
            hook(answer, by_id)
        check_s = time.perf_counter() - t_check
        if composed is not None:
            answer.step_seconds = answer_steps
            answer.withheld_sentences[:0] = composed.replaced
            answer.screened = composed.screened
            if composed.notes:
                answer.notes = composed.notes
                answer.answer = f"{answer.answer}\n\n{composed.notes}"
        if self.hooks:
            answer.step_seconds = {**answer.step_seconds, "final_check": {"s": round(check_s, 3), "calls": 1}}
        answer.timings.total_s = round(time.perf_counter() - t0, 4)
        yield DoneEvent(answer, Turn(question=q, retrieved=[p.id for p in papers], cited=[c.id for c in answer.citations]))

    def _finish(
        self,
        question: str,
        plan: QuestionPlan,
        text: str,
        unknown: int,
        papers: list[Paper],
        hits: list[SearchHit],
        model_name: str,
        timings: Timings,
        usage: tuple[int, int],
        evidence: list[Paper] | None = None,
        composed: Composed | None = None,
    ) -> Answer:
        allowed = {p.id for p in papers}
        prose, removed = clean_markers(text, allowed)
        refused = is_refusal(prose) or not prose
        auto = 0
        if not refused and papers:
            prose, auto = attach_missing_citations(prose, self._closest_paper(evidence or papers))
        if not prose:
            prose = REFUSAL_TEXT
        cited = cited_ids(prose, allowed)
        by_id = {p.id: p for p in papers}
        citations = reference_list([by_id[i] for i in cited])
        table = None
        if composed is not None:
            table = composed.table if not refused else None
        elif plan.qtype == "compare" and not refused:
            table = comparison_table([by_id[i] for i in cited] or papers[: max(2, len(plan.sides))])
        references = format_references(citations)
        return Answer(
            question=question,
            answer=prose + (f"\n\n{references}" if references else ""),
            citations=citations,
            sentences=cited_sentences(prose),
            refused=refused,
            model=model_name,
            prompt_version=self.prompt_version,
            timings=timings,
            question_type=plan.qtype,
            retrieved=[Citation(id=h.paper.id, title=h.paper.title) for h in hits],
            removed_citations=removed + unknown,
            auto_citations=auto,
            table=table,
            tokens_in=usage[0],
            tokens_out=usage[1],
        )

    def _supports(self, sentence: str, paper: Paper) -> bool:
        """The fast checker's verdict on one sentence against one paper (the quote-built answers' gate)."""
        from agent.faithfulness.answers import checker_for

        result = checker_for(self.settings, "fast").check(f"{sentence} [{paper.id}]", {paper.id: (paper.title, paper.abstract)})
        return result.verdict.verdict == "faithful"

    def _closest_paper(self, papers: list[Paper]) -> Callable[[str], str | None]:
        """For automatic citation: the paper with the abstract sentence closest to a text, if close enough."""
        floor = self.settings.answer.auto_cite_min_similarity

        def choose(text: str) -> str | None:
            vec = self.selector.embedder.embed([text])[0]
            best_id, best = None, floor
            for paper in papers:
                score = float((self.selector.sentences(paper)[1] @ vec).max())
                if score >= best:
                    best_id, best = paper.id, score
            return best_id

        return choose

    def ask(self, question: str, history: Sequence[Turn] = (), **kwargs: object) -> tuple[Answer, Turn]:
        """Answer without streaming."""
        for event in self.stream(question, history, **kwargs):  # type: ignore[arg-type]
            if isinstance(event, DoneEvent):
                return event.answer, event.turn
        raise RuntimeError("answer stream ended without a result")  # pragma: no cover


@dataclass
class Conversation:
    """A chat: the engine plus this session's history, for follow-up questions."""

    engine: AnswerEngine
    history: list[Turn] = field(default_factory=list)

    def stream(self, question: str, **kwargs: object) -> Iterator[Event]:
        keep = self.engine.settings.answer.history_turns
        for event in self.engine.stream(question, self.history[-keep:] if keep else [], **kwargs):  # type: ignore[arg-type]
            if isinstance(event, DoneEvent):
                self.history.append(event.turn)
            yield event

    def ask(self, question: str, **kwargs: object) -> Answer:
        for event in self.stream(question, **kwargs):
            if isinstance(event, DoneEvent):
                return event.answer
        raise RuntimeError("answer stream ended without a result")  # pragma: no cover
