"""Quote-built answers (agent/chain/quotes.py, compose.py) with scripted and fake models.

Screening thresholds and order, streaming events, the JSON shape, the output
policy (a written sentence that fails the checks becomes its quote), the
comparison table, and the engine wiring over the bundled corpus.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence

import pytest
from support import FAKE_SCREENING
from support import BagOfWordsEmbedder as WordEmbedder

from agent.chain import AnswerEngine, DoneEvent, RetrievalEvent, ScreenEvent, SideEvent, TokenEvent
from agent.chain.classify import compared_within, plan_question
from agent.chain.compose import NOT_STATED, Composed, Composer, about, cite_named, group_by_similarity, parse_cells
from agent.chain.evidence import EvidenceSelector
from agent.chain.quotes import Quotes, QuoteSteps, has_foreign_numbers, numbers_in, pick_quotes, terms, without_title
from agent.llm.base import LLM, ChatMessage, Usage
from agent.prompts import load_prompt
from agent.sentences import split_sentences
from agent.retrieval import open_retriever
from agent.retrieval.names import NameIndex, display_name
from agent.settings import AnswerSettings
from agent.types import Paper, SearchHit

PAPERS = [
    Paper(id="pA", title="Alpha: Debiased Negatives", abstract="We study contrastive learning. Alpha punishes false negatives with instance weights. It improves accuracy by 2.5 points."),
    Paper(id="pB", title="Beta Graphs for Recommendation", abstract="We model users as graphs. Beta uses graph convolution. It reaches 75.3% recall."),
    Paper(id="pC", title="Gamma Clusters", abstract="Gamma clusters negatives to find false negatives. Clustering removes them from the loss."),
    Paper(id="pD", title="Delta Audio", abstract="Delta separates speech sources. It works on noisy audio."),
]


class ScriptedLLM(LLM):
    """P(YES) per paper title and a reply per (task kind, title); records every prompt it is given."""

    def __init__(self, p_yes: dict[str, float], replies: dict[tuple[str, str], str] | None = None, default: str = "") -> None:
        super().__init__(name="scripted")
        self.p_yes = p_yes
        self.replies = replies or {}
        self.default = default
        self.prompts: list[str] = []

    def _title(self, text: str) -> str:
        m = re.search(r"^\[\d+\] (.+)$", text, re.M)
        return m.group(1) if m else ""

    def _kind(self, text: str) -> str:
        prompt = load_prompt("quotes")
        for key, value in prompt.parts.items():
            if value.split("{")[0].strip() in text:
                return key
        return "?"

    def choice_logprobs(self, messages: list[ChatMessage], choices: Sequence[str]) -> dict[str, float] | None:
        text = messages[-1]["content"]
        self.prompts.append(text)
        p = min(max(self.p_yes.get(self._title(text), 0.0), 1e-9), 1 - 1e-9)
        self.last_usage = Usage(10, 1)
        return {"YES": math.log(p), "NO": math.log(1 - p)}

    def stream(self, messages: list[ChatMessage], *, max_tokens: int | None = None, stop: list[str] | None = None) -> Iterator[str]:
        text = messages[-1]["content"]
        self.prompts.append(text)
        reply = self.replies.get((self._kind(text), self._title(text)), self.default)
        words = reply.split(" ")
        if max_tokens is not None and len(words) > max_tokens:  # a word a token: cut at the limit, as a model is
            reply, self.last_usage = " ".join(words[:max_tokens]), Usage(10, max_tokens)
        else:
            self.last_usage = Usage(10, 5)
        yield reply

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def _supports_by_words(sentence: str, paper: Paper) -> bool:
    """A stand-in checker: every content word of the sentence is in the paper."""
    words = set(re.findall(r"[a-z]{4,}", sentence.lower())) - {"paper", "this", "that", "with"}
    return words <= set(re.findall(r"[a-z]{4,}", f"{paper.title} {paper.abstract}".lower()))


def _composer(llm: LLM, **cfg: object) -> Composer:
    # The written sentences alone, unless a test is about the quotes that follow a short answer.
    cfg.setdefault("single_fill_quotes", False)
    cfg.setdefault("list_fill_quotes", False)
    cfg.setdefault("list_write", True)
    cfg.setdefault("compare_write", True)
    cfg.setdefault("summary_write", True)
    cfg.setdefault("summary_min_sentences", 1)
    cfg.setdefault("compare_fill_quotes", False)
    steps = QuoteSteps(llm, load_prompt("quotes"), _supports_by_words)
    return Composer(steps, EvidenceSelector(WordEmbedder()), AnswerSettings(**cfg))


def _run(composer: Composer, question: str, qtype: str, papers: list[Paper] = PAPERS) -> tuple[list, Composed]:
    events = list(composer.run(question, qtype, [SearchHit(paper=p, score=1.0) for p in papers]))
    assert isinstance(events[-1], Composed)
    return events[:-1], events[-1]


def test_numbers_and_terms() -> None:
    assert numbers_in("reaches 75.3% and 1,000 users in 2 runs") == {"75.3", "1000", "2"}
    assert has_foreign_numbers("It reaches 80% recall [pB].", PAPERS[1].abstract)
    assert not has_foreign_numbers("It reaches 75.3% recall [pB].", PAPERS[1].abstract)
    assert terms("Which papers address false negatives?") >= {"fals", "negat"}


def test_quotes_are_the_best_matching_sentences_in_abstract_order() -> None:
    sel = EvidenceSelector(WordEmbedder())
    q = pick_quotes(sel, "which method punishes false negatives", PAPERS[0], 2)
    assert q.sentences[q.best_index] == "Alpha punishes false negatives with instance weights."
    assert all(s in PAPERS[0].abstract for s in q.sentences)
    assert PAPERS[0].abstract.index(q.sentences[0]) < PAPERS[0].abstract.index(q.sentences[1])
    assert q.block().startswith("Paper:\n[1] Alpha: Debiased Negatives\n")


def test_a_title_in_the_question_does_not_choose_the_quotes() -> None:
    """The paper's own title names it and says nothing about which of its sentences answers: left in, its words
    picked the background sentence that repeats them over the finding the question asks for."""
    paper = Paper(id="pS", title="Are Large Language Models Good Statisticians?", abstract=(
        "Large language models have shown impressive capabilities on scientific tasks. "
        "Our main finding is that models mostly make applicability errors while humans confuse tasks. "
        "We release a benchmark of statistical questions."))
    sel = EvidenceSelector(WordEmbedder())
    question = 'What\'s the main finding of "Are Large Language Models Good Statisticians?"'
    assert terms(without_title(question, paper)) == {"main", "find"}
    assert pick_quotes(sel, question, paper, 1).best.startswith("Our main finding")
    # Without the title the words "large language models" win: that is what the title would have chosen.
    assert pick_quotes(sel, "large language models main finding", paper, 1).best.startswith("Large language models")
    # A question that is only the title, or does not hold it, is used whole.
    assert without_title("Are large language models good statisticians?", paper) == "Are large language models good statisticians?"
    assert without_title("What do language models get wrong?", paper) == "What do language models get wrong?"


def test_the_header_names_a_paper_whose_title_does_not() -> None:
    """A question naming SwAV cannot be matched to 'Unsupervised Learning of Visual Features by Contrasting Cluster
    Assignments' when the quotes say "we": the header gives the name the answer calls the paper by."""
    swav = Paper(id="pS", title="Unsupervised Learning of Visual Features by Contrasting Cluster Assignments", abstract="x")
    sentences = ["We reach 75.3% top-1 accuracy on ImageNet."]
    assert Quotes(swav, sentences, name="SwAV").block().splitlines()[1] == f"[1] SwAV: {swav.title}"
    assert Quotes(swav, sentences).block().splitlines()[1] == f"[1] {swav.title}"
    gcl = Paper(id="pL", title="LightGCL: Simple Graph Contrastive Learning", abstract="x")
    assert Quotes(gcl, sentences, name="LightGCL").block(2).splitlines()[1] == f"[2] {gcl.title}"  # not twice


