"""What a deterministic check reports: :class:`Issue`, and the short evidence quotes in its reasons."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    """One problem found with a claim.

    ``kind`` names the check, ``reason`` says what is wrong for a reader, and
    ``cap`` is the highest score the claim may keep once the issue is found
    (see :class:`agent.faithfulness.checker.CheckerConfig` for the values).
    """

    kind: str  # number | entity | uncited_paper | no_citation | attribution | negation | quantifier | alignment
    reason: str
    cap: float
    paper_id: str | None = None  # the paper where the claim was found instead (attribution)


def short(text: str, n: int = 160) -> str:
    """``text`` on one line, cut to ``n`` characters with an ellipsis: the quote in a reason."""
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"
