"""Wires the offline faithfulness checker into answers (an :data:`AnswerHook`), and withholds what does
not answer: drafts none of whose sentences is supported, drafts that do not state the number a question
asks for, and (output policy) each single sentence the checker finds unsupported."""

from __future__ import annotations

import re
from collections.abc import Callable

from agent.chain.citations import REFUSAL_TEXT, cited_ids, format_references
from agent.chain.hygiene import clean_papers
from agent.faithfulness.text import STOPWORDS, Number, content_stems, counted_nouns, numbers
from agent.sentences import split_sentences
from agent.settings import Settings
from agent.types import Answer, Paper

#: Why a draft was withheld; the refusal says it in brackets, so a reader knows the model did try.
UNSUPPORTED = "none of its sentences is supported by the cited abstracts"
NUMBERLESS = "the question asks for a number and the draft does not state it"
#: Why one sentence was taken out of an answer (kept in ``answer.withheld_sentences``).
SENTENCE_UNSUPPORTED = "not supported by the cited abstracts"
#: "How many ...", "by how much ...", "what top-1 accuracy / learning rate / FID ...": the answer is a number.
_ASKS_FOR_NUMBER = re.compile(
    r"\b(?:how\s+(?:many|much|long|large|big|fast|often)|by\s+how\s+much|what\s+(?:[\w-]+\s+){0,4}?"
    r"(?:learning\s+rate|batch\s+size|accuracy|score|percentage|number\s+of|top-[15]|f1|bleu|rouge|auc|fid|epochs?|"
    r"dimensions?|temperature|margin|speed-?up|error\s+rate|perplexity|size))\b",
    re.I,
)
#: What a "how many" / "what number of" question counts: the words after it up to the first function word.
_COUNTED = re.compile(r"\b(?:how\s+many|number\s+of)\s+((?:[\w-]+\s+){0,3}[\w-]+)", re.I)
#: The measure a "what ... <measure>" question names; a number stating it sits in a sentence that names it
#: too ("improved FID on MS-COCO" and "25 times inference acceleration" are two sentences and no FID value).
_MEASURE = re.compile(
    r"\b(learning\s+rate|batch\s+size|accuracy|score|top-[15]|f1|bleu|rouge|auc|fid|epochs?|temperature|margin|"
    r"speed-?up|error\s+rate|perplexity)\b",
    re.I,
)
#: Measures a bare percentage or multiple states without naming them ("reaches 75.3% on ImageNet", "2.5x faster").
_UNIT_STATES = {"accuracy": "%", "top-1": "%", "top-5": "%", "error rate": "%", "speedup": "x", "speed-up": "x"}
#: A question that asks for something else too ("what does X propose, and what score does it reach?").
_COMPOUND = re.compile(r"[,;]?\s+and\s+(?:what|how|which|who|where|why|does|do|is|are)\b", re.I)
#: Digits inside names ("GPT-4o", "Llama2", "T5") are no number.
_NAMED_DIGITS = re.compile(r"\b[A-Za-z][\w.]*-\d[\w.]*|\b[A-Za-z]+\d[\w.-]*")


def asked_number(question: str) -> tuple[str, set[str]] | None:
    """What a question that asks only for a number asks for: ``("count", stems of the counted thing)``,
    ``("measure", {the measure's name, lowercase})`` or ``("number", set())`` for any number ("how much ...",
    "what size ..."); None for any other question, and for one that also asks for something else."""
    if not _ASKS_FOR_NUMBER.search(question) or _COMPOUND.search(question):
        return None
    counted = _COUNTED.search(question)
    if counted:
        head: list[str] = []
        for word in counted.group(1).split():
            if word.lower() in STOPWORDS:
                break
            head.append(word)
        stems = set(content_stems(" ".join(head)))
        if stems:
            return "count", stems
    measure = _MEASURE.search(question)
    if measure:
        return "measure", {" ".join(measure.group(1).lower().split())}
    return "number", set()


def states_asked_number(question: str, prose: str) -> bool:
    """Whether ``prose`` states the number ``question`` asks for (True for a question that asks for none): for
    a count, a number counting that thing ("between 14 candidate LLMs" for "how many LLMs", not "9/14 tasks");
    for a named measure, a number in a sentence naming the measure (or, for accuracy and speed-ups, a
    percentage or multiple); otherwise any number."""
    asked = asked_number(question)
    if asked is None:
        return True
    kind, what = asked
    text = _NAMED_DIGITS.sub(" ", re.sub(r"\[[^\]]*\]", " ", prose))
    for sentence in split_sentences(text) or [text]:
        found = numbers(sentence)
        if not found:
            continue
        if kind == "number":
            return True
        if kind == "count" and any(_counts(sentence, n, what) for n in found):
            return True
        if kind == "measure":
            measure = next(iter(what))
            named = re.search(rf"\b{re.escape(measure.replace('-', ''))}s?\b", sentence.lower().replace("-", ""))
            if named or any(n.unit == _UNIT_STATES.get(measure) for n in found):
                return True
    return False


def _counts(sentence: str, n: Number, what: set[str], span: int = 3) -> bool:
    """Whether the number ``n`` in ``sentence`` counts ``what`` (stems): one of them within ``span`` words
    after it ("14 candidate LLMs": :func:`counted_nouns`) or right before it ("LLMs: 14")."""
    before = {s for m in re.finditer(re.escape(n.surface), sentence) for s in content_stems(" ".join(sentence[: m.start()].split()[-2:]))}
    return bool(what & (counted_nouns(sentence, n, span) | before))


