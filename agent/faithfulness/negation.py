"""Negation checks: a claim that negates what its evidence states, or states what it negates.

Cues ("not", "without", "fails to", "-free", a "non-" prefix) are read with a
narrow scope (the words they govern), so that "requires no labeled data" and
"does not require labeled data" agree while "requires labeled data" does not.
Cues that deny nothing ("not only", "with or without", "whether or not",
litotes such as "not unusual") are left out, and antonym pairs ("increases" /
"decreases") count as negations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from agent.faithfulness.issues import Issue, short
from agent.faithfulness.text import content_stems

_NEG_CUE = re.compile(
    r"\b(?:not|no|never|none|nor|neither|cannot|without|unable\s+to|fail(?:s|ed)?\s+to|lack(?:s|ed|ing)?)\b|n['’]t\b",
    re.I,
)
#: Cues that negate nothing: "with or without X", "whether or not", "X or not" (both cases are covered).
_NEUTRAL_BEFORE = re.compile(r"\b(?:with\s+(?:or|and)|whether\s+or|if\s+or)\s*$", re.I)
_NEUTRAL_AFTER = re.compile(r"^\s+(?:only|just|merely|necessarily|least)\b", re.I)
#: Litotes: "not unusual" asserts that it is usual, "not negligible" that it matters.
_LITOTES = re.compile(
    r"^\s+(?:un(?:usual|common|commonly|likely|expected|reasonable|important|related|known|interesting|realistic)|"
    r"in(?:significant|frequent|frequently|considerable|substantial|effective|consistent|feasible)|"
    r"im(?:possible|probable|material)|negligible|trivial|rare|rarely|infrequent)\b",
    re.I,
)
#: Verbs that pass a negation on to their object: "without resorting to negative sampling" negates the
#: sampling, so a narrow scope that ends at a preposition starts after them.
_LIGHT_VERB = re.compile(
    r"^\s+(?:(?:resort(?:ing|s|ed)?|recourse)\s+to|rel(?:y|ying|ies|ied)\s+(?:on|upon)|(?:the\s+)?(?:need|use)\s+(?:for|of)|"
    r"making\s+use\s+of|us(?:e|es|ed|ing)|requir(?:e|es|ed|ing)|involv(?:e|es|ed|ing)|employ(?:s|ed|ing)?)\b",
    re.I,
)
#: "non-autoregressive" vs "autoregressive": a negation written as a prefix.
_NON_PREFIX = re.compile(r"\bnon-([a-z][a-z-]{3,})", re.I)
_SCOPE_END = re.compile(r"[,;:.()]|\b(?:but|while|whereas|and|which|that)\b", re.I)
#: A narrow scope also ends at a preposition: "without supervision in three steps" negates supervision only.
_PREP_END = re.compile(r"[,;:.()]|\b(?:but|while|whereas|and|which|that|in|on|of|for|with|by|at|from|into|to|across|over)\b", re.I)
_CLAUSE_END = re.compile(r"[.;:()]|\b(?:but|while|whereas)\b", re.I)
_FREE = re.compile(r"\b([A-Za-z]+)-free\b", re.I)
_ANTONYMS = [
    ("improve", "degrade"), ("improve", "hurt"), ("improve", "worsen"), ("outperform", "underperform"),
    ("increase", "decrease"), ("higher", "lower"), ("better", "worse"), ("superior", "inferior"),
    ("success", "fail"), ("effective", "ineffective"), ("efficient", "inefficient"), ("stable", "unstable"),
    ("encourage", "prevent"), ("promote", "prevent"), ("enable", "prevent"), ("encourage", "avoid"),
    ("maximiz", "minimiz"), ("maximis", "minimis"), ("easier", "harder"), ("faster", "slower"),
    ("strengthen", "weaken"), ("include", "exclude"), ("accept", "reject"), ("correct", "incorrect"),
    ("prevent", "cause"), ("avoid", "cause"), ("mitigate", "cause"), ("reduce", "cause"),
    ("supervised", "unsupervised"), ("labeled", "unlabeled"), ("labelled", "unlabelled"),
]


def negation_scopes(
    text: str, width: int = 2, wide: bool = False, subject_negation: bool = True, phrase: bool = False
) -> list[str]:
    """Stems of the first ``width`` content words that a negation cue governs.

    "requires no labeled data" -> {label, data}. A narrow scope is what a
    text asserts is negated; a wide scope (to the clause end, ``wide=True``)
    is what it may be read as negating; ``phrase`` ends a narrow scope at the
    first preposition as well. "not only ... but also" is no negation.
    """
    out: set[str] = set()
    order: list[str] = []
    for m in negation_cues(text):
        if not subject_negation and m.group(0).lower() in ("neither", "nor", "none"):
            continue  # "neither A nor B is best" negates the predicate, not A and B
        rest = text[m.end() :]
        if phrase and (light := _LIGHT_VERB.match(rest)):
            rest = rest[light.end() :]
        stop = (_CLAUSE_END if wide else _PREP_END if phrase else _SCOPE_END).search(rest)
        scope = rest[: stop.start()] if stop else rest
        stems = content_stems(scope)
        out.update(stems if wide else stems[:width])
        order.extend(s for s in (stems if wide else stems[:width]) if s not in order)
    for m in _FREE.finditer(text):  # "finetuning-free"
        out.update(content_stems(m.group(1)))
        order.extend(content_stems(m.group(1)))
    return list(dict.fromkeys(order))


def negation_cues(text: str) -> list[re.Match[str]]:
    """The negation cues of ``text`` that negate something.

    Left out: "not only" / "not necessarily" (a restriction, not a denial),
    "with or without X" and "whether or not" (both cases hold), litotes
    ("not unusual", "not negligible": a positive statement).
    """
    cues = []
    for m in _NEG_CUE.finditer(text):
        before, rest = text[: m.start()], text[m.end() :]
        if _NEUTRAL_AFTER.match(rest):
            continue
        if _NEUTRAL_BEFORE.search(before) or (m.group(0).lower() == "not" and re.search(r"\bor\s*$", before)):
            continue
        if m.group(0).lower() in ("not", "n't", "n’t", "never") and _LITOTES.match(rest):
            continue
        cues.append(m)
    return cues


def negation_count(text: str) -> int:
    return len(negation_cues(text)) + len(_FREE.findall(text))


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[A-Za-z]+", text)}


def _has_word(prefix: str, words: set[str]) -> bool:
    return any(w == prefix or (w.startswith(prefix) and len(w) - len(prefix) <= 3) for w in words)


def check_negation(
    text: str, unit_text: str | None, cap: float, cited_text: str = "", nearby: Sequence[str] = ()
) -> list[Issue]:
    """Negation added to, or dropped from, what the best-aligned evidence says (and antonym swaps).

    ``nearby`` are the next best-aligned evidence sentences: a claim that
    joins two of them may drop the negation of the second ("does not rely on
    external datasets" -> "relies on external datasets"); there the whole
    negated phrase must reappear in the claim, not just one of its words.
    """
    if not unit_text:
        return []
    quote = short(unit_text)
    evidence = cited_text or unit_text
    unit_all = set(content_stems(unit_text))
    claim_all = set(content_stems(text))
    # The claim negates something the evidence states (and never negates).
    evid_neg = set(negation_scopes(evidence, wide=True))
    added = [s for s in negation_scopes(text, subject_negation=False, phrase=True) if s in unit_all and s not in evid_neg]
    if added:
        return [Issue("negation", f"claim negates '{added[0]}' but the evidence does not: \"{quote}\"", cap)]
    # The claim states something the evidence negates.
    claim_neg = set(negation_scopes(text, wide=True))
    dropped = [s for s in negation_scopes(unit_text) if s in claim_all and s not in claim_neg]
    if dropped and negation_count(text) < negation_count(unit_text):
        return [Issue("negation", f"claim drops the evidence's negation of '{dropped[0]}': \"{quote}\"", cap)]
    for other in nearby:
        if other == unit_text or negation_count(text) >= negation_count(other):
            continue
        for m in negation_cues(other):
            scope = negation_scopes(m.group(0) + other[m.end() :], subject_negation=False)[:2]
            if len(scope) == 2 and all(s in claim_all and s not in claim_neg for s in scope):
                return [Issue("negation", f"claim drops the evidence's negation of '{scope[0]}': \"{short(other)}\"", cap)]
    prefixed = _non_prefix_swap(text, unit_text, evidence)
    if prefixed:
        return [Issue("negation", f"{prefixed}: \"{quote}\"", cap)]
    cw, uw, ew = _words(text), _words(unit_text), _words(evidence)
    for a, b in _ANTONYMS:
        for x, y in ((a, b), (b, a)):
            exact = x.startswith("un") or y.startswith("un") or x in ("supervised", "labeled", "labelled")
            has = (lambda w, ws: w in ws) if exact else _has_word
            if has(x, cw) and not has(x, ew) and has(y, uw) and not has(y, cw):
                return [Issue("negation", f"claim says '{x}' where the evidence says '{y}': \"{quote}\"", cap)]
    return []


def _non_prefix_swap(text: str, unit_text: str, evidence: str) -> str | None:
    """A "non-" prefix dropped ("autoregressive" over "non-autoregressive") or added; None when consistent."""

    def plain(word: str, t: str) -> bool:  # the word, not as part of its "non-" form
        return re.search(rf"(?<!non-)(?<![\w-]){re.escape(word)}\b", t, re.I) is not None

    def prefixed(t: str) -> set[str]:
        return {w.lower() for w in _NON_PREFIX.findall(t)}

    claim_non, unit_non, evid_non = prefixed(text), prefixed(unit_text), prefixed(evidence)
    for word in sorted(unit_non - claim_non):
        if plain(word, text) and not plain(word, unit_text):
            return f"claim says '{word}' where the evidence says 'non-{word}'"
    for word in sorted(claim_non - evid_non):
        if plain(word, unit_text):
            return f"claim says 'non-{word}' where the evidence says '{word}'"
    return None
