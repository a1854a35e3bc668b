"""Deterministic held-out splits of the external development sets (../shared/external).

``is_heldout(source, item_id)`` puts 20% of the items of a source aside, by a
hash of the source name and the item's id: the same item is always on the same
side, whatever the order, subset or machine. Benchmarks report their own
held-out figure on these items; anything trained or tuned (the learned
verifier, thresholds) must use only the other 80% (``not is_heldout(...)``).

    from evals.splits import is_heldout
    heldout = [c for c in claims if is_heldout("citation-integrity", c["id"])]
"""

from __future__ import annotations

import hashlib

#: Share of each source's items held out.
HELDOUT_FRACTION = 0.2


def split_point(source: str, item_id: object) -> float:
    """A uniform number in [0, 1) fixed by ``source`` and ``item_id``."""
    digest = hashlib.sha256(f"{source}\x1f{item_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_heldout(source: str, item_id: object) -> bool:
    """Whether the item ``item_id`` of ``source`` (e.g. "citation-integrity", "scifact") is held out."""
    return split_point(source, item_id) < HELDOUT_FRACTION