def test_list_screens_each_paper_alone_and_streams_decisions() -> None:
    llm = ScriptedLLM(
        {"Alpha: Debiased Negatives": 0.9, "Gamma Clusters": 0.7, "Beta Graphs for Recommendation": 0.3, "Delta Audio": 0.01},
        {("write_list", "Alpha: Debiased Negatives"): "The paper punishes false negatives with instance weights.",
         ("write_list", "Gamma Clusters"): "Gamma clusters negatives to find false negatives."},
    )
    events, out = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5, near_miss_p=0.2, screen_stop_after=0), "Which papers address false negatives?", "list")
    decisions = [e for e in events if isinstance(e, ScreenEvent)]
    assert [(d.paper.id, d.included) for d in decisions] == [("pA", True), ("pB", False), ("pC", True), ("pD", False)]
    assert [d.index for d in decisions] == [1, 2, 3, 4] and {d.total for d in decisions} == {4}
    # a paper's bullet is streamed right after its own decision
    kinds = [type(e).__name__ + (":" + e.paper.id if isinstance(e, ScreenEvent) else "") for e in events]
    assert kinds[:3] == ["ScreenEvent:pA", "TokenEvent", "ScreenEvent:pB"]
    assert out.text.splitlines() == [
        "- Alpha punishes false negatives with instance weights. [pA]",
        "- Gamma clusters negatives to find false negatives. [pC]",  # it names the paper already
    ]
    # every model call saw exactly one paper
    assert all(len(re.findall(r"^\[\d+\] ", p, re.M)) == 1 for p in llm.prompts)
    assert [s.model_dump() for s in out.screened][0] == {
        "id": "pA", "title": "Alpha: Debiased Negatives", "included": True, "p": 0.9,
        "quote": out.screened[0].quote,
    }
    assert "Also considered, not included:" in out.notes and "(pB)" in out.notes and "pD" not in out.notes
    assert out.notes.endswith("Checked 4 of 4 candidates.")


def test_a_written_sentence_that_restates_the_question_becomes_the_quote() -> None:
    """Words taken from the question that the paper never uses make a restatement, not a finding: even when the
    checker accepts it, the paper's own sentence is shown and the draft is kept with the words named."""
    from agent.chain.quotes import question_echo

    question = "Which papers encode each image as a spread of plausible positions?"
    echo = "Delta encodes each image as a spread of plausible positions."
    assert question_echo(echo, question, PAPERS[3]) == ["encod", "imag", "plausibl", "posit", "spread"]
    assert question_echo("Delta separates speech sources in noisy audio [pD].", question, PAPERS[3]) == []
    llm = ScriptedLLM({"Delta Audio": 0.9}, {("write_list", "Delta Audio"): echo})
    for max_echo, shown in ((3, "- Delta Audio: “"), (0, f"- Delta Audio: {echo} [pD]")):
        steps = QuoteSteps(llm, load_prompt("quotes"), lambda s, p: True, max_echo=max_echo)
        composer = Composer(steps, EvidenceSelector(WordEmbedder()), AnswerSettings(screen_by="p_yes", screen_threshold=0.5, list_write=True))
        _, out = _run(composer, question, "list", [PAPERS[3]])
        assert out.text.startswith(shown), out.text
    steps = QuoteSteps(llm, load_prompt("quotes"), lambda s, p: True, max_echo=3)
    composer = Composer(steps, EvidenceSelector(WordEmbedder()), AnswerSettings(screen_by="p_yes", screen_threshold=0.5, list_write=True))
    _, out = _run(composer, question, "list", [PAPERS[3]])
    assert [r.text for r in out.replaced] == [echo]
    assert "repeats the question's words that the paper does not use (encod, imag, plausibl, posit, spread)" in out.replaced[0].reason


