"""Sentence roles: P(an abstract sentence states the paper's own work rather than its background).

A logistic regression over the sentence's MiniLM vector (the vectors the
evidence selector already caches) and its position in the abstract, trained
by ``evals/train_roles.py`` on PubMedQA's section-labelled abstracts and
shipped in ``agent/models/roles`` (weights as JSON, SHA-256 checked against
the manifest). The quote picker adds ``answer.role_weight`` times this
probability to a sentence's match score, so that among the sentences that
match a question it prefers the one saying what the paper does.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from agent.checksums import checked_manifest

if TYPE_CHECKING:
    from agent.settings import Settings

MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "roles"
VERSION = "roles-v1"


class RoleModelError(RuntimeError):
    """The shipped role model is missing, damaged or made for another sentence model."""


def role_features(vecs: np.ndarray) -> np.ndarray:
    """One row per sentence of one abstract: its vector, then relative position, is-first and is-last."""
    n = len(vecs)
    pos = np.arange(n, dtype=np.float32) / max(n - 1, 1)
    first = (np.arange(n) == 0).astype(np.float32)
    last = (np.arange(n) == n - 1).astype(np.float32)
    return np.hstack([np.asarray(vecs, dtype=np.float32), pos[:, None], first[:, None], last[:, None]])


class RoleModel:
    """The shipped logistic model: loads ``model.json`` after checking it against ``manifest.json``."""

    def __init__(self, directory: Path = MODEL_DIR) -> None:
        manifest = checked_manifest(directory, "sentence-role model", RoleModelError, "reinstall citewise")
        weights = json.loads((directory / "model.json").read_text(encoding="utf-8"))
        self.coef = np.asarray(weights["coef"], dtype=np.float32)
        self.intercept = float(weights["intercept"])
        self.version = str(manifest.get("version", ""))
        self.sentence_model = str(manifest.get("sentence_model", ""))

    def own_work(self, vecs: np.ndarray) -> np.ndarray:
        """P(own work) for each sentence of one abstract, in order."""
        if len(vecs) == 0:
            return np.zeros(0, dtype=np.float32)
        x = role_features(vecs)
        if x.shape[1] != len(self.coef):
            raise RoleModelError(f"the sentence-role model expects {len(self.coef) - 3}-dimensional vectors, got {x.shape[1] - 3}")
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))


@functools.lru_cache(maxsize=1)
def get_role_model() -> RoleModel:
    """The shipped role model, loaded and checked once per process."""
    return RoleModel()


def role_model_for(settings: Settings) -> RoleModel | None:
    """The role model the quote picker uses, or None when ``answer.role_weight`` is 0.

    The model reads the sentence model's vectors, so with another
    ``index.sentence_model`` than it was trained on the prior is turned off
    with a warning rather than applied to vectors it cannot read.
    """
    if not settings.answer.role_weight:
        return None
    model = get_role_model()
    if model.sentence_model != settings.index.sentence_model:
        warnings.warn(
            f"answer.role_weight is ignored: the sentence-role model ({model.version}) reads {model.sentence_model} "
            f"vectors, not {settings.index.sentence_model}'s; retrain it with evals/train_roles.py",
            stacklevel=2,
        )
        return None
    return model
