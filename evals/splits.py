"""Deterministic development / held-out splits of the shared external sets.

Every training or tuning script keeps the items for which :func:`is_heldout`
is true out of its data, and every benchmark reports its "held-out" figure on
exactly those items. The split is a hash of the source name and the item's own
id, so it is stable across runs, machines and file order, needs no stored list,
and never depends on labels.
"""

from __future__ import annotations

import hashlib

#: One item in this many is held out (20%).
HELDOUT_EVERY = 5


def bucket(source: str, item_id: object) -> int:
    """A stable bucket in [0, 100) for ``item_id`` of ``source``."""
    digest = hashlib.sha256(f"{source}:{item_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


def is_heldout(source: str, item_id: object) -> bool:
    """Whether ``item_id`` of ``source`` belongs to our own held-out slice (never trained or tuned on)."""
    return bucket(source, item_id) < 100 // HELDOUT_EVERY