def test_a_sentence_cut_off_at_the_token_limit_is_never_shown() -> None:
    """A single answer's sentences get answer.single_max_tokens; a last sentence the limit cut mid-way is dropped
    (kept as a replaced draft with the reason), the complete ones before it stay."""
    reply = "Alpha punishes false negatives with instance weights. It improves accuracy by 2.5 points."
    llm = ScriptedLLM({"Alpha: Debiased Negatives": 0.9}, {("write_single", "Alpha: Debiased Negatives"): reply})
    _, out = _run(_composer(llm, single_max_tokens=12), "How does Alpha handle false negatives?", "single", [PAPERS[0]])
    assert out.text == "Alpha punishes false negatives with instance weights. [pA]"
    assert [r.text for r in out.replaced] == ["It improves accuracy by 2.5"]
    assert "cut off at the 12-token limit" in out.replaced[0].reason
    # with room for the whole reply both sentences are shown
    _, out = _run(_composer(llm, single_max_tokens=40), "How does Alpha handle false negatives?", "single", [PAPERS[0]])
    assert out.text.endswith("weights. [pA] It improves accuracy by 2.5 points. [pA]") and not out.replaced


def test_a_single_answer_prefers_the_paper_the_question_names() -> None:
    """Of the candidates whose quotes answer, the one that defines a name the question uses is answered from,
    even when a neighbour's P(YES) is higher; with no such name the likeliest is."""
    llm = ScriptedLLM(
        {"Alpha: Debiased Negatives": 0.6, "Beta Graphs for Recommendation": 0.8},
        {("write_single", "Alpha: Debiased Negatives"): "Alpha punishes false negatives.",
         ("write_single", "Beta Graphs for Recommendation"): "Beta uses graph convolution."},
    )
    composer = _composer(llm)
    hits = [SearchHit(paper=p, score=1.0) for p in PAPERS[:2]]
    out = list(composer.run("What does Alpha do about negatives?", "single", hits, named=["pA"]))[-1]
    assert out.text == "Alpha punishes false negatives. [pA]"
    out = list(composer.run("What does Alpha do about negatives?", "single", hits))[-1]
    assert out.text == "Beta uses graph convolution. [pB]"
    llm.p_yes["Alpha: Debiased Negatives"] = 0.2  # a named paper whose quotes do not answer is not preferred
    out = list(composer.run("What does Alpha do about negatives?", "single", hits, named=["pA"]))[-1]
    assert out.text == "Beta uses graph convolution. [pB]"


def test_a_full_summary_stops_screening() -> None:
    """Once answer.summary_papers papers are included no later candidate can be, so none is read (each read costs
    about 1.5 s of the 1.5B on 2 cores); a list keeps screening every candidate."""
    llm = ScriptedLLM({p.title: 0.9 for p in PAPERS})
    events, out = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5, summary_papers=2), "Summarize negatives", "summary")
    assert [e.paper.id for e in events if isinstance(e, ScreenEvent)] == ["pA", "pB"]
    assert [s.included for s in out.screened] == [True, True] and out.notes.endswith("Checked 2 of 4 candidates.")
    assert len([p for p in llm.prompts if "YES or NO" in p]) == 2
    events, out = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5, summary_papers=2), "Which papers do negatives?", "list")
    assert len([e for e in events if isinstance(e, ScreenEvent)]) == 4
    # "Summarize the paper that ...": one paper, the first included
    hits = [SearchHit(paper=p, score=1.0) for p in PAPERS]
    events = list(_composer(llm, screen_by="p_yes", screen_threshold=0.5, summary_papers=2).run("Summarize the paper on negatives", "summary", hits, one_paper=True))
    assert [e.paper.id for e in events if isinstance(e, ScreenEvent)] == ["pA"] and "[pB]" not in events[-1].text


def test_a_summary_of_the_paper_is_of_one_paper_and_of_a_topic_is_not() -> None:
    names = NameIndex([])
    for one in ["Summarize the paper that benchmarks generative latent variable models for speech.", "Summarize the Symile paper.",
                "Can you give me an overview of this study?"]:
        assert plan_question(one, [], names).one_paper, one
    for topic in ["Can you summarize the work on LLM embeddings?", "Summarize the review and survey papers on contrastive learning.",
                  "Summarize what these abstracts say about posterior collapse"]:
        assert not plan_question(topic, [], names).one_paper, topic


def test_list_stops_after_a_run_of_rejections_and_refuses_when_none_qualifies() -> None:
    llm = ScriptedLLM({})
    events, out = _run(_composer(llm, screen_stop_after=2, screen_min_checked=3), "Which papers do X?", "list")
    assert len([e for e in events if isinstance(e, ScreenEvent)]) == 3
    assert out.text == "" and "none of the 3 candidate papers" in out.refusal
    assert out.notes == "Checked 3 of 4 candidates."


