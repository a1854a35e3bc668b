"""Direct matches when a question names a paper: by title, acronym or method name.

Dense and BM25 search both blur rare names ("LightGCL", "InfoVAE", "DCL"):
an acronym is one token among hundreds. This index maps the names a paper
*defines* — the part of its title before a colon, acronyms and CamelCase
names in its title, and acronyms its abstract introduces ("... (DCL)",
"called X", "dubbed X", "we propose X") — to the paper, and finds them in a question. An
acronym that no paper defines is looked up as the initials of a capitalised
name in an abstract ("we call Contrastive Predictive Coding" for "CPC").
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable

from agent.ingest.normalize import title_key
from agent.types import Paper

#: A token that looks like a name: internal capitals, digits mixed with letters, or all caps.
_NAME_TOKEN = re.compile(r"\b([A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*)\b")
_DEFINED_IN_PARENS = re.compile(r"\(([A-Z][A-Za-z0-9-]{1,20})\)")
_CALLED = re.compile(r"\b(?:called|dubbed|named|termed|coined)\s+([A-Z][A-Za-z0-9-]{1,30})")
#: "we propose DELLA, a ...", "this paper introduces MAUVE": a name a paper introduces without parentheses.
_PROPOSED = re.compile(r"\b(?:[Ww]e|[Tt]his (?:paper|work))\s+(?:propose|present|introduce|develop|design)s?\s+([A-Z][A-Za-z0-9-]{1,30})\b")
#: "we present a new framework DCLR (...)", "we propose a simple method, CODE, that ...": the name after an article and at
#: most four describing words (no preposition: "a method based on BERT" introduces no BERT), and before punctuation or
#: a clause ("a straightforward MLP diffusion network" names no MLP).
_PROPOSED_DESCRIBED = re.compile(
    r"\b(?:[Ww]e|[Tt]his (?:paper|work))\s+(?:propose|present|introduce|develop|design)s?\s+(?:an?|the)\s+"
    r"(?:(?!(?:on|of|for|to|with|in|by|from|based|using|that|which|and|or)\b)[a-z][\w-]*,?\s+){0,4}"
    r"([A-Z][A-Za-z0-9-]{1,30})(?=\s*[,.;:(]|\s+(?:that|which|to|for|with|as|by|on)\b)"
)
#: "DCLR (Debiased Contrastive Learning of unsupervised sentence Representations)": an acronym followed by the words
#: it abbreviates (checked by their initials).
_DEFINED_BEFORE_PARENS = re.compile(r"\b([A-Z][A-Za-z0-9-]{1,20})\s+\(([A-Za-z][^()]{5,150})\)")
_TITLE_HEAD = re.compile(r"^\s*([^:]{2,40}):")
#: Common words that are all-caps or capitalised but name no method.
_STOP_NAMES = {"a", "an", "the", "we", "our", "this", "in", "on", "of", "and", "for", "to", "ai", "i", "ii"}
#: Match strengths: a name the title defines beats one the abstract introduces.
TITLE_NAME, ABSTRACT_NAME = 1.0, 0.7
#: Shortest title (in characters of its key) that counts as quoted in a question.
MIN_TITLE_KEY = 15
#: A name that this many papers or more define is a field's term ("LLM", "VAE"), not one paper's name.
GENERIC_NAME_PAPERS = 3
#: Name-index keys of initialisms start with this (no name key does: keys are letters and digits).
INITIALS_PREFIX = "~"
#: Match strength of an acronym found only as the initials of an abstract's capitalised phrase (below a defined name).
INITIALS_NAME = 0.5
#: Shortest acronym looked up as initials, in letters, and most words it spans.
INITIALS_MIN_LETTERS, INITIALS_MAX_WORDS = 3, 6


def looks_like_name(token: str) -> bool:
    """True for LightGCL, InfoVAE, DCL, GPT-4, t-SNE; false for plain words like Which or graph."""
    if len(token) < 2 or token.lower() in _STOP_NAMES:
        return False
    has_upper_inside = any(c.isupper() for c in token[1:])
    has_digit = any(c.isdigit() for c in token) and any(c.isalpha() for c in token)
    return has_upper_inside or has_digit


def name_key(name: str) -> str:
    """A name reduced to its lowercase letters and digits: equal keys are one name ("NV-Embed", "nvembed")."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    """A pattern for ``phrase`` as whole words, in any case and whatever joins its words ("Poly-View" finds "poly
    view", "T-cell activation" finds "T cell activation"); None when it has no word."""
    words = re.findall(r"[a-z0-9]+", phrase.lower())
    if not words:
        return None
    return re.compile(r"(?<![a-z0-9])" + r"[^a-z0-9]+".join(map(re.escape, words)) + r"(?![a-z0-9])", re.I)


#: A lowercase word hyphenated to a name, before or after it ("non-IID", "CLIP-style", "UCP1-dependent").
_NAME_AFFIX = re.compile(r"^[a-z]+-(?=[A-Z])|-[a-z]+$")
#: The plural "s" of an acronym ("HPVs", "LLMs").
_ACRONYM_PLURAL = re.compile(r"(?<=[A-Z0-9])s$")


def name_core(name: str) -> str:
    """The name itself, without a hyphenated lowercase modifier or an acronym's plural "s": "CLIP-style" -> "CLIP",
    "non-IID" -> "IID", "UCP1-dependent" -> "UCP1", "HPVs" -> "HPV"."""
    return _ACRONYM_PLURAL.sub("", _NAME_AFFIX.sub("", name))


def writes_name(name: str, text: str) -> bool:
    """True when ``text`` holds ``name`` in any spelling of its letters and digits ("HIV1" and "HIV-1"), or, for an
    all-caps name, spells it out ("FSH": "follicle stimulating hormone")."""
    key = name_key(name)
    return any(name_key(token) == key for token in _NAME_TOKEN.findall(text)) or (name.isupper() and spells_out(name, text))


def title_head(title: str) -> str | None:
    """The name a title opens with, before its colon (at most three words): "LightGCL" in "LightGCL: Simple Yet ..."."""
    head = _TITLE_HEAD.match(title)
    return head.group(1).strip() if head and len(head.group(1).split()) <= 3 else None


def paper_names(paper: Paper) -> dict[str, float]:
    """Name key -> strength of the names ``paper`` defines (the strongest when a name occurs twice), and
    :data:`INITIALS_PREFIX` + the initials of the capitalised phrases of its abstract (:func:`name_initialisms`)."""
    out: dict[str, float] = {}
    for name, strength in _paper_names(paper):
        key = name_key(name)
        if len(key) >= 2:
            out[key] = max(out.get(key, 0.0), strength)
    for initials in name_initialisms(paper.abstract):
        out.setdefault(INITIALS_PREFIX + initials, INITIALS_NAME)
    return out


def name_initialisms(abstract: str) -> set[str]:
    """The initials of each run of two to six capitalised words inside a sentence of ``abstract`` (a
    hyphenated word gives its parts' initials) that make at least three letters: "... which we call Contrastive
    Predictive Coding." -> {"cpc"}.

    Capitals in the middle of running text mark a name. A sentence's first word, all-capital words (acronyms
    already) and titles are left out: title case capitalises every word, and runs of title words ("Potential
    SPECT Probe", "Male-Sterile Mutant") named wrong papers for 6 of SciFact's 809 training claims."""
    out: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+", abstract):
        runs: list[list[str]] = [[]]
        for word in re.findall(r"[A-Za-z][\w'-]*", sentence)[1:]:
            parts = [p for p in word.split("-") if p]
            if parts and parts[0][0].isupper() and not word.isupper():
                runs[-1].append("".join(p[0] for p in parts).lower())
            else:
                runs.append([])
        out.update("".join(r) for r in runs if 2 <= len(r) <= INITIALS_MAX_WORDS and len("".join(r)) >= INITIALS_MIN_LETTERS)
    return out


def _paper_names(paper: Paper) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    head = title_head(paper.title)
    if head:
        out.append((head, TITLE_NAME))
    for token in _NAME_TOKEN.findall(paper.title):
        if looks_like_name(token):
            out.append((token, TITLE_NAME))
    for pattern in (_DEFINED_IN_PARENS, _CALLED, _PROPOSED, _PROPOSED_DESCRIBED):
        out.extend((name, ABSTRACT_NAME) for name in pattern.findall(paper.abstract) if _names_something(name))
    for name, long_form in _DEFINED_BEFORE_PARENS.findall(paper.abstract):
        if _names_something(name) and _initials_match(name, long_form):
            out.append((name, ABSTRACT_NAME))
    return out


def _names_something(token: str) -> bool:
    """A token an abstract introduces that can be a name: name-like (LightGCL, GPT-4) or an acronym (DCLR)."""
    return looks_like_name(token) or token.isupper()


def title_spans(query: str, max_words: int) -> list[str]:
    """Every run of up to ``max_words`` consecutive words of the query's title key long enough to be a title."""
    words = title_key(query).split()
    spans = []
    for i in range(len(words)):
        for j in range(i + 1, min(len(words), i + max_words) + 1):
            span = " ".join(words[i:j])
            if len(span) >= MIN_TITLE_KEY:
                spans.append(span)
    return list(dict.fromkeys(spans))


class NameIndex:
    """Name -> papers, plus full-title lookup, held in memory.

    :class:`agent.retrieval.snapshot.StoredNameIndex` answers the same lookups from a file on disk.
    """

    def __init__(self, papers: Iterable[Paper] = ()) -> None:
        self.names: dict[str, dict[str, float]] = defaultdict(dict)
        self.titles: dict[str, str] = {}
        self.max_title_words = 0
        for paper in papers:
            tkey = title_key(paper.title)
            self.titles[tkey] = paper.id
            self.max_title_words = max(self.max_title_words, len(tkey.split()))
            for key, strength in paper_names(paper).items():
                self.names[key][paper.id] = strength

    # -- lookups (what a stored index overrides) ----------------------------
    def lookup_names(self, keys: list[str]) -> dict[str, dict[str, float]]:
        """Name key -> {paper id: strength} for the keys that name papers."""
        return {k: dict(self.names[k]) for k in keys if k in self.names}

    def lookup_titles(self, keys: list[str]) -> dict[str, str]:
        """Title key -> paper id for the keys that are titles."""
        return {k: self.titles[k] for k in keys if k in self.titles}

    def is_generic(self, name: str) -> bool:
        """True when ``GENERIC_NAME_PAPERS`` or more papers define ``name`` ("LLM", "VAE"): it names no one paper."""
        key = name_key(name)
        keys = [key, key[:-1]] if key.endswith("s") and len(key) > 3 else [key]  # "VAEs" counts with "VAE"
        found = self.lookup_names(keys)
        return len({pid for k in keys for pid in found.get(k, {})}) >= GENERIC_NAME_PAPERS

    # -- search ---------------------------------------------------------------
    def query_names(self, query: str) -> list[str]:
        """Name-like tokens of a question (e.g. ['LightGCL', 'DCL'])."""
        return [t for t in _NAME_TOKEN.findall(query) if looks_like_name(t) or (t.isupper() and len(t) >= 2)]

    def search(self, query: str, specific: bool = False) -> list[tuple[str, float]]:
        """(id, strength) of papers the question names, strongest first; with ``specific``, by names that are no
        field's term (:meth:`is_generic`: "VAE" in "the information-maximizing VAE" names a dozen papers)."""
        hits: dict[str, float] = {}
        names = [n for n in self.query_names(query) if not (specific and self.is_generic(n))]
        keys = list(dict.fromkeys(name_key(name) for name in names))
        found = self.lookup_names(keys)
        # An acronym no paper defines ("CPC") may be the initials of a name an abstract uses ("Contrastive Predictive Coding").
        undefined = [INITIALS_PREFIX + name_key(n) for n in names if n.isupper() and len(name_key(n)) >= INITIALS_MIN_LETTERS and name_key(n) not in found]
        found.update(self.lookup_names(list(dict.fromkeys(undefined))))
        for key in found:
            for pid, strength in found[key].items():
                hits[pid] = max(hits.get(pid, 0.0), strength)
        for pid in self.lookup_titles(title_spans(query, self.max_title_words)).values():
            hits[pid] = max(hits.get(pid, 0.0), TITLE_NAME + 0.5)
        return sorted(hits.items(), key=lambda kv: -kv[1])


#: Shortest abbreviation taken from an abstract as a paper's name ("CL" for "contrastive learning" names no paper).
MIN_ABBREVIATION = 3
#: Longest title shown whole as a paper's display name, in words.
DISPLAY_TITLE_WORDS = 8


def _initials(text: str) -> str:
    """The lower-cased first letters of ``text``'s words ("Contrastive Predictive Coding" -> "cpc")."""
    return "".join(w[0] for w in re.findall(r"[A-Za-z][\w'-]*", text)).lower()


def spells_out(acronym: str, text: str) -> bool:
    """True when ``text`` has consecutive words whose initials are the acronym's letters: "CPC" in "...
    Contrastive Predictive Coding" (an acronym the paper uses but never defines in parentheses)."""
    letters = "".join(c for c in acronym.lower() if c.isalpha())
    if len(letters) < MIN_ABBREVIATION:
        return False
    return letters in _initials(text)


def _initials_match(name: str, title: str) -> bool:
    """True when the letters of ``name`` (DCLR) follow the initials of the title's words in order."""
    initials = _initials(title)
    letters = [c for c in name.lower() if c.isalpha()]
    it = iter(initials)
    return len(letters) >= MIN_ABBREVIATION and all(c in it for c in letters)


def names_one_thing(name: str) -> bool:
    """False for title-case and adjective compounds ("Audio-Visual", "Pre-Trained": capitals from the title's
    case; "PMI-based") and plural acronyms ("LLMs", "TDMs": a kind of thing, not one paper)."""
    parts = name.split("-")
    if len(parts) > 1 and (all(re.fullmatch(r"[A-Z]?[a-z]+", p) for p in parts) or re.fullmatch(r"[a-z]{3,}", parts[-1])):
        return False  # "Audio-Visual", "Pre-Trained", "PMI-based"
    return not re.fullmatch(r"[A-Z][A-Z0-9]+s", name)


def defined_name(paper: Paper, generic: Callable[[str], bool] | None = None) -> str | None:
    """The short name ``paper`` goes by: the name its title defines (``LightGCL``), else a name its abstract
    introduces that abbreviates the title (``DCLR``); None when it has none.

    ``generic`` (:meth:`NameIndex.is_generic`) says which names several papers of the corpus define ("LLM",
    "MLLM"): they name no one paper, so a title token or abbreviation that is one is passed over (a title's own
    head, "CLIP: ...", is still its name)."""
    head_name = title_head(paper.title)
    if head_name and names_one_thing(head_name):
        return head_name

    def usable(name: str) -> bool:
        return names_one_thing(name) and not (generic is not None and generic(name))

    for name, strength in _paper_names(paper):
        if strength == TITLE_NAME and name != head_name and usable(name):
            return name
    tokens = [t for t in _NAME_TOKEN.findall(paper.abstract) if looks_like_name(t) or (t.isupper() and len(t) >= 2)]
    abbreviations = [t for t in tokens if _initials_match(t, paper.title) and usable(t)]
    if abbreviations:
        return max(dict.fromkeys(abbreviations), key=abbreviations.count)
    # The name the paper gives its own contribution: "we propose an online algorithm, SwAV, that ...".
    introduced = [n for pattern in (_PROPOSED, _PROPOSED_DESCRIBED, _CALLED) for n in pattern.findall(paper.abstract)]
    return next((n for n in introduced if _names_something(n) and usable(n)), None)


def display_name(paper: Paper, generic: Callable[[str], bool] | None = None) -> str:
    """How an answer names a paper: its :func:`defined_name`, else its title (cut after a few words)."""
    name = defined_name(paper, generic)
    if name:
        return name
    words = paper.title.split()
    # A "!" or "?" inside the title ends the name there ("I Can't Believe There's No Images!"): the words after it
    # would read as a new sentence, and an answer's sentence splitter would cut the name in two.
    for i, word in enumerate(words[: DISPLAY_TITLE_WORDS - 1]):
        if word.endswith(("!", "?")):
            return " ".join(words[: i + 1])
    return " ".join(words[:DISPLAY_TITLE_WORDS]) + (" …" if len(words) > DISPLAY_TITLE_WORDS else "")
