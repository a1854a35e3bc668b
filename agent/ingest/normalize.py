"""Text normalization: display text, title keys and stable paper ids."""

from __future__ import annotations

import hashlib
import re
import unicodedata

# LaTeX escapes and simple macros left in scraped abstracts.
_LATEX_ESCAPES = {
    r"\%": "%",
    r"\&": "&",
    r"\_": "_",
    r"\#": "#",
    r"\$": "$",
    r"\{": "{",
    r"\}": "}",
    r"~": " ",
    r"\textendash": "–",
    r"\textemdash": "—",
    r"\ldots": "…",
}
_LATEX_CMD_ARG = re.compile(r"\\(?:emph|textit|textbf|texttt|textsc|mathrm|mathbf|text)\{([^{}]*)\}")
_WS = re.compile(r"\s+")
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
#: Ids must be safe inside ``[ID]`` citation markers.
VALID_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]+")
#: Characters kept from a citation key that is not a valid id, before its hash suffix.
KEY_ID_STEM = 48


def clean_display(text: str) -> str:
    """Whitespace collapsed and leftover LaTeX escapes undone, for display and indexing."""
    text = unicodedata.normalize("NFC", text)
    text = _LATEX_CMD_ARG.sub(r"\1", text)
    for escape, plain in _LATEX_ESCAPES.items():
        text = text.replace(escape, plain)
    return _WS.sub(" ", text).strip()


def title_key(title: str) -> str:
    """A title reduced to lowercase alphanumerics: equal keys mean the same paper."""
    text = unicodedata.normalize("NFKD", clean_display(title)).encode("ascii", "ignore").decode()
    return _NON_ALNUM.sub(" ", text.lower()).strip()


def paper_id(title: str, abstract: str | None = None) -> str:
    """A short id derived from the normalized title, so it survives re-indexing and copies of a corpus.

    With ``abstract`` the id is derived from both: for a second, different paper with a title already taken.
    """
    key = title_key(title) if abstract is None else f"{title_key(title)}\n{title_key(abstract)}"
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=4).hexdigest()
    return f"p{digest}"


def key_to_id(key: str) -> str:
    """The paper id of a citation key (BibTeX, pandoc ``@key``, LaTeX ``\\cite{key}``).

    A key that is already a valid id is its own id. Any other key (``müller2020``,
    ``smith/2020``, a key over 64 characters) keeps its safe characters and gets a
    short hash of the exact key, so the mapping is deterministic: re-indexing keeps
    the id, and ``citewise audit`` finds the paper from the key alone.
    """
    key = unicodedata.normalize("NFC", key.strip())
    if VALID_ID.match(key):
        return key
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=4).hexdigest()
    stem = _ID_UNSAFE.sub("_", unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()).strip("_")
    return f"{stem[:KEY_ID_STEM]}-{digest}" if stem else f"k{digest}"