def test_a_list_no_paper_addresses_is_answered_as_a_single_question_before_refusing() -> None:
    # "What losses are used for X?": no paper addresses it as a whole (list threshold), one abstract answers it
    llm = ScriptedLLM({"Gamma Clusters": 0.6, "Alpha: Debiased Negatives": 0.3},
                      {("write_single", "Gamma Clusters"): "Gamma removes false negatives from the loss."})
    composer = _composer(llm, screen_by="p_yes", screen_threshold=0.9, single_threshold=0.45, single_candidates=3)
    events, out = _run(composer, "What losses are used with false negatives?", "list")
    assert [e.paper.id for e in events if isinstance(e, ScreenEvent)] == ["pA", "pB", "pC", "pD"]  # the list's only
    assert out.refusal is None and out.text == "Gamma removes false negatives from the loss. [pC]"
    assert [s.id for s in out.screened if s.included] == []  # the list's decisions, as streamed
    assert out.notes.startswith("None of the 4 papers checked addresses the question as a whole") and "Gamma Clusters, p 0.60" in out.notes
    assert "(pC)" not in out.notes and "(pA)" in out.notes  # not "judged not to address" for the paper it answers from
    assert out.notes.endswith("Checked 4 of 4 candidates.")
    _, off = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.9, list_fallback_single=False), "What losses are used?", "list")
    assert off.text == "" and "none of the 4 candidate papers" in off.refusal


def test_a_written_sentence_with_an_invented_number_becomes_the_quote() -> None:
    llm = ScriptedLLM(
        {"Beta Graphs for Recommendation": 0.95},
        {("write_single", "Beta Graphs for Recommendation"): "Beta reaches 80% recall with graph convolution."},
    )
    _, out = _run(_composer(llm), "What recall does Beta reach?", "single", PAPERS[1:2])
    assert out.text.startswith("“") and out.text.endswith("[pB]")
    assert "80%" not in out.text
    assert out.replaced and "number that its quotes do not contain" in out.replaced[0].reason
    assert out.replaced[0].text == "Beta reaches 80% recall with graph convolution."


def test_single_answers_from_the_most_likely_paper_and_refuses_without_one() -> None:
    llm = ScriptedLLM(
        {"Alpha: Debiased Negatives": 0.6, "Gamma Clusters": 0.8},
        {("write_single", "Gamma Clusters"): "Gamma clusters negatives to find false negatives.",
         ("write_single", "Alpha: Debiased Negatives"): "Alpha punishes false negatives."},
    )
    events, out = _run(_composer(llm, single_candidates=3), "How are false negatives found?", "single", [PAPERS[0], PAPERS[3], PAPERS[2]])
    assert out.text == "Gamma clusters negatives to find false negatives. [pC]"
    assert [e.paper.id for e in events if isinstance(e, ScreenEvent)] == ["pA", "pD", "pC"]
    _, none = _run(_composer(ScriptedLLM({})), "What is the boiling point of gold?", "single")
    assert none.text == "" and "none of the 3" in none.refusal
    _, one = _run(_composer(ScriptedLLM({})), "Does it beat SimCSE?", "single", [PAPERS[2]])  # a follow-up pinned to one paper
    assert one.text == "" and one.refusal.startswith("the abstract of ") and "does not answer" in one.refusal
    # the screening decided that the quotes answer: a writer that declines gets the best quote as the answer
    shy = ScriptedLLM({"Gamma Clusters": 0.9}, {("write_single", "Gamma Clusters"): "The abstracts do not say."})
    _, out = _run(_composer(shy), "How are false negatives found?", "single", [PAPERS[2]])
    assert out.text.startswith("“") and out.text.endswith("” [pC]") and "false negatives" in out.text
    assert "declined" in out.replaced[0].reason
    # a paper with no short name, written about as "It ...": the answer names it by its title, not "It"
    vague = ScriptedLLM({"Gamma Clusters": 0.9}, {("write_single", "Gamma Clusters"): "It clusters negatives to find false negatives."})
    _, out = _run(_composer(vague), "How are false negatives found?", "single", [PAPERS[2]])
    assert out.text == "Gamma Clusters clusters negatives to find false negatives. [pC]"
    long = Paper(id="pL", title="Sparse Autoencoders Reveal Universal Feature Spaces Across Large Language Models",
                 abstract="Sparse autoencoders: the method compares features across models.")
    vague = ScriptedLLM({long.title: 0.9}, {("write_single", long.title): "The paper compares features across models."})
    _, out = _run(_composer(vague), "How are features compared across LLMs?", "single", [long])
    assert out.text == f"{long.title} compares features across models. [pL]"  # whole, not cut with "…"


def test_a_short_single_answer_is_followed_by_the_quotes_that_say_what_it_left_out() -> None:
    """The model wrote one sentence: the paper's other quotes follow it verbatim, best match first but in abstract
    order, each streamed; a quote whose words the answer already says is not repeated; single_sentences caps the
    answer, and answer.single_fill_quotes=false keeps the written sentence alone."""
    paper = Paper(
        id="pE", title="EPS: Epsilon Sampling",
        abstract="EPS samples negatives by their epsilon hardness. Hard negatives are mixed with random ones. "
        "EPS raises recall by 4.2 points on three retrieval benchmarks.",
    )
    llm = ScriptedLLM({paper.title: 0.9}, {("write_single", paper.title): "The paper samples negatives by their epsilon hardness."})
    question = "How does EPS sample negatives and how much does it raise recall?"
    events, out = _run(_composer(llm, single_quotes=3, single_fill_quotes=True), question, "single", [paper])
    assert out.text == (
        "EPS samples negatives by their epsilon hardness. [pE] “Hard negatives are mixed with random ones.” [pE] "
        "“EPS raises recall by 4.2 points on three retrieval benchmarks.” [pE]"
    )
    assert [e.text for e in events if isinstance(e, TokenEvent)] == [
        "EPS samples negatives by their epsilon hardness. [pE]",
        " “Hard negatives are mixed with random ones.” [pE]",
        " “EPS raises recall by 4.2 points on three retrieval benchmarks.” [pE]",
    ]
    _, out = _run(_composer(llm, single_quotes=3, single_sentences=2, single_fill_quotes=True), question, "single", [paper])
    assert out.text.endswith("hardness. [pE] “EPS raises recall by 4.2 points on three retrieval benchmarks.” [pE]")
    _, out = _run(_composer(llm, single_quotes=3, single_fill_quotes=False), question, "single", [paper])
    assert out.text == "EPS samples negatives by their epsilon hardness. [pE]"


