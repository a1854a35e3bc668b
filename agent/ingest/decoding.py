"""Turn the bytes of a corpus file into text, whatever common encoding it was saved in.

Order of tries:
1. a byte-order mark (UTF-8, UTF-16, UTF-32) decides — Excel's "Unicode text"
   and many Windows tools write UTF-16 with a BOM;
2. plain UTF-8;
3. ``charset-normalizer`` (a maintained detector) for UTF-16 without a BOM and
   single-byte code pages (cp1252 / Latin-1 from older reference managers).

Single-byte code pages often cannot be told apart on a short file (the same
bytes read as plausible text in cp1250, cp1252 and cp1257). When the detector
rates them equally, :data:`PREFERRED_SINGLE_BYTE` wins: Windows-1252 is the
usual one, and it reads Latin-1 text the same way.

A file is rejected only when no encoding gives text; the reason says why.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

#: Encodings chosen, in this order, among equally rated single-byte candidates.
PREFERRED_SINGLE_BYTE: tuple[str, ...] = ("cp1252",)
#: Byte-order marks, longest first (the UTF-32 LE mark starts with the UTF-16 LE one).
BOMS: tuple[tuple[bytes, str, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
#: Bytes looked at for NUL (a binary file) before anything else.
SNIFF_BYTES = 8192


class UndecodableError(ValueError):
    """No encoding turns the bytes into text; the message is the reason."""


@dataclass(frozen=True)
class Decoded:
    """Text and the encoding it was read with (a Python codec name)."""

    text: str
    encoding: str
    bom: bool = False

    @property
    def is_utf8(self) -> bool:
        return codecs.lookup(self.encoding).name in ("utf-8", "utf-8-sig", "ascii")

    def describe(self) -> str:
        """``'UTF-16 (byte-order mark)'``, ``'cp1252'``: what to tell the user."""
        name = codecs.lookup(self.encoding).name
        shown = {"utf-16": "UTF-16", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE", "utf-32": "UTF-32"}.get(name, name)
        return f"{shown} (byte-order mark)" if self.bom else shown


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return None


def _has_utf8_sequences(data: bytes) -> bool:
    """Whether ``data`` holds valid multi-byte UTF-8 (then it is UTF-8 with damage, not a code page)."""
    return any(ord(c) > 0x7F and c != "\ufffd" for c in data.decode("utf-8", errors="replace"))


def _detect(data: bytes) -> Decoded | None:
    """The detector's pick, with ties among single-byte code pages broken by preference."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return None
    best_chaos = min(m.chaos for m in matches)
    tied = [m for m in matches if m.chaos <= best_chaos]
    candidates: list[str] = []
    for preferred in PREFERRED_SINGLE_BYTE:
        if any(preferred in m.could_be_from_charset for m in tied):
            candidates.append(preferred)
    candidates += [m.encoding for m in matches]
    for encoding in dict.fromkeys(candidates):
        text = _strict(data, encoding)
        if text is not None and "\x00" not in text:
            return Decoded(text, encoding)
    return None


def decode_bytes(data: bytes) -> Decoded:
    """Decode ``data``; raise :class:`UndecodableError` with the reason when nothing fits."""
    for bom, encoding, name in BOMS:
        if data.startswith(bom):
            text = _strict(data, encoding)
            if text is None:
                raise UndecodableError(f"starts with a {name} byte-order mark but is not valid {name}")
            return Decoded(text.lstrip("\ufeff"), encoding, bom=encoding != "utf-8-sig")
    has_nul = b"\x00" in data[:SNIFF_BYTES]
    if not has_nul:
        try:
            return Decoded(data.decode("utf-8"), "utf-8")
        except UnicodeDecodeError as exc:
            bad = f"byte 0x{data[exc.start]:02x} at offset {exc.start}"
        if _has_utf8_sequences(data):
            raise UndecodableError(f"UTF-8 text with an invalid {bad} (a damaged or truncated file?)")
    found = _detect(data)
    if found is not None and (not has_nul or codecs.lookup(found.encoding).name.startswith(("utf-16", "utf-32"))):
        return found
    if has_nul:
        raise UndecodableError("binary file (NUL bytes, no UTF-16 byte-order mark), not a text corpus")
    raise UndecodableError(
        f"not text in any encoding tried (UTF-8: invalid {bad}; no UTF-16 byte-order mark; "
        "no single-byte code page fits); save it as UTF-8"
    )
