"""Quantifier checks: "all", "every", "only", "always", "the first ..." that the evidence does not say.

A universal word must be licensed by the evidence, and a universal claim over
hedged evidence ("most", "several", "occasionally") is an escalation.
"""

from __future__ import annotations

import re

from agent.faithfulness.issues import Issue, short
from agent.faithfulness.text import content_stems
from agent.sentences import split_sentences

#: Universal words a claim may add, with the evidence words that license them.
_QUANTIFIERS: dict[str, tuple[str, ...]] = {
    "all": ("all", "every", "any", "always", "universal", "universally"),
    "every": ("all", "every", "any"),
    "always": ("always", "consistently", "invariably", "every", "all"),
    "only": ("only", "solely", "exclusively", "just"),
    "solely": ("only", "solely", "exclusively"),
    "exclusively": ("only", "solely", "exclusively"),
    "never": ("never", "no", "not", "none", "without"),
    "none": ("none", "no", "never", "not", "neither"),
    "entirely": ("entirely", "completely", "fully", "totally"),
    "completely": ("entirely", "completely", "fully", "totally"),
    "fully": ("entirely", "completely", "fully", "totally"),
    "eliminates": ("eliminate", "eliminates", "eliminated", "eliminating", "removes", "removing", "remove"),
    "guarantees": ("guarantee", "guarantees", "guaranteed", "provable", "provably"),
    "guaranteed": ("guarantee", "guarantees", "guaranteed", "provable", "provably"),
    "universally": ("universally", "universal", "all"),
    "first": ("first",),
}
#: "first" claims priority only in these uses ("the first method to ...", "for the first time"); "the first
#: day", "first computes A, then B" and "the first stage" are ordinals, not quantifiers.
_PRIORITY_FIRST = re.compile(
    r"\bfirst\s+(?:to|time|ever)\b|\bfirst-ever\b|\b(?:is|was|are|were|be|being)\s+(?:the\s+)?first\b|"
    r"\b(?:the|a|our|its|their)\s+(?:very\s+)?first\s+(?:[\w-]+\s+){0,3}?"
    r"(?:method|approach|framework|model|work|study|paper|attempt|benchmark|dataset|corpus|system|algorithm|"
    r"technique|architecture|analysis|evaluation|investigation|demonstration|application|use|result|proof|bound|"
    r"theory|formulation|solution|tool|library|implementation|survey|exploration|effort)s?\b",
    re.I,
)
#: "only partly", "only a modest gain": a hedge, not a restriction to claim.
_HEDGED_ONLY = re.compile(
    r"^\s+(?:(?:a|an)\s+)?(?:partly|partially|moderately|moderate|slightly|slight|marginally|marginal|modest|"
    r"modestly|weakly|weak|somewhat|minor|small|limited|few)\b",
    re.I,
)
#: "no previous method", "no existing approach": a universal negative.
_NO_PRIOR = re.compile(r"\b(?:no|none of the)\s+(?:previous|prior|existing|other|earlier|current)\b", re.I)
#: Hedged quantities that a universal claim escalates ("most" -> "all").
_HEDGES = frozenset(
    "most many some several often mostly may might can could sometimes partially partly largely generally "
    "typically usually few certain various majority occasionally rarely seldom".split()
)
#: Hedges named last in a reason: "can" says less about the evidence than "occasionally".
_MODALS = frozenset({"may", "might", "can", "could"})
_UNIVERSALS = frozenset({"all", "every", "always", "never", "none", "entirely", "completely", "universally", "consistently"})
#: Words that license a universal word the claim uses (for words not in _QUANTIFIERS).
_LICENCES = {"consistently": ("consistently", "always", "invariably", "every", "all", "uniformly")}


def _qwords(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)*", text)]


#: A capitalised word inside a sentence (not after its start, a colon or an opening quote): a title's word.
_TITLE_CASE_WORD = re.compile(r"(?<=[A-Za-z0-9,)] )[A-Z][a-z]+\b")


def _claim_qwords(text: str) -> list[str]:
    """The claim's words, less title-case words inside it: "Worth Every Penny" names a paper, it quantifies nothing."""
    return _qwords(_TITLE_CASE_WORD.sub(" ", text))


def check_quantifiers(text: str, unit_text: str | None, cited_text: str, cap: float) -> list[Issue]:
    """Universal quantifiers ("all", "every", "only", "no previous") the evidence does not state.

    A quantifier must be licensed by the best-aligned evidence (``unit_text``),
    or, when absent from it, at least by the cited evidence as a whole; a
    universal claim over a hedged unit ("most", "many", "several") is an
    escalation even when the word occurs elsewhere in the abstract.
    """
    claim_words = _claim_qwords(text)
    unit_words = set(_qwords(unit_text or ""))
    evid_words = set(_qwords(cited_text)) | unit_words
    evid_words |= {p for w in list(evid_words) for p in w.split("-")}
    issues: list[Issue] = []
    quote = short(unit_text or "")
    universal = bool(_NO_PRIOR.search(text))
    restricting_only = [
        m for m in re.finditer(r"\bonly\b", text, re.I)
        if not re.search(r"\bnot\s*$", text[: m.start()], re.I) and not _HEDGED_ONLY.match(text[m.end() :])
    ]
    for i, w in enumerate(claim_words):
        if w in _LICENCES:  # "consistently": wrong only over hedged evidence ("occasionally")
            universal = True
            continue
        if w not in _QUANTIFIERS:
            continue
        nxt = claim_words[i + 1] if i + 1 < len(claim_words) else ""
        if w == "first" and not _PRIORITY_FIRST.search(text):
            continue
        if w == "only" and not restricting_only:
            continue
        if w == "all" and nxt in ("stages", "the", "their", "its"):  # "across all stages": a description
            if any(s in evid_words for s in _QUANTIFIERS[w]):
                continue
        if w in _UNIVERSALS:
            universal = True
        if not any(s in evid_words for s in _QUANTIFIERS[w]):
            issues.append(Issue("quantifier", f"quantifier '{w}' not supported: the evidence does not say '{w}'", cap))
    if not issues and universal and unit_text:
        word = next((w for w in claim_words if w in _UNIVERSALS), "no previous")
        licence = set(_LICENCES.get(word) or _QUANTIFIERS.get(word, ("no", "none", "never", "neither")))
        # The evidence near the claim as a whole, then each of its sentences about the same thing:
        # "Most primary MLLMs are only trained on ..." does not license "all mainstream MLLMs are
        # trained ...", even when "all" occurs in another of the sentences.
        topic = _universal_topic(text, word)
        for words, about in [(unit_words, quote)] + [
            (set(_qwords(s)), short(s)) for s in split_sentences(unit_text) if len(topic & set(content_stems(s))) >= 2
        ]:
            hedges = sorted((h for h in _HEDGES & words if h not in claim_words), key=lambda h: (h in _MODALS, h))
            if hedges and not (words & licence):
                issues.append(
                    Issue("quantifier", f"quantifier escalation: claim says '{word}', evidence says '{hedges[0]}': \"{about}\"", cap)
                )
                break
    return issues


def _universal_topic(text: str, word: str) -> set[str]:
    """Stems of the content words right after the universal ``word`` (what it quantifies), or of the clause."""
    m = re.search(rf"\b{re.escape(word)}\b", text, re.I)
    if m is None:
        return set(content_stems(text))
    return set(content_stems(" ".join(text[m.end() :].split()[:6])))