def test_a_list_bullet_can_be_followed_by_its_other_quote() -> None:
    """answer.list_fill_quotes: a bullet's written sentence is followed by the paper's other quote, verbatim, when
    that quote says something new; off, the bullet is the sentence alone."""
    llm = ScriptedLLM({"Alpha: Debiased Negatives": 0.9}, {("write_list", "Alpha: Debiased Negatives"): "The paper punishes false negatives with instance weights."})
    question = "Which papers punish false negatives and improve accuracy?"
    _, out = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5, list_fill_quotes=True), question, "list", [PAPERS[0]])
    assert out.text == "- Alpha punishes false negatives with instance weights. [pA] “It improves accuracy by 2.5 points.” [pA]"
    _, out = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5), question, "list", [PAPERS[0]])
    assert out.text == "- Alpha punishes false negatives with instance weights. [pA]"


def test_a_list_bullet_can_be_the_papers_quotes_without_a_writing_call() -> None:
    """answer.list_write off: each included paper's bullet is its best-matching quote, verbatim, then its other quote
    when that says something new; the model only screens, so no writing prompt is sent."""
    llm = ScriptedLLM({"Alpha: Debiased Negatives": 0.9, "Delta Audio": 0.01}, {})
    question = "Which papers punish false negatives and improve accuracy?"
    events, out = _run(
        _composer(llm, screen_by="p_yes", screen_threshold=0.5, list_write=False, list_fill_quotes=True), question, "list", [PAPERS[0], PAPERS[3]]
    )
    assert out.text == "- Alpha: “Alpha punishes false negatives with instance weights.” [pA] “It improves accuracy by 2.5 points.” [pA]"
    assert [e.paper.id for e in events if isinstance(e, ScreenEvent)] == ["pA", "pD"]
    assert not any("In one short sentence" in p for p in llm.prompts)
    assert not out.replaced


def test_a_title_with_an_exclamation_mark_is_not_cut_into_a_cited_sentence_of_its_own() -> None:
    """A display name such as "I Can't Believe There's No Images! Learning …" opens one sentence with one marker;
    the answer once read "I Can't Believe There's No Images! [pI] Learning …: “…” [pI]" (summary q056)."""
    paper = Paper(id="pI", title="I Can't Believe There's No Images! Learning Visual Tasks Using Only Language Supervision",
                  abstract="We train captioning models on text alone. Models trained on text alone caption images nearly as well.")
    llm = ScriptedLLM({paper.title: 0.9}, {})
    _, out = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5, list_write=False), "Which papers train models on text alone?",
                  "list", [paper])
    assert out.text.count("[pI]") == 1, out.text
    assert out.text.startswith(f"- {display_name(paper)}: “")
    assert [s.startswith("I Can't Believe") for s in split_sentences(out.text.removeprefix("- "))] == [True]


def test_a_summary_sentence_can_be_the_papers_best_quote_without_a_writing_call() -> None:
    """answer.summary_write off: each included paper's sentence is its best-matching quote, verbatim, named; the
    model only screens (no writing prompt), and screening still stops once answer.summary_papers are included."""
    llm = ScriptedLLM({p.title: 0.9 for p in PAPERS}, {})
    question = "Summarize what these abstracts say about false negatives"
    events, out = _run(
        _composer(llm, screen_by="p_yes", screen_threshold=0.5, summary_write=False, summary_papers=2), question, "summary",
    )
    assert out.text.startswith("Alpha: “Alpha punishes false negatives with instance weights.” [pA]")
    assert out.text.count("[pA]") == 1 and out.text.count("[pB]") == 1 and "[pC]" not in out.text
    assert [e.paper.id for e in events if isinstance(e, ScreenEvent)] == ["pA", "pB"]
    assert not any("In one short sentence" in p for p in llm.prompts)
    llm = ScriptedLLM({p.title: 0.9 for p in PAPERS}, {("write_summary", "Alpha: Debiased Negatives"): "The paper punishes false negatives."})
    _, written = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5, summary_papers=2), question, "summary")
    assert written.text.startswith("Alpha punishes false negatives. [pA]")
    assert len([p for p in llm.prompts if "In one short sentence" in p]) == 2


def test_a_one_paper_summary_is_filled_with_that_papers_other_quotes() -> None:
    """answer.summary_min_sentences: a summary with one included paper ("Summarize the Alpha paper") is not one
    quote: the paper's further quotes that say something new follow it, verbatim, up to that many sentences."""
    llm = ScriptedLLM({"Alpha: Debiased Negatives": 0.9}, {})
    question = "Summarize the Alpha paper on false negatives and accuracy"
    events, out = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5, summary_write=False, summary_min_sentences=3), question, "summary")
    assert out.text.count("[pA]") == 3 and "[pB]" not in out.text
    assert all(f"“{s}”" in out.text for s in split_sentences(PAPERS[0].abstract))
    streamed = "".join(e.text for e in events if isinstance(e, TokenEvent))
    assert streamed.count("[pA]") == 3
    _, one = _run(_composer(ScriptedLLM({"Alpha: Debiased Negatives": 0.9}, {}), screen_by="p_yes", screen_threshold=0.5, summary_write=False), question, "summary")
    assert one.text.count("[pA]") == 1


def test_a_summary_stops_screening_after_a_run_of_rejections_a_list_does_not() -> None:
    llm = ScriptedLLM({"Alpha: Debiased Negatives": 0.9})
    events, _ = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5, summary_stop_after=2, screen_min_checked=3), "Summarize negatives", "summary")
    assert [e.paper.id for e in events if isinstance(e, ScreenEvent)] == ["pA", "pB", "pC"]
    events, _ = _run(_composer(llm, screen_by="p_yes", screen_threshold=0.5, summary_stop_after=2, screen_min_checked=3), "Which papers do negatives?", "list")
    assert len([e for e in events if isinstance(e, ScreenEvent)]) == 4


