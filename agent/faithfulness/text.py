"""Small text helpers shared by the checks: tokens, stems, numbers and names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

#: Function words and common academic words: never names, never "content".
STOPWORDS = frozenset(
    """
    a about above across after again against all almost also although always am among an and another any are
    around as at be because been before being below between both but by can could did do does doing done down
    during each either else even ever every few for from further had has have having he her here hers herself
    him himself his how however i if in into is it its itself just least less let like made make makes making
    many may me might more most much must my myself near neither no nor not now of off often on once one only
    onto or other others otherwise our ours ourselves out over own per rather same several she should since so
    some such than that the their theirs them themselves then there therefore these they this those though
    through thus to too toward towards under until up upon us use used uses using very via was we were what
    whatever when where whereas whether which while who whom whose why will with within without would yet you
    your yours overall instead together furthermore moreover additionally finally first second third lastly
    specifically similarly likewise meanwhile notably importantly here paper papers work works study studies
    approach approaches method methods model models propose proposes proposed present presents presented
    introduce introduces introduced show shows shown showed result results author authors abstract abstracts
    researchers research new novel based well way ways various different existing recent respectively
    table figure section appendix et al e g i etc vs cf according both another
    """.split()
)

#: Words that start a sentence without being a name.
_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "hundred": 100, "thousand": 1000, "twice": 2, "double": 2, "half": 0.5, "quarter": 0.25,
    "dozen": 12, "tenfold": 10, "twofold": 2, "threefold": 3, "hundredfold": 100,
}
_MULTIPLIER_WORDS = {"twice", "double", "tenfold", "twofold", "threefold", "hundredfold"}

_WORD_RE = re.compile(r"[A-Za-z][A-Za-z0-9'’-]*|\d+(?:\.\d+)?")
_NUM_RE = re.compile(
    r"(?<![A-Za-z0-9_.])(?<![A-Za-z]-)"  # not glued to a name ("GPT-3", "S2S")
    r"(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?|\.\d+)"
    r"(\s?(?:%|percent\b|percentage points?\b|[x×](?![A-Za-z0-9])|-?fold\b|times\b|points?\b|pp\b|"
    r"[kKMB](?![A-Za-z0-9])|million\b|billion\b))?"
    r"(?![A-Za-z0-9])"
)
_NUM_WORD_RE = re.compile(r"\b(" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + r")\b", re.I)


@dataclass(frozen=True)
class Number:
    """A number mentioned in text: its value, unit ('%', 'x' or '') and surface form."""

    value: float
    unit: str
    surface: str

    def __str__(self) -> str:
        return self.surface


def _unit(raw: str | None) -> str:
    u = (raw or "").strip().lower()
    if u in ("%", "percent") or u.startswith("percentage"):
        return "%"
    if u in ("x", "×", "fold", "-fold", "times"):
        return "x"
    if u.startswith("point") or u == "pp":
        return "pt"
    if u in ("k", "thousand"):
        return "k"
    if u in ("m", "million"):
        return "m"
    if u in ("b", "billion"):
        return "b"
    return ""


def numbers(text: str, words: bool = True) -> list[Number]:
    """Numbers in ``text`` (digits, and with ``words`` also number words like 'three')."""
    out: list[Number] = []
    for m in _NUM_RE.finditer(text):
        raw = m.group(1)
        try:
            value = float(raw.replace(",", ""))
        except ValueError:  # pragma: no cover - regex guarantees digits
            continue
        out.append(Number(value, _unit(m.group(2)), m.group(0).strip()))
    if words:
        for m in _NUM_WORD_RE.finditer(text):
            w = m.group(1).lower()
            if w == "one":
                continue  # "one of", "one-shot": too often not a count
            unit = "x" if w in _MULTIPLIER_WORDS else ""
            out.append(Number(float(_NUMBER_WORDS[w]), unit, m.group(1)))
    return out


def counted_nouns(text: str, n: Number, span: int = 3) -> set[str]:
    """Stems of the (up to ``span``) content words right after the number ``n`` in ``text``."""
    out: set[str] = set()
    for m in re.finditer(re.escape(n.surface), text):
        out.update(content_stems(" ".join(text[m.end() :].split()[:span])))
    return out


def _occurrences(text: str, surface: str) -> list[re.Match[str]]:
    """Where the digits ``surface`` stand alone in ``text`` ("14" in "9/14 tasks", not in "2014" or "1.14")."""
    return list(re.finditer(rf"(?<![\w.]){re.escape(surface)}(?![\w.]|\.\d)", text))


def _plural(word: str) -> bool:
    """An English plural noun form ("LLMs", "days", "persons"; not "process", "bus", "analysis")."""
    w = word.strip(".,;:()").lower()
    return len(w) > 2 and w.endswith("s") and not w.endswith(("ss", "us", "is"))


def counted_things(text: str, n: Number, span: int = 3) -> set[str]:
    """:func:`counted_nouns` for a number in digits: stems of the words right after the whole number ``n`` in
    ``text``, up to ``span`` words and the first punctuation, when the first is a plural noun: what the number
    counts ("between 14 LLMs." -> {"llm"}); empty for a number followed by punctuation, a function word or a
    singular ("the 2016 movie", "age 57 due to")."""
    for m in _occurrences(text, n.surface):
        phrase = re.split(r"[,.;:()!?]", text[m.end() :], maxsplit=1)[0].split()[:span]
        if phrase and phrase[0][:1].isalpha() and _plural(phrase[0]) and content_stems(phrase[0]):
            return set(content_stems(" ".join(phrase)))
    return set()


#: Least similarity (difflib ratio) of two stems that spell one word differently ("metr" / "meter": 0.89).
SPELLING_SIMILARITY = 0.8


def _same_word(a: str, b: str) -> bool:
    """Two stems of one word, allowing spelling variants ("metr" / "meter": metres, meters)."""
    return a == b or (a[:3] == b[:3] and SequenceMatcher(None, a, b).ratio() >= SPELLING_SIMILARITY)


def counts_something_else(claim: str, n: Number, evidence: str, window: int = 3) -> str | None:
    """What the evidence counts with ``n`` when it is not what the claim counts: "Smoothie routed between 14 LLMs"
    against "the optimal model on 9/14 tasks" gives "tasks". None when a word the claim counts is near one of the
    number's occurrences in the evidence (within ``window`` words), when an occurrence counts nothing (it is followed
    by punctuation or a function word), or when the claim's number counts nothing."""
    if n.unit or n.surface.isalpha() or not n.value.is_integer():
        return None
    things = counted_things(claim, n)
    if not things:
        return None
    counted: list[str] = []
    for m in _occurrences(evidence, n.surface):
        before, after = evidence[: m.start()].split()[-window:], evidence[m.end() :].split()[:window]
        if any(_same_word(t, w) for t in things for w in content_stems(" ".join(before + after))):
            return None
        first = after[0] if after else ""
        if not first[:1].isalpha() or not content_stems(first):
            return None
        counted.append(first.strip(".,;:()"))
    return counted[0] if counted else None


