"""Errors that Citewise reports to users as plain messages (no traceback)."""

from __future__ import annotations


class CitewiseError(Exception):
    """Base of expected, user-facing failures (bad input, missing index, ...)."""


class IngestError(CitewiseError):
    """A corpus file cannot be read at all (missing, empty, binary, too large)."""


class StoreError(CitewiseError):
    """The index is missing, unreachable or inconsistent."""


class QuestionError(CitewiseError):
    """A question that cannot be answered as asked (empty, too long)."""