def test_a_sentence_with_a_web_address_is_quoted_only_when_nothing_else_is_left() -> None:
    """"Code is available at https://github.com/x/symile." matches "Summarize the Symile paper" by the name in its
    address, but states no finding: the other sentences are quoted first."""
    paper = Paper(id="pS", title="Contrasting with Symile", abstract="Symile captures higher-order information between modalities. "
                  "All code is available at https://github.com/lab/symile.")
    sel = EvidenceSelector(WordEmbedder())
    assert pick_quotes(sel, "Summarize the Symile paper code", paper, 1).best == "Symile captures higher-order information between modalities."
    two = pick_quotes(sel, "Summarize the Symile paper code", paper, 2)
    assert two.sentences[1].startswith("All code is available") and two.best.startswith("Symile captures")


def test_unsaid_quotes_adds_what_the_text_leaves_out_not_the_best_match_that_restates_it() -> None:
    """Maximal marginal relevance: with room for one quote, the one that says something new (accuracy) is added
    rather than the better match that mostly restates the written sentence; a restatement above
    answer.fill_max_similarity is never added; the old rule (best match first with >= 50% new words) is kept as an
    option and would add the restatement."""
    from agent.chain.quotes import Quotes, unsaid_quotes

    embed = WordEmbedder().embed
    text = "Alpha punishes false negatives. [pA]"
    restating = "Alpha punishes false negatives with instance weights per training batch."
    new = "It improves accuracy by 2.5 points."
    qt = Quotes(PAPERS[0], [restating, new, "Alpha punishes false negatives."], scores=[0.9, 0.6, 0.95])
    assert unsaid_quotes(qt, text, 1, embed) == [new]
    assert unsaid_quotes(qt, text, 3, embed) == [restating, new]
    assert unsaid_quotes(qt, text, 1, embed, lam=1.0, max_similarity=1.0, new_share=0.5) == [restating]
    assert unsaid_quotes(qt, text, 0, embed) == []
    # a quote the text already holds verbatim, after the paper's name, is never added again, however it embeds
    opened = f"Alpha: “{new}” [pA]"
    assert new not in unsaid_quotes(qt, opened, 3, embed, max_similarity=1.0)


def test_compare_writes_each_side_alone_then_a_table_and_a_contrast() -> None:
    llm = ScriptedLLM(
        {},
        {("write_compare", "Alpha: Debiased Negatives"): "The paper punishes false negatives.",
         ("write_compare", "Beta Graphs for Recommendation"): "Beta uses graph convolution.",
         ("aspects", "Alpha: Debiased Negatives"): "Problem: false negatives\nMethod: instance weights\nResult: 9 points better",
         ("aspects", "Beta Graphs for Recommendation"): "Problem: not stated\nMethod: graph convolution\nResult: 75.3% recall"},
        default="Alpha weights instances [1] while Beta uses graphs [2].",
    )
    events, out = _run(_composer(llm), "How do Alpha and Beta differ?", "compare", PAPERS[:2])
    # both compared papers are announced, with the quote each is read from, before anything is written
    assert [type(e).__name__ for e in events[:3]] == ["SideEvent", "SideEvent", "TokenEvent"]
    assert [(e.paper.id, e.index, e.total) for e in events[:2]] == [("pA", 1, 2), ("pB", 2, 2)]
    assert all(e.quote in e.paper.abstract for e in events[:2])
    assert out.text.startswith("Alpha punishes false negatives. [pA] Beta Graphs for Recommendation: Beta uses graph convolution. [pB] ")
    assert out.text.endswith("Alpha weights instances [pA] while Beta uses graphs [pB].")
    rows = out.table.splitlines()
    assert rows[0] == "| Paper | Problem | Method | Result |"
    assert rows[2] == f"| Alpha [pA] | false negatives | instance weights | {NOT_STATED} |"  # 9 is not in the abstract
    assert rows[3] == f"| Beta Graphs for Recommendation [pB] | {NOT_STATED} | graph convolution | 75.3% recall |"
    # the side sentences and cells were written from one paper each; only the contrast saw both (as cells)
    one_paper = [p for p in llm.prompts if len(re.findall(r"^\[\d+\] ", p, re.M)) == 1]
    assert len(one_paper) == 4 and "Alpha punishes" not in llm.prompts[-1] and "[2] Beta" in llm.prompts[-1]
    # answer.compare_fill_quotes: each side's sentence is followed by one more of its own quotes, when that is new
    # (Beta's: the result, which shares no word with "Beta uses graph convolution", not the users-as-graphs quote)
    _, out = _run(_composer(llm, compare_fill_quotes=True), "How do Alpha and Beta differ?", "compare", PAPERS[:2])
    assert out.text.startswith(
        "Alpha punishes false negatives. [pA] “We study contrastive learning.” [pA] "
        "Beta Graphs for Recommendation: Beta uses graph convolution. [pB] “It reaches 75.3% recall.” [pB] "
    )
    # answer.compare_write off: each side opens with its best quote; the cells and the contrast are still written
    llm.prompts.clear()
    _, out = _run(_composer(llm, compare_write=False), "How do Alpha and Beta differ?", "compare", PAPERS[:2])
    assert out.text.startswith("Alpha: “Alpha punishes false negatives with instance weights.” [pA] Beta Graphs for Recommendation: “")
    assert out.text.endswith("Alpha weights instances [pA] while Beta uses graphs [pB].") and out.table == "\n".join(rows)
    assert not any("say what this paper proposes" in p for p in llm.prompts) and len(llm.prompts) == 3


