"""Question analysis: validation, type, named sides, and follow-up resolution.

Rules, not an LLM call: on a 2-core CPU every model call costs seconds, and
these patterns are stable. Each rule is a regular expression listed here, so
a newcomer can see why a question got its type.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from agent.chain.quotes import terms
from agent.errors import QuestionError
from agent.retrieval.names import (
    INITIALS_PREFIX,
    TITLE_NAME,
    NameIndex,
    name_core,
    name_key,
    spells_out,
    title_head,
    title_spans,
    writes_name,
)
from agent.types import Paper, QuestionType

#: Asked of the whole body of papers, not of one: a request to summarize or give an overview (as the request
#: itself, not a method that summarizes), or what the papers / literature / this corpus say, find or know.
_SUMMARY = re.compile(
    r"^\s*((can|could|would) you |please )*(briefly )?(summari[sz]e|give (me )?(an? )?(short |brief |quick )?(overview|summary)|"
    r"provide (me with )?(an? )?(short |brief |quick )?(overview|summary)|tl;?dr|overview\b)"
    r"|\bwhat (do|does) (these|the|this) (abstracts|papers|studies|works|literature|corpus|collection)\b(?: \w+){0,2}? (say|find|report|show|tell|conclude)\b"
    r"|\bwhat is (currently )?known about\b|\bwhat do we (currently |already )?know about\b|\b(the )?state of the art (in|of|on|for)\b.*\b(papers|abstracts)\b"
    r"|^\s*what are the (main|key) (findings|results|themes|ideas) (on|about|in|of|regarding)\b",
    re.I,
)
_COMPARE = re.compile(
    r"\b(compare|comparison|contrast|differ|difference|differences|different (from|than)|distinguish|distinguishes|versus|vs\.?|relate to|similarities|"
    r"in common)\b",
    re.I,
)
#: Kinds of thing a question asks the corpus to enumerate ("which methods reduce ...").
_KIND_WORDS = "papers|works|studies|articles|publications|abstracts|methods|approaches|techniques|models|frameworks|algorithms|systems"
_KINDS = rf"({_KIND_WORDS})"
#: The same, with the mass nouns that name a body of papers after "show me", "is there", "do any" ("show me work on X";
#: not after which/what: "which work tests ..." asks about one paper).
_BODY = rf"({_KIND_WORDS}|research|work)"
_LIST = re.compile(
    r"\b(which|what) (papers|works|studies|articles|methods|approaches)\b|\b(list|find|name) (all |the )?(papers|works|studies|methods)\b|\bpapers (that|which|on|about)\b"
    # "which techniques have been proposed", "what are some methods that" (not "which methods does X use": see _ABOUT_ONE)
    rf"|\b(which|what)( are)?( some| the)?( other)?( \w+)? {_KINDS}\b"
    r"|\bwhich of (these|the|the retrieved) (abstracts|papers|works|studies)\b"
    r"|\b(what|which) (research|work) (has|have) been (done|published)|\b(research|work) (has|have) been done\b"
    r"|\bwhat (\w+ )?(research|work|literature) (exists|is there|is available)\b|\bwhat has been (done|published|written) (on|about)\b"
    rf"|^\s*((can|could) you |please )*(show|give|find|point|get|recommend|suggest)( me)?( to)?( some| any| all| the| a few)? {_BODY}\b"
    rf"|\b(are|is) there (any |some )?(\w+ )?{_BODY}\b|\bdo (any|some) (of (these|the) )?{_BODY}\b"
    r"|\bwho (has|have) (worked|written|published) (on|about)\b|\bi'?m looking for (papers|work|research|studies)\b"
    rf"|\bhow many {_BODY}\b",
    re.I,
)
#: Question words and requests that open a question ("how ...", "compare ..."), shared by the rules below.
_WH = "how|what|which|why|where|when|who|whose"
_REQUESTS = "compare|contrast|describe|explain|summari[sz]e|list|tell|give|show|name"
#: How a question or a request opens (question words, auxiliaries, imperatives): text that opens otherwise, ends
#: without a full stop or question mark and has only a few words is a topic typed as into a search box ("hard
#: negatives", "recent work on time-series contrastive learning"), asked of the corpus as a list; a sentence ending
#: in a full stop is a statement ("Aspirin inhibits PGE2.").
_OPENER = re.compile(
    rf"^\s*({_WH}|{_REQUESTS}|what's|whom|is|are|was|were|do|does|did|can|could|should|would|will|has|have|had|define|"
    r"find|help|i|i'm|please|according)\b",
    re.I,
)
#: Most words of a topic typed as a search.
TOPIC_MAX_WORDS = 10
#: A plural thing asked of the corpus, which each paper answers with one item: "What loss functions are used to train
#: X?", "Which metrics have been proposed for Y?", "What strategies exist for Z?", "What are the main ways to W?",
#: "What kinds of augmentation ...". Not a share or count ("what percentage of patients were ..."); a question that
#: names one paper ("What datasets were used to evaluate LightGCL?") stays single (plan_question).
_ENUMERATION = re.compile(
    r"^(?!\s*(what|which) (percentage|proportion|fraction|share|number|amount|portion|ratio|rate)\b)"
    r"(\s*(which|what)( \w+){0,3}? [a-z-]*[^\Wsiu]s (are|were|have|has|exist|can|could)\b"
    r"|\s*what are (the |some )?(\w+ ){0,2}?[a-z-]*[^\Wsiu]s (of|for|to|that|used|in|behind)\b"
    r"|\s*(which|what) (kinds?|types?|sorts?|forms?|families|classes) of\b)",
    re.I,
)
#: What a question about one paper asks for besides _KINDS ("which baselines does X ...").
_ASPECTS = r"(datasets|baselines|benchmarks|metrics|losses)"
#: "Which methods does X compare against?", "What models does CODE test on?": asks what one paper does, not for
#: papers; a kind followed by do/does/did and its subject ("what methods are proposed for X" stays a list).
_ABOUT_ONE = re.compile(rf"^\s*(which|what) (\w+ )?({_KINDS}|{_ASPECTS})( \w+)? (does|do|did) \w", re.I)
#: "the paper on X": a question about one paper ("How does the paper on X compare features across models?").
_ONE_PAPER = re.compile(r"\b(the|this|that) (paper|work|study|article)\b", re.I)
#: Papers asked for in the plural ("Which papers ...", "any works that ..."): a list, whatever else it says.
_MANY_PAPERS = re.compile(r"\b(papers|works|studies|articles|publications)\b", re.I)
#: "Summarize the paper that benchmarks X", "the Symile paper", "this study": a summary of one paper, not of a topic
#: ("the work on X" is a body of work).
_THE_PAPER = re.compile(r"\b(the|this|that) ([\w-]+ ){0,2}?(paper|article|study)\b", re.I)
#: A question that opens by asking for papers is a list, whatever comparison words follow.
_LIST_OPENING = re.compile(r"^\s*(which|what|list|find|name)( all| the)? (papers|works|studies|articles)\b", re.I)
#: A question that asks how or what, or a request ("Compare ...", "Describe ..."): not a yes/no question.
_OPEN_REQUEST = re.compile(rf"^\s*({_WH}|{_REQUESTS}|in what|to what|discuss|outline)\b", re.I)
#: Follow-up cues: pronouns and ordinals that point at the previous turn.
_FOLLOW_UP = re.compile(r"\b(those|these|them|the (first|second|third|last|latter|former)|first two|both|above|which (one|of the two))\b", re.I)
#: "Which one needs smaller batches?" after an answer about two papers: one of those two ("which of those use graphs?"
#: after a list filters the list).
#: "they / them / their": the papers of the previous answer.
_PLURAL_PRONOUN = re.compile(r"\b(they|them|their)\b", re.I)
_WHICH_OF_TWO = re.compile(r"\bwhich (one|of the two)\b", re.I)
#: "it / its / they / their" point at the previous turn only near the question's start, where they are its subject
#: ("What does it use?", "And how do they train?"); later, they usually refer back inside the question ("How do
#: contrastive methods handle their negatives?"), and "is it true / possible that" refers to nothing.
_PRONOUN_FOLLOW_UP = re.compile(r"^\s*(\w+[\s,]+){0,3}?(it|its|they|their)\b(?! (is|was)? ?(true|possible|known|the case|likely)\b)", re.I)
_ORDINALS = {"first": 0, "second": 1, "third": 2, "fourth": 3, "fifth": 4}
_FIRST_N = re.compile(r"\bfirst (two|three|four|2|3|4)\b", re.I)
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "2": 2, "3": 3, "4": 4}
_SIDES_SPLIT = re.compile(r"\s+(?:and|vs\.?|versus|with|to)\s+|,\s*", re.I)
#: "How do X and Y *each* ...": a question about two named papers that asks the same of both is a comparison.
_EACH = re.compile(r"\b(each|both|respectively)\b", re.I)
#: "Is X's distillation better than Y's?": two named papers and a comparative is a comparison ("How much faster is
#: X than Y?" asks for the figure one paper reports).
_COMPARATIVE = re.compile(
    r"^(?!\s*(by )?how (much|many)\b).*\b(better|worse|more|less|faster|slower|stronger|weaker|cheaper|simpler|larger|smaller)\b[^?.]*\bthan\b",
    re.I,
)
#: "How do X and Y use codebooks differently?" (a yes/no "Does X affect A differently than B?" asks one study).
_DIFFERENTLY = re.compile(r"\bdifferently\b", re.I)
#: "X or Y: which one ...?" (the two phrases before the colon are the sides), or "Which is faster, X or Y?".
_EITHER = re.compile(
    r"^\s*([^?:;,]{2,80}?)\s+or\s+([^?:;,]{2,80}?)\s*[:;,—–]\s*which\b"
    r"|^\s*which\b[^?:;,]{2,80},\s*([^?:;,]{2,80}?)\s+or\s+([^?:;,]{2,80}?)\s*(?:[,?]|$)",
    re.I,
)
#: "Which works better, X or Y?", "Which is fastest, X, Y or Z?": a comparative, then the sides after a comma.
_WHICH_BETTER = re.compile(
    r"^\s*which\b[^,?]*\b(better|best|worse|worst|faster|fastest|slower|more|less|stronger|cheaper|simpler)\b[^,?]*,[^?]+\bor\b", re.I
)
#: A quoted title or phrase inside a question ('Integrating Prior Knowledge ... with Kernel'), kept whole as a side.
_QUOTED = re.compile(r"(?:(?<=\s)|^)[\"'“‘]([^\"'”’]{8,}?)[\"'”’](?=[\s,.?;:]|$)")
#: Share of letters that must be ASCII for a question to count as English.
MIN_ASCII_LETTER_SHARE = 0.8
#: English function words.
_ENGLISH_WORDS = set(
    "the a an of in on for to and or is are was were be been do does did which what how why who when where papers "
    "paper about with by from that this these those use uses used method methods model models it its can could "
    "should would will not no than more less after before there any as at has have still between during".split()
)
#: Function words of other languages written in Latin script (none of them common English words). A question
#: with two or more of these and no English function word is taken to be in another language; a terse English
#: headline ("Autoerotic asphyxiation: secret pleasure--lethal outcome?") has neither and is accepted.
_FOREIGN_WORDS = set(
    "el los las del que qué cuál cuáles y para por con una unos según son sobre entre "
    "le les des du une est sont et dans pour avec sur quel quels quelle quelles qui "
    "der die das den dem und ist sind nicht mit von zu welche welcher wie "
    "il gli della delle che sono per quali e "
    "os das dos não são em uma quais como".split()
)


@dataclass
class QuestionPlan:
    """What the chain should do with one question."""

    question: str
    qtype: QuestionType
    retrieval_query: str
    sides: list[str] = field(default_factory=list)
    restrict_to: list[str] = field(default_factory=list)  # follow-up: only these paper ids
    pinned: list[str] = field(default_factory=list)  # follow-up: exactly these papers (e.g. "the first two")
    compared: int = 0  # compare: how many sides resolved to papers (the first hits); 0 = answer.compare_papers
    named: list[str] = field(default_factory=list)  # ids of papers that define a name the question uses ("LightGCL") or whose title it holds
    one_paper: bool = False  # summary: of one paper ("Summarize the paper that ..."), not of a topic
    about_named: bool = False  # single: answered from the papers the question names as they name themselves


@dataclass
class Turn:
    """One finished exchange, kept for follow-up questions."""

    question: str
    retrieved: list[str]
    cited: list[str]


def validate_question(question: str, max_chars: int) -> str:
    """Strip and check a question; raise :class:`QuestionError` with a clear reason."""
    q = " ".join(question.split())
    if not q:
        raise QuestionError("the question is empty")
    if len(q) > max_chars:
        raise QuestionError(f"the question is {len(q):,} characters; the limit is {max_chars:,}. Shorten it to the question itself.")
    letters = [c for c in q if c.isalpha()]
    if not letters:
        raise QuestionError("the question has no words")
    ascii_share = sum(c.isascii() for c in letters) / len(letters)
    words = re.findall(r"[^\W\d_]+", q.lower())
    english = _ENGLISH_WORDS.intersection(words)
    foreign = sum(w in _FOREIGN_WORDS for w in words)
    if ascii_share < MIN_ASCII_LETTER_SHARE or (not english and foreign >= 2):
        raise QuestionError(
            "the question does not look like English; the abstracts and the search model are English, so please ask in English"
        )
    return q


def classify(question: str) -> QuestionType:
    """single | list | compare | summary (out_of_scope is decided after retrieval)."""
    if _SUMMARY.search(question):
        return "summary"
    if _WHICH_BETTER.search(question):  # "Which works better, X or Y?": "works" is the verb, not papers
        return "compare"
    if _LIST_OPENING.search(question):  # "Which papers ... contrast outputs ...": papers are asked for
        return "list"
    if _ABOUT_ONE.search(question):  # "Which baselines does LightGCL compare with?"
        return "single"
    if _COMPARE.search(question) or _EITHER.search(question) or (_DIFFERENTLY.search(question) and is_request(question)):
        return "compare"
    if _LIST.search(question) or _ENUMERATION.search(question) or is_topic(question):
        return "list"
    return "single"


def is_topic(question: str) -> bool:
    """A few words typed as into a search box, not a question, a request or a statement ("hard negatives",
    "contrastive learning for recommendation"; not "Explain posterior collapse", "What is InfoNCE?", "X inhibits Y.")."""
    return not question.rstrip().endswith(("?", ".", "!")) and not _OPENER.match(question) and len(question.split()) <= TOPIC_MAX_WORDS


def _enumerates_of_one(question: str, names: NameIndex) -> bool:
    """A question typed list only for its plural ("What datasets were used to evaluate LightGCL?", "What benchmark
    did the paper on visual correspondence build, and how many models did it test?") that names one paper or asks
    about "the paper on ...", and asks for no papers: it asks what that paper did."""
    listed = bool(_LIST.search(question))
    if _MANY_PAPERS.search(question) or not (listed or _ENUMERATION.search(question)):
        return False
    return bool(_ONE_PAPER.search(question) or not listed and specific_names(question, names))


def is_request(question: str) -> bool:
    """A wh-question or a request ("How ...", "What ...", "Compare ...", "Describe ..."), not a yes/no question or
    a statement."""
    return bool(_OPEN_REQUEST.match(question))


def compared_within(paper: Paper, sides: list[str], share: float) -> bool:
    """True when ``paper`` mentions every side (at least ``share`` of each side's content words are in its title and
    abstract): "Does rural or urban residence make a difference to neonatal outcome?" asks about one study of both
    groups, not for two papers to set side by side."""
    text = terms(f"{paper.title} {paper.abstract}")
    sides_terms = [terms(side) for side in sides]
    return all(t and len(t & text) >= share * len(t) for t in sides_terms)


def specific_names(question: str, names: NameIndex) -> list[str]:
    """The names in ``question`` that could each name one paper ("LightGCL", "DELLA"; not "LLMs", nor
    "LLM-generated" or "VAE-based", whose name is a field's term)."""
    return [n for n in dict.fromkeys(names.query_names(question)) if not (names.is_generic(n) or names.is_generic(name_core(n)))]


#: A question that asks which publication or method does something ("Which paper extends LightGCL?", "Is there a
#: method that beats SimCSE?"): the answer may be a paper other than the ones it names.
_ASKS_FOR_A_PAPER = re.compile(
    r"\bwhich (papers?|works?|stud(y|ies)|articles?|publications?|methods?|approach(es)?)\b|\bwhat (papers?|stud(y|ies)|articles?|publications?)\b"
    r"|\b(is there|are there|any) (a |an |other )?(papers?|works?|stud(y|ies)|methods?)\b",
    re.I,
)


def asks_for_a_paper(question: str) -> bool:
    """True when ``question`` asks to identify a paper or method, not about the ones it names."""
    return bool(_ASKS_FOR_A_PAPER.search(question))


def named_papers(question: str, names: NameIndex) -> list[str]:
    """Ids of the papers ``question`` names, the most surely named only: by its whole title, else by a name a title
    defines, else by a name an abstract introduces. "How much does LLM2Vec improve on MTEB?" names LLM2Vec's paper
    (its title), not NV-Embed's, whose abstract, like LLM2Vec's, writes "Massive Text Embedding Benchmark (MTEB)"."""
    strength: dict[str, float] = {pid: TITLE_NAME + 1 for pid in titled(question, names)}
    for name in specific_names(question, names):
        for pid, s in names.search(name):
            strength[pid] = max(strength.get(pid, 0.0), s)
    top = max(strength.values(), default=0.0)
    return [pid for pid, s in strength.items() if s >= top]


#: A lowercase word hyphenated onto a name makes a modifier ("UCP1-dependent", "CLIP-level"): the name is its head.
#: What a question asks about, when it opens "What does X ...", "How is X ...", "Does X ...".
_SUBJECT = re.compile(
    r"^\s*(?:(?:what|how|why|where|when|which \w+)\s+)?(?:does|do|did|is|are|was|were|can|could|would|should)\s+(?:the\s+)?([\w-]+)", re.I
)
_LEADING_ARTICLE = re.compile(r"^(?:the|a|an)\s+", re.I)


def unwritten_subject(
    plan: QuestionPlan, names: NameIndex, mentioned_by: Callable[[str], set[str]], searched: Callable[[], list[Paper]]
) -> str | None:
    """The name that a single question is about ("What does DiffCSE use …?", "Does BYOL …?"), or that a compared
    side is ("Compare SimCSE and DiffCSE."), when no indexed paper writes it: the abstracts can say nothing about it,
    and answering would put another paper's method under its name. None otherwise.

    A name counts as written when a paper defines it, when any of the first ``retrieval.mention_depth`` BM25 hits for
    it writes it (``mentioned_by``), or when one of the question's search hits (``searched``, called only then)
    writes it in another spelling or spells an acronym out ("FSH": "follicle-stimulating hormone"); a hyphenated
    lowercase modifier and an acronym's plural are left out first ("CLIP-style", "non-IID", "HPVs"). A question that
    spells the acronym out itself, and a statement (a claim to check), are left alone."""
    question = plan.question
    if plan.qtype == "single":
        subject = _SUBJECT.match(question)
        asked = [subject.group(1)] if subject else []
    elif plan.qtype == "compare" and (question.rstrip().endswith("?") or is_request(question)):
        asked = [_LEADING_ARTICLE.sub("", side.strip(" .?!")) for side in plan.sides]
    else:
        return None
    listed = set(names.query_names(question))
    for name in asked:
        core = name_core(name)
        if name not in listed or len(core) < 2:
            continue
        key = name_key(core)
        if names.lookup_names([key, INITIALS_PREFIX + key]) or mentioned_by(core):
            continue
        if core.isupper() and spells_out(core, question.replace(name, " ")):
            continue
        if not any(writes_name(core, f"{p.title} {p.abstract}") for p in searched()):
            return name
    return None


def named_as_themselves(
    papers: list[Paper], question: str, names: NameIndex, mentioned_by: Callable[[str], set[str]] | None = None
) -> list[Paper]:
    """The ``papers`` that ``question`` names as they name themselves: by the whole title, or by the name the title
    opens with ("LLM2Vec: Large Language Models Are ..."), not by a term an abstract spells out.

    With ``mentioned_by`` (name -> ids of the papers that write it), also by a name a title holds that no other
    paper defines or even mentions ("Does Poly-View need large batches?" names "Poly-View Contrastive Learning"):
    no other abstract can say anything about it. A hyphenated modifier counts by its head ("UCP1-dependent": UCP1).
    A whole title that other papers write counts as a topic, not as the paper's name: SciFact's "T-cell
    activation." named the wrong paper for a training claim.
    """
    whole = set(titled(question, names))
    specific = specific_names(question, names)
    keys = {name_key(n) for n in specific}
    by_id = {p.id: p for p in papers}
    if mentioned_by is not None:  # a title other abstracts write is a topic ("T-cell activation."), not a name
        whole = {pid for pid in whole if pid in by_id and mentioned_by(by_id[pid].title) <= {pid}}
    own = [p for p in papers if p.id in whole or (head := title_head(p.title)) is not None and name_key(head) in keys]
    if mentioned_by is not None:
        found = names.lookup_names(list(keys))
        for name in specific:
            defined = found.get(name_key(name), {})
            if len(defined) != 1:
                continue
            ((pid, strength),) = defined.items()
            if strength >= TITLE_NAME and pid in by_id and by_id[pid] not in own and mentioned_by(name_core(name)) <= {pid}:
                own.append(by_id[pid])
    return own


def titled(question: str, names: NameIndex) -> list[str]:
    """Ids of the papers whose whole title ``question`` holds ("What's the main finding of 'Are Large Language Models
    Good Statisticians?'"): it names them as surely as by a short name."""
    return list(names.lookup_titles(title_spans(question, names.max_title_words)).values())


def asks_about_several(question: str, names: NameIndex) -> bool:
    """Two or more named papers asked the same thing: "How do X and Y each ...", "X, Y and Z: ...",
    "How do COSMO and X-Former combine ..." (names joined by and / or / a comma, or with each / both), or set
    against each other ("Is X's method better than Y's?")."""
    named = specific_names(question, names)
    if len(named) < 2:
        return False
    if _EACH.search(question) or _COMPARATIVE.search(question):
        return True
    joined = r"\s*(?:,\s*(?:and\s+|or\s+)?|\s(?:and|or|&)\s+)(?:the\s+)?"
    return any(re.search(re.escape(a) + joined + re.escape(b), question) for a, b in zip(named, named[1:]))


#: The request before the compared things: "How do", "What exactly does", "Compare", "In what way do", "Does" (the
#: "do" was optional after a lazy match, so "How do VQ-VAE and ..." gave the side "do VQ-VAE").
_SIDES_OPENING = re.compile(
    r"^\s*(?:(?:how|what|in what way|compare|contrast)\b(?:(?:\s+\w+)??\s+(?:do|does|did|of)\b)?|(?:does|do|did|is|are|was|were)\b)\s*",
    re.I,
)


#: "X differs from Y", "X compares with / to / against Y": the two sides around the verb.
_AGAINST = re.compile(r"^(.+?)\s+(?:differs?|differed|compares?|compared)\s+(?:from|with|to|against)\s+(.+)$", re.I)
#: Where the second side of "X differs from Y ..." ends: the aspect asked about ("in building views", "for reducing ...").
_ASPECT = re.compile(r"\s+(?:in|on|for|at|when|regarding|as)\s.*$|\s*[?.]\s*$", re.I)


def compare_sides(question: str, names: NameIndex) -> list[str]:
    """The things being compared: the methods the question names (field terms such as "LLMs" left out),
    else the phrases around 'and' / 'vs' (a quoted title kept whole), at most three."""
    specific = specific_names(question, names)
    if len(specific) >= 2:
        return specific[:3]
    either = _EITHER.search(question)
    if either:
        return [side.strip(" '\"“”‘’") for side in either.groups() if side]
    quoted = _QUOTED.findall(question)
    core = question
    for n, q in enumerate(quoted):
        core = core.replace(q, f"\x00{n}\x00")
    if re.search(r"\bbetween\b", core, re.I):
        core = re.sub(r"^.*?\bbetween\s+", "", core, flags=re.I)
    else:
        core = _SIDES_OPENING.sub("", core)
    against = _AGAINST.match(core)
    if against:  # "X differs from Y in ...", "X compares with Y for ...": Y is the other side, up to the aspect
        core = f"{against.group(1)} and {_ASPECT.sub('', against.group(2))}"
    core = re.sub(r"\b(differ|compare|relate|each|both)\b.*$", "", core, flags=re.I)
    parts = []
    for part in _SIDES_SPLIT.split(core):
        part = re.sub(r"\x00(\d+)\x00", lambda m: quoted[int(m.group(1))], part).strip(" ?.'\"“”‘’")
        if len(part) > 2:
            parts.append(part)
    return parts[:3] if len(parts) >= 2 else specific


def _ranked(turn: Turn) -> list[str]:
    """A turn's papers in the order its answer showed them: cited first, then the rest retrieved."""
    return list(dict.fromkeys(turn.cited + turn.retrieved))


def _recently_cited(history: list[Turn], n: int) -> list[str]:
    """The ``n`` papers the latest answers cited, from the latest turns back, in the order they were asked about."""
    found: list[str] = []
    for turn in reversed(history):
        found.extend(pid for pid in turn.cited if pid not in found)
        if len(found) >= n:
            break
    return list(reversed(found[:n]))


def _subject(prev: Turn) -> str | None:
    """The one paper the previous turn was about: the only paper it cited, or the only one it read (a follow-up pinned
    to that paper, answered or not); None after a list or a refused search."""
    papers = set(prev.cited) or set(prev.retrieved)
    return next(iter(papers)) if len(papers) == 1 else None


def _against_previous(plan: QuestionPlan, subject: str, previous_question: str) -> QuestionPlan:
    """``plan`` of a follow-up about ``subject``, the previous answer's one paper, that names something else. A
    comparison ("How does it differ from X?") sets that paper against the papers that define the name(s); any other
    question ("Does it beat SimCSE?", "Does it use SVD?"), or a comparison with no such paper, is answered from the
    previous paper's abstract, which is where such a result is reported."""
    plan.retrieval_query = f"{previous_question} {plan.question}"
    others = [pid for pid in plan.named if pid != subject]
    if plan.qtype == "compare" and others:
        plan.pinned, plan.sides = [subject, *others[:2]], []
    else:
        plan.qtype, plan.pinned, plan.sides = "single", [subject], []
    return plan


def plan_question(question: str, history: list[Turn], names: NameIndex) -> QuestionPlan:
    """Classify ``question`` and resolve it against the previous turn when it is a follow-up."""
    qtype = classify(question)
    plan = QuestionPlan(question=question, qtype=qtype, retrieval_query=question)
    plan.one_paper = qtype == "summary" and bool(_THE_PAPER.search(question))
    plan.named = named_papers(question, names)
    if qtype == "list" and (_enumerates_of_one(question, names) or is_topic(question) and plan.named):
        qtype = plan.qtype = "single"  # "What datasets were used to evaluate LightGCL?", a paper's name typed alone
    if qtype == "single" and asks_about_several(question, names):
        qtype = plan.qtype = "compare"
    if qtype == "compare":
        plan.sides = compare_sides(question, names)
        if not plan.sides and _ONE_PAPER.search(question):  # "compare" is what that one paper does
            qtype = plan.qtype = "single"
        elif len(plan.sides) < 2 and not is_request(question):
            # "Do risk factors differ by disorder polarity?", "Bile duct sludge: is it different from stones?": nothing
            # to set side by side, asked yes or no, is asked of the study that measured it.
            qtype = plan.qtype = "single"
    follow_up = _FOLLOW_UP.search(question) or _PRONOUN_FOLLOW_UP.search(question)
    # "Does it beat SimCSE?" after an answer about DCLR asks about DCLR (it), not about SimCSE.
    subject = _subject(history[-1]) if history and _PRONOUN_FOLLOW_UP.search(question) else None
    if subject is not None:
        others = specific_names(question, names)
        if others and subject not in plan.named:
            return _against_previous(plan, subject, history[-1].question)
        if not others and qtype == "single":
            # "Does it work for classification too?" after an answer about one paper is about that paper: among the
            # previous turn's other hits, another paper that says "classification" had been answered from.
            plan.qtype, plan.pinned, plan.retrieval_query = "single", [subject], f"{history[-1].question} {question}"
            return plan
    if not history or not follow_up or names.query_names(question) and not re.search(r"\b(those|these|them)\b", question, re.I):
        return plan
    prev = history[-1]
    ranked = _ranked(prev)
    first_n = _FIRST_N.search(question)
    ordinal = re.search(r"\bthe (first|second|third|fourth|fifth)\b(?! two| three)", question, re.I)
    if first_n or ordinal:
        # An ordinal points into a list: the latest turn with that many papers ("Compare the first two" after a
        # follow-up about one of them means the list's first two, not that one paper).
        # A turn that cited several papers is a list to point into: after "Which of these uses augmentation?" (one
        # paper cited, others read), "the first one" is still the list's first, not that one paper.
        needed = _NUMBER_WORDS[first_n.group(1).lower()] if first_n else _ORDINALS[ordinal.group(1).lower()] + 1
        listing = next((t for t in reversed(history) if len(t.cited) >= max(needed, 2)), None)
        ranked = _ranked(listing) if listing else next((r for r in map(_ranked, reversed(history)) if len(r) >= needed), ranked)
        plan.pinned = ranked[:needed] if first_n else ranked[needed - 1 : needed]
    elif re.search(r"\bboth\b", question, re.I) and len(prev.cited) >= 2 or _WHICH_OF_TWO.search(question) and len(prev.cited) == 2:
        plan.pinned = prev.cited[:2]
    elif qtype == "summary" and len(prev.cited) >= 2:
        # "Summarize them" after a list is a summary of the papers it listed, not of all it read: it had dropped one
        # listed paper for two that were only read.
        plan.pinned = list(prev.cited)
    elif _PLURAL_PRONOUN.search(question) and len(prev.cited) == 2:
        # "What datasets do they use?" after an answer about two papers (a comparison) asks it of both: it had been
        # answered from the first one alone.
        plan.pinned = prev.cited[:2]
    elif _PLURAL_PRONOUN.search(question) and qtype == "compare" and len(recent := _recently_cited(history, 2)) == 2:
        # "How do they compare?" after one answer about LightGCL and one about DCCF compares those two: it had
        # compared DCCF with a paper the last answer only read.
        plan.pinned = recent
    else:
        plan.restrict_to = ranked
    plan.retrieval_query = f"{prev.question} {question}"
    if plan.pinned and qtype == "single" and len(plan.pinned) > 1:
        plan.qtype = "compare"
    return plan
