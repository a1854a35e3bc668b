"""Small decisions for the small model, one paper at a time: pick quotes, say yes/no, write one sentence.

A 1.5B model cannot weigh eight abstracts in one free-form answer: it swaps
attributions and invents numbers. Here every model call sees one question and
ONE paper's quotes (verbatim abstract sentences, chosen by embedding
similarity), and makes one small decision:

* :meth:`QuoteSteps.screen` - does this paper address the question? The
  probability is read from the model's YES/NO first-token log-probabilities
  (:meth:`agent.llm.LLM.choice_logprobs`), so a threshold decides, not the
  greedy word; backends without log-probabilities answer in words (p is 1 or 0).
* :meth:`QuoteSteps.write` - one short sentence about this paper from its
  quotes. The sentence is kept only if every number in it is in the quotes and
  the faithfulness checker finds it supported by that paper; otherwise the best
  quote itself is the sentence (true by construction).

All steps share one prompt layout (``prompts/quotes.toml``: system prompt,
question, this paper's quotes, then the task), so llama.cpp reuses the
evaluated prefix: screening the next paper re-reads only that paper's quotes,
and writing about a paper just screened re-reads only the task line.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agent.chain.citations import is_refusal
from agent.chain.evidence import EvidenceSelector
from agent.llm import LLM
from agent.prompts import Prompt
from agent.retrieval.names import phrase_pattern
from agent.sentences import split_sentences, strip_markers
from agent.types import Paper

#: A number as written in abstracts and answers: 75.3, 1,000, 12%, 2x (digits only; words are not numbers here).
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*")
_MARKERS = re.compile(r"\s*\[[^\]]{1,40}\]")
_FIRST_PERSON = re.compile(r"^\s*(?:we|our)\b", re.I)
#: A sentence that ends as sentences do (closing quotes, brackets or citation markers may follow the stop).
_COMPLETE = re.compile(r"[.!?][\"'”’)\]]*(?:\s*\[[^\]]*\])*\s*$")


def numbers_in(text: str) -> set[str]:
    """The numbers written with digits in ``text``, normalized (``1,000`` -> ``1000``)."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def has_foreign_numbers(sentence: str, source: str) -> bool:
    """True if ``sentence`` has a digit-written number that ``source`` does not contain."""
    return bool(numbers_in(strip_markers(sentence)) - numbers_in(source))


@dataclass
class Quotes:
    """One paper's sentences that bear on the question, in abstract order, and which one is closest."""

    paper: Paper
    sentences: list[str]
    best_index: int = 0
    best_score: float = 0.0
    scores: list[float] = field(default_factory=list)  # each sentence's match score, aligned with ``sentences``
    vectors: np.ndarray | None = None  # each sentence's unit embedding, aligned with ``sentences`` (None: not kept)
    name: str | None = None  # the paper's short name, shown before its title when the title does not hold it

    @property
    def best(self) -> str:
        """The sentence closest to the question (the title when the abstract has no sentence)."""
        return self.sentences[self.best_index] if self.sentences else self.paper.title

    def block(self, number: int = 1) -> str:
        """The quotes as the model sees them: ``Paper:``, ``[n] Title`` (``[n] Name: Title`` when the paper has a short
        name its title does not hold: "SwAV: Unsupervised Learning of Visual Features ..."), then one quote a line,
        in abstract order."""
        body = "\n".join(self.sentences)
        title = self.paper.title
        if self.name and not re.search(rf"(?<![\w-]){re.escape(self.name)}(?![\w-])", title, re.I):
            title = f"{self.name}: {title}"
        return f"Paper:\n[{number}] {title}\n{body}"


@functools.lru_cache(maxsize=1)
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def terms(text: str) -> set[str]:
    """Stemmed content words of ``text`` (bm25s's extended English stop words removed), as BM25 indexes them."""
    from bm25s.stopwords import STOPWORDS_EN_PLUS

    words = [w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 1 and w not in STOPWORDS_EN_PLUS]
    return set(_stemmer().stemWords(words))


