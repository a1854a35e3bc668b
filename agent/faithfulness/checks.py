"""Deterministic checks of one claim against its evidence.

Each check returns :class:`Issue` objects (empty list = nothing found). An
issue carries a ``kind`` (which check), a human ``reason`` and a ``cap``: the
highest score the claim may keep once the issue is found (see
:class:`agent.faithfulness.checker.CheckerConfig` for the values).

Checks:

* :func:`check_citations` - cites a paper that is not among the contexts;
* :func:`check_uncited` - a sentence with factual content and no citation;
* :func:`check_numbers` - a number / percentage / multiplier absent from or
  different in the cited evidence;
* :func:`check_names` - an acronym, method, dataset or other name absent from
  the cited evidence (when it is in another retrieved paper, the claim is
  reported as misattributed);
* :func:`check_attribution` - the best evidence is in another retrieved paper;
* :func:`check_negation` - negation (or an antonym) not matching the
  best-aligned evidence;
* :func:`check_quantifiers` - "all", "every", "only", "always", ... that the
  evidence does not say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from agent.faithfulness.text import (
    _is_name_like,
    closest_number,
    content_stems,
    counted_nouns,
    name_in,
    names,
    number_supported,
    numbers,
)
from agent.sentences import split_sentences


@dataclass(frozen=True)
class Issue:
    kind: str  # number | entity | uncited_paper | no_citation | attribution | negation | quantifier | alignment
    reason: str
    cap: float
    paper_id: str | None = None  # the paper where the claim was found instead (attribution)


def _short(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _cite(ids: list[str]) -> str:
    return "".join(f"[{i}]" for i in ids)


# ------------------------------------------------------------------ citations
def check_citations(citations: list[str], contexts: Mapping[str, object], cap: float) -> list[Issue]:
    unknown = [c for c in citations if c not in contexts]
    if not unknown:
        return []
    return [Issue("uncited_paper", f"cites {_cite(unknown)}, which is not among the retrieved papers", cap)]


_META = re.compile(
    r"\b(?:do(?:es)? not (?:say|mention|provide|discuss|report|state|specify|address|describe|contain|include)"
    r"|(?:is|are) not (?:mentioned|stated|reported|provided|discussed|specified|described|given|covered|addressed)"
    r"|not (?:enough|sufficient) (?:information|evidence)|no (?:information|mention|details?)"
    r"|(?:cannot|can't|could not|couldn't) (?:find|answer|determine|say|tell)|i (?:don't|do not) know"
    r"|the (?:provided |given )?(?:abstracts|papers|contexts|sources|evidence) (?:do not|don't))",
    re.I,
)
_HEADING = re.compile(r"^(?:#+\s|\|)|:\s*$")


def is_meta(text: str) -> bool:
    """A refusal, heading or note about the sources, which makes no claim about a paper."""
    return bool(_META.search(text) or _HEADING.search(text.strip()))


def check_uncited(
    text: str, best_score: float, best_paper: str | None, min_score: float, cap: float
) -> list[Issue]:
    """A sentence without citations that states something specific (a number, a name, a paper's content)."""
    if is_meta(text):
        return []
    specific = numbers(text, words=False) or names(text)
    if specific:
        what = str(specific[0])
        return [Issue("no_citation", f"no citation for a specific claim (mentions {what!r})", cap, best_paper)]
    if best_score >= min_score:
        where = f"; it matches [{best_paper}]" if best_paper else ""
        return [Issue("no_citation", f"factual sentence without a citation{where}", cap, best_paper)]
    return []


# ------------------------------------------------------------------ numbers
def check_numbers(
    text: str,
    cited_text: str,
    best_unit_text: str | None,
    others: Mapping[str, str],
    cap: float,
) -> list[Issue]:
    claim_nums = numbers(text)
    if not claim_nums:
        return []
    evid = numbers(cited_text)
    issues: list[Issue] = []
    for n in claim_nums:
        if number_supported(n, evid):
            continue
        if n.surface.isalpha():
            # A number word ("the two groups") is often a paraphrase: it is wrong only when
            # the evidence counts the same thing differently ("three datasets" vs "five datasets").
            nouns = counted_nouns(text, n)
            rivals = [e for e in evid if counted_nouns(cited_text, e) & nouns]
            if not rivals:
                continue
        elsewhere = [pid for pid, t in others.items() if number_supported(n, numbers(t))]
        local = numbers(best_unit_text) if best_unit_text else []
        near = closest_number(n, local or evid)
        if near is not None and (local or not elsewhere):
            reason = f"number {n.surface} not in evidence; evidence says {near.surface}"
        elif elsewhere:
            reason = f"number {n.surface} not in the cited evidence; it appears in [{elsewhere[0]}]"
        else:
            reason = f"number {n.surface} not in evidence; the cited evidence gives no number"
        issues.append(Issue("number", reason, cap, elsewhere[0] if elsewhere else None))
    return issues


# ------------------------------------------------------------------ names
def _acronym_of(name: str, text_lower: str) -> bool:
    """'LLM' is supported by 'large language models', 'VAE' by 'variational autoencoder'.

    Consecutive words (hyphen parts count as words) give the acronym's letters
    by their initials; the last word may give the remaining letters in order
    ('autoencoder' -> 'ae').
    """
    core = re.sub(r"e?s$", "", name) if name[:-1].isupper() else name
    if not (2 <= len(core) <= 8) or not core.isalpha() or not core.isupper():
        return False
    acro = core.lower()
    toks = re.findall(r"[a-z0-9]+", text_lower)
    for i, tok in enumerate(toks):
        if tok[0] != acro[0]:
            continue
        k = 1  # letters matched so far
        j = i
        while k < len(acro):
            if j + 1 < len(toks) and toks[j + 1][0] == acro[k]:
                j += 1
                k += 1
                continue
            # the remaining letters from inside the last word ("autoencoder" -> "e")
            rest = iter(toks[j][1:])
            if j > i and all(ch in rest for ch in acro[k:]):
                k = len(acro)
            break
        if k == len(acro) and j > i:
            return True
    return False


def check_names(
    text: str,
    cited_text: str,
    others: Mapping[str, str],
    cited_ids: list[str],
    cap_entity: float,
    cap_attribution: float,
) -> list[Issue]:
    found = names(text)
    if not found:
        return []
    low = cited_text.lower()
    issues: list[Issue] = []
    for name in found:
        if name_in(name, low) or _acronym_of(name, low):
            continue
        parts = [p for p in re.split(r"[-/]", name) if p]
        if len(parts) > 1 and re.search(r"\d", name):
            # "GPT-4-based" is fine where the evidence says "GPT-4"; "GPT-5" is not, so the digits stay attached.
            key = "-".join(p for p in parts if not p.isalpha() or not p.islower())
            if key != name and name_in(key, low):
                continue
        elif len(parts) > 1:
            key_parts = [p for p in parts if _is_name_like(p) or p[:1].isupper()]
            if key_parts and all(name_in(p, low) or _acronym_of(p, low) for p in key_parts):
                continue  # "CLEVR-like", "LVLM-generated"
        elsewhere = [pid for pid, t in others.items() if name_in(name, t.lower())]
        if elsewhere:
            issues.append(
                Issue(
                    "attribution",
                    f"claim found in [{elsewhere[0]}], cited to {_cite(cited_ids)} ({name!r} is not in the cited paper)",
                    cap_attribution,
                    elsewhere[0],
                )
            )
        else:
            issues.append(Issue("entity", f"name {name!r} not in the cited evidence", cap_entity))
    return issues


# ------------------------------------------------------------------ attribution
def check_attribution(
    cited_score: float,
    other_score: float,
    other_paper: str | None,
    cited_cov: float,
    other_cov: float,
    cited_ids: list[str],
    margin: float,
    min_score: float,
    cap: float,
) -> list[Issue]:
    """The claim matches another retrieved paper clearly better than the cited one."""
    if other_paper is None or other_score < min_score:
        return []
    if other_score - cited_score >= margin and other_cov >= cited_cov:
        return [
            Issue(
                "attribution",
                f"claim found in [{other_paper}], cited to {_cite(cited_ids)} "
                f"(similarity {other_score:.2f} vs {cited_score:.2f})",
                cap,
                other_paper,
            )
        ]
    return []


# ------------------------------------------------------------------ negation
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
_NEG_SCOPE_WORDS = 3
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
    quote = _short(unit_text)
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
                return [Issue("negation", f"claim drops the evidence's negation of '{scope[0]}': \"{_short(other)}\"", cap)]
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


# ------------------------------------------------------------------ quantifiers
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


def check_quantifiers(text: str, unit_text: str | None, cited_text: str, cap: float) -> list[Issue]:
    """Universal quantifiers ("all", "every", "only", "no previous") the evidence does not state.

    A quantifier must be licensed by the best-aligned evidence (``unit_text``),
    or, when absent from it, at least by the cited evidence as a whole; a
    universal claim over a hedged unit ("most", "many", "several") is an
    escalation even when the word occurs elsewhere in the abstract.
    """
    claim_words = _qwords(text)
    unit_words = set(_qwords(unit_text or ""))
    evid_words = set(_qwords(cited_text)) | unit_words
    evid_words |= {p for w in list(evid_words) for p in w.split("-")}
    issues: list[Issue] = []
    quote = _short(unit_text or "")
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
            (set(_qwords(s)), _short(s)) for s in split_sentences(unit_text) if len(topic & set(content_stems(s))) >= 2
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


# ------------------------------------------------------------------ coverage
def coverage(text: str, evidence_text: str) -> float:
    """Share of the claim's content words (stemmed) that occur in ``evidence_text``."""
    claim = content_stems(text)
    if not claim:
        return 1.0
    evid = set(content_stems(evidence_text))
    return sum(1 for s in claim if s in evid) / len(claim)