def test_compare_contrast_names_papers_the_model_called_by_number() -> None:
    llm = ScriptedLLM(
        {},
        {("aspects", "Alpha: Debiased Negatives"): "Method: instance weights",
         ("aspects", "Beta Graphs for Recommendation"): "Method: graph convolution"},
        default="[1][2] The papers differ in method. [1] weights instances, while [2] uses graphs [1][2].",
    )
    _, out = _run(_composer(llm, compare_write=False), "How do Alpha and Beta differ?", "compare", PAPERS[:2])
    # the side before the contrast keeps its own citation only, and no sentence opens with a bare marker
    assert out.text.endswith(
        "[pB] The papers differ in method [pA][pB]. Alpha [pA] weights instances, while "
        "Beta Graphs for Recommendation [pB] uses graphs [pA][pB]."
    )
    assert "[pB] [pA]" not in out.text


def test_helpers() -> None:
    assert about("DCLR", "The paper punishes false negatives.") == "DCLR punishes false negatives."
    assert about("DCLR", "“We design X.”") == "DCLR: “We design X.”"
    assert about("REBAR", "The paper REBAR applies contrastive learning.") == "REBAR applies contrastive learning."
    assert about("NV-Embed", "NV-Embed proposes a pooling layer.") == "NV-Embed proposes a pooling layer."
    assert about("DCLR", "Instance weights punish false negatives.") == "DCLR: Instance weights punish false negatives."
    assert about("ClusterNS", "The first one detects false negatives.") == "ClusterNS detects false negatives."  # a follow-up's words
    # a contrast sentence cites every compared paper it names (the model labelled it with one number)
    named = [("pL", "LCD"), ("pC", "CODE")]
    assert cite_named("LCD raises F1, while CODE cuts hallucinations [pC].", named) == "LCD raises F1, while CODE cuts hallucinations [pC][pL]."
    assert cite_named("LCD raises F1 [pL].", named) == "LCD raises F1 [pL]."
    assert cite_named("CODEX raises F1 [pL].", named) == "CODEX raises F1 [pL]."  # a longer word is not the name
    assert parse_cells("**Method**: graph views\nResult: not stated\nJunk", ["Method", "Result"], "graph views") == {
        "Method": "graph views", "Result": NOT_STATED,
    }
    import numpy as np

    v = np.array([[1, 0], [0.9, 0.1], [0, 1]], dtype=float)
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    assert group_by_similarity(v, 0.8) == [[0, 1], [2]]
    assert display_name(Paper(id="x", title="LightGCL: Simple Graph Learning", abstract="")) == "LightGCL"


def test_engine_streams_screening_over_the_bundled_corpus(bundled_settings) -> None:
    s = bundled_settings.with_overrides(**{"llm.model": "fake", "answer.pipeline": "quotes"})
    engine = AnswerEngine(s, retriever=open_retriever(s, auto_index=False))
    events = list(engine.stream("Which papers address false negatives?"))
    assert isinstance(events[0], RetrievalEvent) and isinstance(events[-1], DoneEvent)
    decisions = [e for e in events if isinstance(e, ScreenEvent)]
    assert decisions and decisions[0].total == s.answer.screen_candidates
    # fewer candidates screened than a search returns: the answer still reports the usual top retrieval.k
    assert s.answer.screen_candidates < s.retrieval.k and len(events[0].hits) == s.retrieval.k
    answer = events[-1].answer
    assert answer.prompt_version == load_prompt("quotes").version and answer.model == "fake"
    data = answer.public_json()
    assert [d["id"] for d in data["screened"]] == [d.paper.id for d in decisions]
    assert set(data["screened"][0]) == {"id", "title", "included", "p", "quote"}
    included = {d["id"] for d in data["screened"] if d["included"]}
    assert included and {c["id"] for c in data["citations"]} <= included
    assert answer.timings.first_token_s is not None and answer.timings.first_token_s <= answer.timings.total_s
    assert "Checked" in data["notes"] and data["answer"].endswith(data["notes"])
    assert any(isinstance(e, TokenEvent) for e in events)
    # Where the time went: one screen call per decision, and no write (list bullets are the papers' quotes:
    # answer.list_write is off); not in the --json shape.
    steps = answer.step_seconds
    assert steps["screen"]["calls"] == len(decisions) and "write" not in steps
    assert all(v["s"] >= 0 for v in steps.values()) and "step_seconds" not in data


def test_a_comparison_made_within_one_study_is_answered_from_that_study(bundled_settings) -> None:
    # "X and Y" that no paper is named for, both mentioned by the best hit: that paper compares them (PubMedQA's
    # "Does rural or urban residence make a difference ...?"), not two papers to set side by side
    paper = Paper(id="pR", title="Neonatal outcome of premature birth", abstract="We compared rural and urban residence. Rural infants fared worse.")
    assert compared_within(paper, ["rural residence", "urban residence"], 0.5)
    assert not compared_within(paper, ["rural residence", "maternal smoking"], 0.5)
    s = bundled_settings.with_overrides(**{"llm.model": "fake", "answer.pipeline": "quotes"})
    engine = AnswerEngine(s, retriever=open_retriever(s, auto_index=False))
    names = engine.retriever.names
    within = plan_question("How does the domain-agnostic tuning-encoder for text-to-image personalization keep predicted embeddings editable, and how do its learned tokens differ?", [], names)
    assert within.qtype == "compare" and len(within.sides) >= 2
    hits = engine._retrieve(within)
    assert within.qtype == "single" and within.sides == [] and "Domain-Agnostic Tuning-Encoder" in hits[0].paper.title
    # named sides are two papers, even when one abstract mentions both
    between = plan_question("How is DCLR different from ClusterNS?", [], names)
    engine._retrieve(between)
    assert between.qtype == "compare" and between.compared == 2
    # so are described sides, asked how they differ, when a side finds another of the best hits first: ClusterNS's
    # abstract has the words of both, but "the debiased one ..." finds DCLR (it had been answered from ClusterNS alone)
    described = plan_question(
        "What's the difference between the clustering-based negative sampling approach and the debiased one for "
        "unsupervised sentence embeddings?", [], names,
    )
    hits = engine._retrieve(described)
    assert described.qtype == "compare" and described.compared == 2
    assert {h.paper.title.split(" of ")[0].split(" for ")[0] for h in hits[:2]} == {"Clustering-Aware Negative Sampling", "Debiased Contrastive Learning"}