def question_echo(sentence: str, question: str, paper: Paper) -> list[str]:
    """The content words (stemmed) of a written ``sentence`` that come from the ``question`` and appear nowhere in
    ``paper``'s title or abstract: a sentence made of them restates the question rather than the paper."""
    return sorted((terms(strip_markers(sentence)) & terms(question)) - terms(f"{paper.title} {paper.abstract}"))


def without_title(question: str, paper: Paper) -> str:
    """``question`` with ``paper``'s whole title taken out, for choosing among that paper's sentences.

    A title names the paper; it says nothing about which of its sentences answers. Left in, its words outweigh the
    question's own ("What's the main finding of 'Are Large Language Models Good Statisticians?'" matched the
    background sentence "Large Language Models (LLMs) have demonstrated impressive capabilities ..."; "How does
    Decoupled Contrastive Learning differ from SimCLR?" missed both sentences about SimCLR). The question is
    returned unchanged when it does not hold the title, or holds nothing else."""
    pattern = phrase_pattern(paper.title)
    if pattern is None or len(re.findall(r"[a-z0-9]+", paper.title.lower())) < 2:
        return question
    stripped = pattern.sub(" ", question)
    return stripped if stripped != question and terms(stripped) else question


_URL = re.compile(r"https?://|\bwww\.|\bgithub\.com\b", re.I)
#: Subtracted from the match score of a sentence with a web address (match scores are below 2).
URL_DEMOTION = 10.0


def pick_quotes(
    selector: EvidenceSelector,
    question: str,
    paper: Paper,
    n: int,
    qvec: np.ndarray | None = None,
    lexical_weight: float = 0.3,
    role_weight: float = 0.0,
) -> Quotes:
    """The ``n`` abstract sentences that best match ``question`` (its mention of the paper's title left out:
    :func:`without_title`), kept in abstract order.

    A sentence's score is its MiniLM cosine to the question plus
    ``lexical_weight`` times the share of the question's stemmed content words
    it contains: sentence-level hybrid matching, as the retriever does for
    papers (MiniLM alone scored "we design an instance weighting method to
    punish false negatives" 0.35 against "which papers address false negatives?").
    With ``role_weight`` and a selector that has a role model
    (:mod:`agent.chain.roles`), ``role_weight`` times P(the sentence states the
    paper's own work) is added, so a background sentence that merely restates
    the problem loses to the one saying what the paper does about it.
    """
    sents, vecs = selector.sentences(paper)
    if not sents:
        return Quotes(paper, [])
    query = without_title(question, paper)
    if qvec is None or query != question:
        qvec = selector.embedder.embed([query])[0]
    question = query
    scores = vecs @ qvec
    wanted = terms(question)
    if wanted and lexical_weight:
        scores = scores + lexical_weight * np.array([len(wanted & terms(s)) / len(wanted) for s in sents])
    if role_weight:
        own = selector.own_work(paper)
        if own is not None:
            scores = scores + role_weight * own
    # A sentence that points to a web address ("Code is available at https://...") states no finding: it is
    # quoted only when the abstract has too few other sentences (the role model, fitted on PubMed abstracts,
    # scores such closing sentences as the paper's own work, and a name in the question matches the URL).
    scores = scores - np.array([URL_DEMOTION if _URL.search(s) else 0.0 for s in sents])
    top = np.argsort(-scores, kind="stable")[: max(n, 1)].tolist()
    ordered = sorted(top)
    return Quotes(
        paper, [sents[i] for i in ordered], ordered.index(top[0]), float(scores[top[0]]), [float(scores[i]) for i in ordered], vecs[ordered]
    )


