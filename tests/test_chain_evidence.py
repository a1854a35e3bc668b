"""Compact evidence under a token budget, and the map-reduce path when named papers overflow the context."""

from __future__ import annotations

import numpy as np
import pytest

from agent.chain import AnswerEngine
from agent.chain.evidence import EvidenceSelector, render_blocks
from agent.types import Paper

#: Each sentence's vector: one axis per topic word, so the cosine to a question is exact and hand-computable.
_AXES = ("graph", "noise", "vae", "filler")


class WordEmbedder:
    """Unit vectors over topic words: 'graph graph noise' -> (2, 1, 0, 0) normalized."""

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = []
        for text in texts:
            words = text.lower().replace(".", " ").split()
            v = np.array([words.count(a) for a in _AXES], dtype=float) + 1e-3
            rows.append(v / np.linalg.norm(v))
        return np.vstack(rows)


def words(text: str) -> int:
    return len(text.split())


def _paper(pid: str, *sentences: str) -> Paper:
    return Paper(id=pid, title=f"Title {pid}", abstract=" ".join(sentences))


@pytest.fixture
def papers() -> list[Paper]:
    return [
        _paper("a", "Graph graph graph methods.", "Filler text here.", "Graph noise mixing."),
        _paper("b", "Noise only here.", "Graph graph helps.", "Filler again."),
        _paper("c", "Graph words appear.", "Graph graph graph graph and more."),
    ]


def test_without_budget_every_paper_gets_its_best_sentences(papers: list[Paper]) -> None:
    blocks = EvidenceSelector(WordEmbedder()).select("graph", papers, per_paper=1)
    assert [b.paper.id for b in blocks] == ["a", "b", "c"]
    assert [b.sentences for b in blocks] == [["Graph graph graph methods."], ["Graph graph helps."], ["Graph words appear."]]


def test_budget_takes_best_sentence_per_paper_then_best_remaining(papers: list[Paper]) -> None:
    selector = EvidenceSelector(WordEmbedder())
    # Round 1 costs: header "[n] Title x" = 3 words + sentence + 2 -> a: 3+4+2=9, b: 3+3+2=8, c: 3+3+2=8 -> 25.
    blocks = selector.select("graph", papers, per_paper=3, budget_tokens=25, count_tokens=words)
    assert [b.sentences for b in blocks] == [["Graph graph graph methods."], ["Graph graph helps."], ["Graph words appear."]]
    # 7 more words buy c's second sentence (6 words + 1), the best remaining one; sentences stay in abstract order.
    blocks = selector.select("graph", papers, per_paper=3, budget_tokens=32, count_tokens=words)
    assert blocks[2].sentences == ["Graph words appear.", "Graph graph graph graph and more."]
    assert words(render_blocks(blocks)) <= 32


def test_papers_that_do_not_fit_are_dropped_and_renumbered(papers: list[Paper]) -> None:
    selector = EvidenceSelector(WordEmbedder())
    blocks = selector.select("graph", papers, per_paper=3, budget_tokens=10, count_tokens=words)
    assert [(b.number, b.paper.id) for b in blocks] == [(1, "a")]
    # The first paper is kept even when it alone is over the budget: an answer needs some evidence.
    assert len(selector.select("graph", papers, per_paper=3, budget_tokens=1, count_tokens=words)) == 1
    # Papers the user named are all kept, one sentence each.
    kept = selector.select("graph", papers, per_paper=3, budget_tokens=1, count_tokens=words, keep_all=True)
    assert [b.paper.id for b in kept] == ["a", "b", "c"] and all(len(b.sentences) == 1 for b in kept)


def test_per_paper_cap_holds_unless_whole(papers: list[Paper]) -> None:
    selector = EvidenceSelector(WordEmbedder())
    capped = selector.select("graph", papers[:1], per_paper=1, budget_tokens=1000, count_tokens=words)
    assert capped[0].sentences == ["Graph graph graph methods."]
    whole = selector.select("graph", papers[:1], per_paper=1, whole=True, budget_tokens=1000, count_tokens=words)
    assert whole[0].sentences == ["Graph graph graph methods.", "Filler text here.", "Graph noise mixing."]


def test_engine_prompt_respects_the_evidence_budget(bundled_settings) -> None:
    from agent.retrieval import open_retriever

    # Evidence budgets are the one-generation ('free') path's; quote-built answers pick quotes per paper.
    s = bundled_settings.with_overrides(**{"llm.model": "fake", "answer.pipeline": "free", "answer.list_evidence_budget_tokens": 60})
    engine = AnswerEngine(s, retriever=open_retriever(s, auto_index=False))
    seen: list[str] = []
    llm = engine.model()
    original = llm.stream

    def spy(messages, **kw):
        seen.append(messages[-1]["content"])
        return original(messages, **kw)

    llm.stream = spy  # type: ignore[method-assign]
    answer, _ = engine.ask("Which papers address false negatives?")
    evidence = seen[0].split("\n\nQuestion:")[0].removeprefix("Excerpts:\n")
    parts = engine.prompt.parts
    assert evidence.startswith(parts["evidence_open"] + "\n") and evidence.endswith("\n" + parts["evidence_close"])
    evidence = evidence.removeprefix(parts["evidence_open"] + "\n").removesuffix("\n" + parts["evidence_close"])
    assert 0 < llm.count_tokens(evidence) <= 60 + 10  # budget, plus the first paper's one-sentence floor
    cited = {c.id for c in answer.citations}
    assert cited and cited <= {c.id for c in answer.retrieved}


def test_named_papers_over_the_context_budget_are_condensed_map_reduce(bundled_settings) -> None:
    from agent.retrieval import open_retriever

    s = bundled_settings.with_overrides(
        **{"llm.model": "fake", "answer.pipeline": "free", "answer.list_evidence_budget_tokens": 40, "answer.context_budget_tokens": 256}
    )
    engine = AnswerEngine(s, retriever=open_retriever(s, auto_index=False))
    ids = [h.paper.id for h in engine.retriever.search("contrastive learning", 12)]
    llm = engine.model()
    calls: list[str] = []
    original = llm.complete

    def spy(messages, **kw):
        calls.append(messages[-1]["content"])
        return original(messages, **kw)

    llm.complete = spy  # type: ignore[method-assign]
    answer, _ = engine.ask("Summarize these papers", paper_ids=ids, force_type="summary")
    assert len(calls) >= len(ids) - 1  # one map call per paper (the fake echoes a sentence back)
    assert not answer.refused and answer.citations
    assert {c.id for c in answer.citations} <= set(ids)
