"""The screening decision of list and summary answers: P(a candidate belongs in the answer).

The model's own P(YES) for one paper ("does this paper address the
question?") ranks candidates well, but a paper far down the search ranking
that the model half-believes is usually a false positive. A logistic model
over two signals, ``logit P(YES)`` and ``log`` of the candidate's search rank,
fitted by ``evals/tune_screening.py --fit`` on the tuning part of the
labelled development questions, turns them into one probability; a candidate
is included at or above the threshold in its manifest (chosen there by
leave-one-question-out F1). It ships in ``agent/models/screening`` (weights as
JSON, SHA-256 checked against the manifest, like the other trained models).
``answer.screen_by = "p_yes"`` is the previous rule (P(YES) >=
``answer.screen_threshold``).
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

from agent.checksums import checked_manifest

MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "screening"
MODEL_FILE = "model.json"
#: The inputs, in the order of the model's coefficients.
FEATURES = ("logit_p_yes", "log_rank")
_EPS = 1e-4


class ScreeningModelError(RuntimeError):
    """The shipped screening model is missing, damaged or not a screening model."""


def screening_features(p_yes: float, rank: int) -> list[float]:
    """The model's inputs for a candidate at search ``rank`` (1 = first) with the model's ``p_yes``."""
    p = min(max(float(p_yes), _EPS), 1 - _EPS)
    return [math.log(p / (1 - p)), math.log(max(int(rank), 1))]


class ScreeningModel:
    """The fitted logistic model: ``model.json`` checked against ``manifest.json`` on load."""

    def __init__(self, directory: Path = MODEL_DIR) -> None:
        manifest = checked_manifest(
            directory, "screening model", ScreeningModelError, "reinstall citewise or refit it with evals/tune_screening.py --fit"
        )
        weights = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8"))
        if tuple(weights.get("features", ())) != FEATURES or len(weights.get("coef", ())) != len(FEATURES):
            raise ScreeningModelError(f"{directory / MODEL_FILE} is not a screening model over {', '.join(FEATURES)}")
        self.coef = [float(c) for c in weights["coef"]]
        self.intercept = float(weights["intercept"])
        self.threshold = float(manifest["threshold"])
        self.version = str(manifest.get("version", ""))

    def probability(self, p_yes: float, rank: int) -> float:
        """P(included) of a candidate at search ``rank`` whose screening P(YES) is ``p_yes``."""
        z = self.intercept + sum(c * x for c, x in zip(self.coef, screening_features(p_yes, rank)))
        return 1.0 / (1.0 + math.exp(-z))


@functools.lru_cache(maxsize=4)
def get_screening_model(directory: str | None = None) -> ScreeningModel:
    """One checked model per directory in a process (``None`` = the packaged one)."""
    return ScreeningModel(Path(directory) if directory else MODEL_DIR)