def unsaid_quotes(
    quotes: Quotes,
    text: str,
    room: int,
    embed: Callable[[list[str]], np.ndarray],
    lam: float = 0.5,
    max_similarity: float = 0.9,
    new_share: float = 0.0,
) -> list[str]:
    """Up to ``room`` of ``quotes``' sentences that add to ``text``, in abstract order, chosen by maximal marginal
    relevance: each step takes the quote with the best ``lam`` x its match score - (1 - ``lam``) x its highest
    cosine to a sentence of ``text`` or a quote taken before it, and stops when that quote's highest cosine is
    above ``max_similarity`` (it restates what is said). A quote that ``text`` already holds verbatim (a list bullet
    or a declined single answer opens with the best quote, after the paper's name) is never taken. With
    ``new_share``, a quote is also passed over unless that share of its content words (stemmed) is in neither
    ``text`` nor a quote taken before it."""
    if room <= 0 or not quotes.sentences:
        return []
    plain = strip_markers(text)
    held = _verbatim(plain)
    vecs = quotes.vectors if quotes.vectors is not None else embed(quotes.sentences)
    said_sents = split_sentences(plain)
    # Each quote's highest cosine to what is said so far, raised as quotes are taken.
    redundancy = (vecs @ np.asarray(embed(said_sents)).T).max(axis=1) if said_sents else np.zeros(len(quotes.sentences))
    rel = np.asarray(quotes.scores or [0.0] * len(quotes.sentences), dtype=float)
    words = terms(plain)
    picked: list[int] = []
    left = [j for j, quote in enumerate(quotes.sentences) if _verbatim(quote) not in held]
    while len(picked) < room:
        if new_share:
            left = [k for k in left if _is_new(quotes.sentences[k], words, new_share)]
        if not left:
            break
        j = max(left, key=lambda k: (lam * rel[k] - (1 - lam) * redundancy[k], -k))
        if redundancy[j] > max_similarity:
            break
        picked.append(j)
        left.remove(j)
        redundancy = np.maximum(redundancy, vecs @ vecs[j])
        words |= terms(quotes.sentences[j])
    return [quotes.sentences[j] for j in sorted(picked)]


def _verbatim(text: str) -> str:
    """``text`` for a verbatim-containment test: lower case, one space between words, no closing stop."""
    return " ".join(text.lower().split()).rstrip(".!?")


def _is_new(sentence: str, said: set[str], share: float) -> bool:
    mine = terms(sentence)
    return bool(mine) and len(mine - said) >= share * len(mine)


def quote_sentence(quote: str) -> str:
    """A verbatim quote as an answer sentence: in quotation marks, so it reads as the paper's words."""
    text = quote.strip()
    if text and text[-1] not in ".!?":
        text += "."
    return f"“{text}”"


@dataclass
class Written:
    """One answer sentence about one paper, and whether it is the model's or the quote itself."""

    text: str
    from_model: bool
    draft: str | None = None  # the model's sentence when it was replaced by the quote
    reason: str | None = None  # why it was replaced