def number_supported(n: Number, evidence: list[Number]) -> bool:
    """Whether ``n`` matches a number in ``evidence`` (same value, allowing rounding and % vs fraction)."""
    for e in evidence:
        if not _units_compatible(n.unit, e.unit):
            continue
        if _same_value(n.value, e.value, n.surface):
            return True
        # "50%" vs "half"
        if n.unit == "%" and e.value < 1 and abs(e.value * 100 - n.value) < 1e-6:
            return True
        if e.unit == "%" and n.value < 1 and abs(n.value * 100 - e.value) < 1e-6:
            return True
    return False


def _units_compatible(a: str, b: str) -> bool:
    """'10x' is not '10 points'; a bare number matches any unit; '%' and points are interchangeable."""
    if not a or not b or a == b:
        return True
    return {a, b} == {"%", "pt"}


def _same_value(claim: float, evid: float, surface: str) -> bool:
    if abs(claim - evid) < 1e-9:
        return True
    if surface.isalpha():
        return False  # a number word is exact: "a quarter" is not "half", though both round to 0
    # The claim may round the evidence: "68%" for "68.1%", "3.2" for "3.17".
    decimals = len(surface.split(".")[1].rstrip("%xX× ").split()[0]) if "." in surface else 0
    tol = 0.5 * 10 ** (-decimals)
    return abs(claim - evid) <= tol + 1e-9 and claim != 0