def test_a_single_question_is_answered_from_the_paper_it_names(bundled_settings) -> None:
    # "LLM2Vec" is the name LLM2Vec's title opens with: the question is answered from that paper alone (NV-Embed's
    # abstract also spells out "MTEB", and its scores had answered). A name only an abstract spells out, a question
    # asking which paper does something, or one naming nothing keep the search's papers and order.
    s = bundled_settings.with_overrides(**{"llm.model": "fake", "answer.pipeline": "quotes"})
    engine = AnswerEngine(s, retriever=open_retriever(s, auto_index=False))
    names = engine.retriever.names
    plan = plan_question("How much does LLM2Vec improve on MTEB?", [], names)
    hits = engine._retrieve(plan)
    assert [h.paper.title.split(":")[0] for h in hits] == ["LLM2Vec"] and plan.about_named
    assert len(engine.retriever.search(plan.retrieval_query, s.answer.papers)) > 1
    # a name a title holds that no other paper defines or mentions names that paper too; one others mention does not
    plan = plan_question("Does Poly-View need large batches?", [], names)
    hits = engine._retrieve(plan)
    assert [h.paper.title for h in hits] == ["Poly-View Contrastive Learning"] and plan.about_named
    assert len(engine.retriever.mentioned_by("Fine-Grained")) > 1
    assert engine.retriever.mentioned_by("poly view") == engine.retriever.mentioned_by("Poly-View") == {hits[0].paper.id}
    for question in [
        "What loss does SwAV use?",
        "Which paper extends LightGCL?",
        "What loss does swapped cluster prediction use?",
        "Does Fine-Grained recognition help vision-language models?",
    ]:
        plan = plan_question(question, [], names)
        searched = [h.paper.id for h in engine.retriever.search(plan.retrieval_query, s.answer.papers)]
        assert [h.paper.id for h in engine._retrieve(plan)] == searched and not plan.about_named, question


def test_nothing_is_shown_while_the_model_loads(bundled_settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # llama-cpp-python points stdout/stderr at /dev/null while it loads a model in the background thread: a cold
    # off-topic question, answered without the model, printed nothing at all
    import time

    import agent.chain.engine as engine_mod

    loaded: list[float] = []
    real = engine_mod.load_llm

    def slow_load(*args, **kwargs):
        time.sleep(0.5)
        loaded.append(time.perf_counter())
        return real(*args, **kwargs)

    monkeypatch.setattr(engine_mod, "load_llm", slow_load)
    s = bundled_settings.with_overrides(**{"llm.model": "fake", "answer.pipeline": "quotes"})
    engine = AnswerEngine(s, retriever=open_retriever(s, auto_index=False))
    stream = engine.stream("What is the capital of France?")
    first = next(stream)
    assert isinstance(first, RetrievalEvent) and loaded  # the load ended before anything was shown
    assert list(stream)[-1].answer.refused


def test_free_pipeline_is_still_available(bundled_settings) -> None:
    s = bundled_settings.with_overrides(**{"llm.model": "fake", "answer.pipeline": "free"})
    answer, _ = AnswerEngine(s, retriever=open_retriever(s, auto_index=False)).ask("Which papers address false negatives?")
    assert answer.prompt_version == load_prompt("answer").version and not answer.screened


@pytest.mark.parametrize("qtype", ["single", "list", "compare", "summary"])
def test_fake_model_answers_every_type_with_cited_quotes(bundled_settings, qtype: str) -> None:
    questions = {
        "single": "What does LightGCL use for graph augmentation?",
        "list": "Which papers address false negatives?",
        "compare": "How do IWAE and InfoVAE differ in fixing the VAE objective?",
        "summary": "Summarize what these abstracts say about posterior collapse",
    }
    # The fake's P(YES) is the share of the question's words found in the quotes: lower than a real model's.
    s = bundled_settings.with_overrides(**{"llm.model": "fake", "answer.pipeline": "quotes", **FAKE_SCREENING})
    answer, _ = AnswerEngine(s, retriever=open_retriever(s, auto_index=False)).ask(questions[qtype])
    assert answer.question_type == qtype
    assert not answer.refused and answer.citations
    if qtype == "compare":
        assert answer.table and answer.table.startswith("| Paper | Problem | Method | Result |")


def test_cli_summary_says_why_its_final_text_differs_from_the_stream(bundled_home) -> None:
    """A topic summary streams each paper's sentence as it is decided and fills or orders them at the end: the
    final text printed after the stream says so (it used to list only markers and removed sentences as reasons)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CITEWISE_HOME": str(bundled_home), "CITEWISE_ANSWER__PIPELINE": "quotes"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "agent", *args, "--model", "fake"], env=env, capture_output=True, text=True, timeout=300)

    out = cli("summarize", "--topic", "false negatives in contrastive learning")
    assert out.returncode == 0, out.stderr
    # with the fake model one paper is included and filled with its other quotes, streamed after the decisions
    assert "revised after streaming" in out.stderr and "put in order by paper and topic" in out.stderr
    out = cli("ask", "How do DCL and DCLR differ?")
    assert out.returncode == 0, out.stderr
    assert "put in order by paper and topic" not in out.stderr