class QuoteSteps:
    """The per-paper model steps (see the module docstring); ``supports`` is the checker's verdict."""

    def __init__(
        self,
        llm: LLM,
        prompt: Prompt,
        supports: Callable[[str, Paper], bool],
        max_tokens: int = 60,
        max_echo: int = 0,
    ) -> None:
        self.llm = llm
        self.prompt = prompt
        self.supports = supports
        self.max_tokens = max_tokens
        self.max_echo = max_echo  # answer.max_question_echo_words; 0 = not checked
        self.tokens_in = 0
        self.tokens_out = 0
        self.seconds: dict[str, float] = defaultdict(float)  # step -> seconds spent in it (screen, write, check)
        self.calls: dict[str, int] = defaultdict(int)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Adds the time spent inside the block to ``step`` (see :meth:`step_seconds`)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] += time.perf_counter() - t0
            self.calls[step] += 1

    def step_seconds(self) -> dict[str, dict[str, float]]:
        """Where this answer's model and checker time went: ``{step: {"s": seconds, "calls": n}}``."""
        return {k: {"s": round(v, 3), "calls": self.calls[k]} for k, v in self.seconds.items()}

    def _count_usage(self) -> None:
        self.tokens_in += self.llm.last_usage.tokens_in
        self.tokens_out += self.llm.last_usage.tokens_out

    def complete(self, messages: list, max_tokens: int) -> str:
        """One model call, its tokens added to this answer's usage."""
        try:
            return self.llm.complete(messages, max_tokens=max_tokens)
        finally:
            self._count_usage()

    def messages(self, question: str, paper_text: str, task: str) -> list:
        """The chat messages of one step (prompts/quotes.toml)."""
        return self.prompt.render(question=question, paper=paper_text, task=task)

    def screen(self, question: str, quotes: Quotes, kind: str) -> float:
        """P(YES) that this paper answers / addresses the question (``kind``: single, list or summary)."""
        messages = self.messages(question, quotes.block(), self.prompt.parts[f"screen_{kind}"])
        with self.timed("screen"):
            lp = self.llm.choice_logprobs(messages, ["YES", "NO"])
            if lp is not None:
                self._count_usage()
            else:  # no log-probabilities from this backend: its word decides
                reply = self.complete(messages, max_tokens=3).strip().upper()
                return 1.0 if reply.startswith("YES") else 0.0
        yes, no = lp.get("YES", -math.inf), lp.get("NO", -math.inf)
        if yes == -math.inf and no == -math.inf:
            return 0.0
        top = max(yes, no)
        return float(math.exp(yes - top) / (math.exp(yes - top) + math.exp(no - top)))

    def generate(self, question: str, paper_text: str, task: str, max_tokens: int | None = None) -> str:
        """The model's raw reply to one step (markers and surrounding whitespace removed)."""
        with self.timed("write"):
            reply = self.complete(self.messages(question, paper_text, task), max_tokens or self.max_tokens)
        return _MARKERS.sub("", reply).strip()

    def write(
        self, question: str, quotes: Quotes, kind: str, max_sentences: int = 1, max_tokens: int | None = None
    ) -> Written | None:
        """Up to ``max_sentences`` sentences about this paper; None when the model says the quotes do not answer.

        Each sentence is checked on its own and kept when it reads as a claim
        (not first person, no number missing from the quotes) and the checker
        finds it supported by the paper; when none is kept the best quote is
        used, verbatim. A last sentence that the token limit (``max_tokens``,
        default ``self.max_tokens``) cut off is never shown. Dropped sentences
        are reported in ``draft``/``reason``.
        """
        limit = max_tokens or self.max_tokens
        reply = self.generate(question, quotes.block(), self.prompt.parts[f"write_{kind}"], max_tokens=limit)
        if is_refusal(reply):
            return None
        sentences = [s for s in split_sentences(reply) if re.search(r"[A-Za-z]{3}", s)]
        kept, dropped, reasons = [], [], []
        if sentences and self.llm.last_usage.tokens_out >= limit and not _COMPLETE.search(sentences[-1]):
            dropped.append(sentences.pop())
            reasons.append(f"cut off at the {limit}-token limit")
        sentences = sentences[:max_sentences]
        source = " ".join(quotes.sentences)
        for sentence in sentences:
            reason = self._problem(sentence, source, quotes.paper, question)
            if reason is None:
                kept.append(sentence)
            else:
                dropped.append(sentence)
                reasons.append(reason)
        draft = " ".join(dropped) or None
        reason = "; ".join(dict.fromkeys(reasons)) or None
        if kept:
            return Written(" ".join(kept), from_model=True, draft=draft, reason=reason)
        return Written(quote_sentence(quotes.best), False, draft or reply or None, reason or "the model wrote nothing usable")

    def _problem(self, sentence: str, source: str, paper: Paper, question: str = "") -> str | None:
        """Why one written sentence cannot be shown as a claim about ``paper``, or None."""
        if has_foreign_numbers(sentence, source):
            return "a number that its quotes do not contain"
        if _FIRST_PERSON.match(sentence):
            return "written in the first person, as the abstract's own words"
        echo = question_echo(sentence, question, paper) if self.max_echo else []
        if len(echo) >= self.max_echo > 0:
            return f"it repeats the question's words that the paper does not use ({', '.join(echo)})"
        with self.timed("check"):
            supported = self.supports(sentence, paper)
        return None if supported else "not supported by the paper's abstract"
