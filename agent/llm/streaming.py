"""Client-side stop strings for backends whose runtime cannot stop on a string.

llama.cpp and OpenAI endpoints stop on strings themselves; the ``hf:`` and
``fake`` backends stream raw text and use :class:`StopFilter`, which cuts the
text before the first stop string and holds back just enough characters that a
stop string split across two pieces is never half-emitted.
"""

from __future__ import annotations


class StopFilter:
    """Feed streamed text in; get back only what may be shown.

    >>> f = StopFilter(["\\nUser:"])
    >>> f.feed("Hello\\nUs") + f.feed("er: more") + f.flush()
    'Hello'
    >>> f.stopped
    True
    """

    def __init__(self, stops: list[str] | None) -> None:
        self._stops = [s for s in (stops or []) if s]
        self._hold = max((len(s) for s in self._stops), default=1) - 1
        self._buffer = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add ``text``; return the part that is safe to emit now ("" once stopped)."""
        if self.stopped:
            return ""
        self._buffer += text
        cut = self._first_stop()
        if cut is not None:
            out, self._buffer = self._buffer[:cut], ""
            self.stopped = True
            return out
        if self._hold <= 0:
            out, self._buffer = self._buffer, ""
            return out
        out = self._buffer[: -self._hold]
        self._buffer = self._buffer[-self._hold :]
        return out

    def flush(self) -> str:
        """Return whatever is still held back (call when the stream ends)."""
        if self.stopped:
            return ""
        out, self._buffer = self._buffer, ""
        return out

    def _first_stop(self) -> int | None:
        positions = [i for i in (self._buffer.find(s) for s in self._stops) if i >= 0]
        return min(positions) if positions else None