def withheld_note(reason: str) -> str:
    """The bracketed note after the refusal that says why a draft was withheld."""
    return f"(A drafted answer was withheld: {reason}.)"


def faithfulness_hook(settings: Settings, mode: str) -> Callable[[Answer, dict[str, Paper]], None]:
    """A hook that fills each sentence's verdict and the answer's faithfulness in place, then applies
    the output policy (:func:`check_and_apply_policy`)."""

    def hook(answer: Answer, papers: dict[str, Paper]) -> None:
        check_and_apply_policy(answer, papers, settings, mode)

    return hook


def check_and_apply_policy(answer: Answer, papers: dict[str, Paper], settings: Settings, mode: str) -> None:
    """Check ``answer`` against ``papers`` in place, then withhold what the check does not support.

    The papers are screened first (:func:`agent.chain.hygiene.clean_papers`, with
    ``answer.evidence_hygiene``): a sentence that tells the model what to answer
    must not count as the evidence for an answer that obeys it. With
    ``answer.withhold_unsupported`` an answer none of whose sentences is
    supported becomes a refusal (:func:`withhold_unsupported`); with
    ``answer.remove_unsupported_sentences`` each unsupported sentence is taken
    out (:func:`remove_unsupported_sentences`, which also refuses when none is
    left, keeping the sentences with their reasons).
    """
    if answer.refused:
        return
    from agent.faithfulness import check_answer_into

    if settings.answer.evidence_hygiene:
        papers = clean_papers(papers)
    check_answer_into(answer, papers, settings, mode)
    if settings.answer.remove_unsupported_sentences:
        remove_unsupported_sentences(answer)
    if settings.answer.withhold_unsupported:
        withhold_unsupported(answer)


def withhold_unsupported(answer: Answer) -> bool:
    """Turn an answer whose every checked sentence is unsupported into a refusal; True if it did.

    On the development questions the 1.5B model answered every unanswerable
    question (invented batch sizes, FIDs, accuracies); in 7 of those 12 drafts
    no sentence was supported, against 2 of 45 answerable drafts. The draft
    stays in ``answer.withheld`` and its verdict in ``answer.faithfulness``.
    """
    checked = [s for s in answer.sentences if s.supported is not None]
    if answer.refused or not checked or any(s.supported for s in checked):
        return False
    _withhold(answer, UNSUPPORTED)
    return True


def withhold_numberless(answer: Answer) -> bool:
    """Turn an answer that does not state the number a question asks only for into a refusal; True if it did.

    On the development questions the 1.5B model answered two unanswerable
    questions ("What top-1 accuracy does Hydra achieve on ImageNet-1K?") with a
    faithful sentence that states no number at all ("Hydra achieves superior
    performance"): true, but not an answer, and it hid that the abstracts do
    not say. A number about something else does not answer either: "How many
    LLMs were in the candidate pool …?" was answered with "the optimal model on
    9/14 tasks", and "What exact FID score …?" with "improved FID on MS-COCO"
    next to "a 25 times inference acceleration" (:func:`states_asked_number`).
    Questions that also ask for something else are left alone: their draft may
    answer that part, and so are lists ("How many papers address false
    negatives?" is answered by the papers listed). Digits inside names
    ("GPT-4o") and citation markers do not count.
    """
    if answer.refused or answer.question_type in ("list", "summary") or states_asked_number(answer.question, answer.prose):
        return False
    _withhold(answer, NUMBERLESS)
    return True


def remove_unsupported_sentences(answer: Answer) -> int:
    """Take each sentence the checker found unsupported out of the answer; returns how many.

    A sentence with a citation reads as a sourced claim, so one the cited
    abstracts do not support is never left in the answer text: it moves to
    ``answer.withheld_sentences`` (with its verdict and reason) and the UI shows
    it struck through. Papers cited only by removed sentences leave the
    reference list. When no supported sentence is left the answer becomes the
    refusal, with the draft in ``answer.withheld``.
    """
    bad = [s for s in answer.sentences if s.supported is False]
    if answer.refused or not bad:
        return 0
    for s in bad:
        s.reason = s.reason or SENTENCE_UNSUPPORTED
    answer.withheld_sentences.extend(s.model_copy() for s in bad)
    if not any(s.supported for s in answer.sentences):
        _withhold(answer, UNSUPPORTED)
        return len(bad)
    prose = answer.prose
    for s in bad:
        pattern = r"\s+".join(re.escape(w) for w in s.text.split())
        prose = re.sub(rf"(?m)^[ \t]*(?:[-*•]\s+)?{pattern}[ \t]*$\n?|{pattern}[ \t]*", "", prose, count=1) if pattern else prose
    prose = re.sub(r"\n{3,}", "\n\n", prose).strip()
    kept_ids = set(cited_ids(prose, {c.id for c in answer.citations}))
    answer.citations = [c for c in answer.citations if c.id in kept_ids]
    references = format_references(answer.citations)
    answer.answer = prose + (f"\n\n{references}" if references else "")
    answer.sentences = [s for s in answer.sentences if s.supported is not False]
    return len(bad)


def _withhold(answer: Answer, reason: str) -> None:
    """Keep the draft in ``answer.withheld`` and answer with a refusal that says why."""
    answer.withheld = answer.prose.strip()
    answer.withheld_reason = reason
    answer.answer = f"{REFUSAL_TEXT} {withheld_note(reason)}"
    answer.refused = True
    answer.citations = []
    answer.sentences = []
    answer.table = None
