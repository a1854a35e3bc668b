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
  best-aligned evidence (in :mod:`agent.faithfulness.negation`);
* :func:`check_quantifiers` - "all", "every", "only", "always", ... that the
  evidence does not say (in :mod:`agent.faithfulness.quantifiers`);
* :func:`verbatim_source` - the opposite kind of fact: a sentence that is a
  quotation of its cited paper, word for word, is supported by it, whatever
  the word-level checks would make of it against a neighbouring sentence.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from agent.faithfulness.text import (
    _is_name_like,
    closest_number,
    content_stems,
    counted_nouns,
    counts_something_else,
    name_in,
    names,
    number_supported,
    numbers,
)
from agent.faithfulness.issues import Issue
from agent.faithfulness.negation import check_negation, negation_count, negation_cues, negation_scopes
from agent.faithfulness.quantifiers import check_quantifiers

__all__ = [
    "Issue",
    "check_attribution",
    "check_citations",
    "check_names",
    "check_negation",
    "check_numbers",
    "check_quantifiers",
    "check_uncited",
    "coverage",
    "verbatim_source",
    "is_meta",
    "negation_count",
    "negation_cues",
    "negation_scopes",
]


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
            other = counts_something_else(text, n, cited_text)
            if other is not None:  # "14 LLMs" where the evidence's 14 counts tasks
                issues.append(Issue("number", f"number {n.surface} counts {other!r} in the evidence, not what the sentence says", cap))
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


# ------------------------------------------------------------------ coverage
def coverage(text: str, evidence_text: str) -> float:
    """Share of the claim's content words (stemmed) that occur in ``evidence_text``."""
    claim = content_stems(text)
    if not claim:
        return 1.0
    evid = set(content_stems(evidence_text))
    return sum(1 for s in claim if s in evid) / len(claim)


#: "Name: “quoted words.”" or "“quoted words.”" (straight quotes too); group 1 = the name, group 2 = the quotation.
_QUOTATION = re.compile(r'^\s*(?:[-*•]\s*)?(?:([^“”"]{1,120}?):\s*)?[“"](.+)[”"]\s*\.?\s*$', re.S)
#: The most words the "Name:" before a quotation may have.
_MAX_NAME_WORDS = 12


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def verbatim_source(sentence: str, citations: list[str], texts: Mapping[str, str]) -> str | None:
    """The cited paper whose text holds ``sentence`` word for word, or None.

    ``sentence`` (markers stripped) must be a quotation, optionally after a short
    name ("DCLR: “...”"): the quoted words, less their closing full stop, must
    occur in the cited paper's ``texts`` entry (whitespace and case aside), and
    every word of the name must occur there too, so a prefix cannot add a claim
    ("X fails: “...”" is not verbatim unless the paper says "fails").
    """
    m = _QUOTATION.match(sentence)
    if not m:
        return None
    name, quoted = m.group(1) or "", _squash(m.group(2)).rstrip(".")
    if len(quoted.split()) < 3 or len(name.split()) > _MAX_NAME_WORDS:
        return None
    for pid in citations:
        text = texts.get(pid)
        if text is None:
            continue
        low = _squash(text)
        if quoted in low and all(w in low for w in re.findall(r"[a-z0-9][a-z0-9-]*", name.lower().replace("…", ""))):
            return pid
    return None