def closest_number(n: Number, evidence: list[Number]) -> Number | None:
    """The evidence number most likely meant by ``n``: same unit first, then nearest value."""
    if not evidence:
        return None
    same = [e for e in evidence if e.unit == n.unit] or evidence
    return min(same, key=lambda e: (abs(e.value - n.value) / (abs(n.value) + 1.0)))


def words(text: str) -> list[str]:
    return _WORD_RE.findall(text)


def stem(word: str) -> str:
    """A crude stemmer: enough to match 'methods'/'method', 'improves'/'improved'."""
    w = word.lower().strip("'’-")
    w = re.sub(r"['’]s$", "", w)
    for suffix, repl in (("ies", "y"), ("ied", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", "")):
        # "relies"/"relied" -> "rely" even for short roots, so they meet "rely" itself.
        if w.endswith(suffix) and len(w) - len(suffix) >= (2 if repl == "y" else 4):
            return w[: len(w) - len(suffix)] + repl
    return w


def content_stems(text: str) -> list[str]:
    """Stems of the content words of ``text`` (no stopwords, no bare numbers)."""
    out = []
    for w in words(text):
        lw = w.lower()
        if lw in STOPWORDS or lw.isdigit() or len(lw) < 3:
            continue
        for part in lw.split("-"):
            if part and part not in STOPWORDS and len(part) >= 3:
                out.append(stem(part))
    return out


# ---------------------------------------------------------------- names
_NAME_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+'’]*(?:[-/][A-Za-z0-9+]+)*")


def _is_name_like(tok: str) -> bool:
    """Acronyms, CamelCase, letter-digit mixes: 'VAE', 'GFlowNet-EM', 'word2vec', 'GPT-3'."""
    core = re.sub(r"['’]s$", "", tok)
    letters = [c for c in core if c.isalpha()]
    if not letters:
        return False
    uppers = sum(c.isupper() for c in core)
    if uppers >= 2:
        return True
    if uppers == 1 and not core[0].isupper():  # "iPhone", "sigma-VAE"... "word2Vec"
        return True
    if re.fullmatch(r"\d+(?:\.\d+)?(?:st|nd|rd|th|s|x|X|k|K|M|B|pp|fold|-fold)", core):
        return False  # "10x", "1990s", "2nd": numbers, not names
    if any(c.isdigit() for c in core):
        return True
    return False


def names(text: str) -> list[str]:
    """Names an evidence text must contain: acronyms, method/dataset names, capitalized words.

    The sentence's first word counts only if it is name-like (an acronym or
    CamelCase), since any word is capitalized there.
    """
    out: list[str] = []
    sentence_start = True
    for m in _NAME_TOKEN.finditer(text):
        tok = m.group(0).strip("'’")
        prev = text[max(0, m.start() - 2) : m.start()]
        after_break = sentence_start or prev.strip() in (":", '"', "“", "(", "-", "•", "*") or prev.endswith(("\n",))
        sentence_start = False
        if not tok or tok[0].isdigit() and not _is_name_like(tok):
            continue
        base = re.sub(r"['’]s$", "", tok)
        if base.lower() in STOPWORDS:
            continue
        if _is_name_like(base):
            out.append(base)
        elif base[0].isupper() and not after_break and len(base) > 1:
            out.append(base)
    return list(dict.fromkeys(out))


def name_in(name: str, text_lower: str) -> bool:
    """Whether ``name`` occurs in ``text_lower`` (allowing plural/possessive and hyphen variants)."""
    n = name.lower()
    variants = {n, n.rstrip("s") if len(n) > 3 else n, n + "s", n + "es"}
    if n.endswith("es") and len(n) > 4:
        variants.add(n[:-2])
    for v in variants:
        if re.search(r"(?<![a-z0-9])" + re.escape(v) + r"(?![a-z0-9])", text_lower):
            return True
    # "GFlowNet-EM" is fine when written "GFlowNet EM"; "Seq2Seq" vs "seq-2-seq" is not tried.
    if "-" in n:
        joined = n.replace("-", " ")
        if joined in text_lower or n.replace("-", "") in text_lower:
            return True
    if re.search(r"\d", n) and len(n) >= 4:  # "CA19-9" written "CA 19-9", "GPT-4" as "GPT 4"
        squash = re.compile(r"[\s\-]")
        if squash.sub("", n) in squash.sub("", text_lower):
            return True
    return False
