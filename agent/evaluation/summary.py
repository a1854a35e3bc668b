"""summary.json: means and counts by question type, NaN counts, latency percentiles, label accuracy.

Means are over the rows where a metric applies (not null). Error rows count in
``counts`` but not in the means: a metric of an error row is null and counted
in ``nan_counts`` like any other metric that does not apply, and the error rate
is reported on its own.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from agent.evaluation.metrics import mean, percentile
from agent.evaluation.questions import LABELS, QUESTION_TYPES
from agent.evaluation.scoring import COST_METRICS, METRICS, clean


def _metric_block(rows: list[dict[str, Any]]) -> tuple[dict[str, float | None], dict[str, int]]:
    means: dict[str, float | None] = {}
    nans: dict[str, int] = {}
    for key in METRICS:
        values = [r.get("metrics", {}).get(key) for r in rows]
        present = [float(v) for v in values if v is not None]
        means[key] = clean(mean(present)) if present else None
        nans[key] = len(values) - len(present)
    return means, nans


def summarize(rows: list[dict[str, Any]], meta: dict[str, Any] | None = None, problems: list[str] | None = None) -> dict[str, Any]:
    """The summary of one run's latest rows (one per qid)."""
    ok = [r for r in rows if r.get("status") == "ok"]
    errors = [r for r in rows if r.get("status") != "ok"]
    types = [t for t in QUESTION_TYPES if any(r.get("type") == t for r in rows)]
    types += sorted({r.get("type", "?") for r in rows} - set(types))

    overall_means, overall_nans = _metric_block(ok)
    by_type: dict[str, Any] = {}
    for t in types:
        typed = [r for r in rows if r.get("type") == t]
        typed_ok = [r for r in typed if r.get("status") == "ok"]
        means, nans = _metric_block(typed_ok)
        by_type[t] = {
            "n": len(typed),
            "ok": len(typed_ok),
            "errors": len(typed) - len(typed_ok),
            "metrics": means,
            "nan_counts": nans,
        }

    latency = {}
    for key in COST_METRICS[:3]:
        values = [r["metrics"][key] for r in ok if r.get("metrics", {}).get(key) is not None]
        latency[key] = {
            "n": len(values),
            "mean": clean(mean(values)) if values else None,
            "p50": clean(percentile(values, 50)) if values else None,
            "p95": clean(percentile(values, 95)) if values else None,
            "max": clean(max(values)) if values else None,
        }

    summary: dict[str, Any] = {
        "run": {k: v for k, v in (meta or {}).items() if k != "settings"},  # the settings stay in run.json
        "counts": {
            "total": len(rows),
            "ok": len(ok),
            "errors": len(errors),
            "refused": sum(1 for r in ok if r.get("refused")),
            "by_type": {t: by_type[t]["n"] for t in types},
            "error_messages": dict(Counter(str(r.get("error", ""))[:120] for r in errors).most_common(10)),
        },
        "metrics": overall_means,
        "nan_counts": overall_nans,
        "by_type": by_type,
        "latency": latency,
        "tokens": {
            "in": int(sum(r["metrics"].get("tokens_in") or 0 for r in ok)),
            "out": int(sum(r["metrics"].get("tokens_out") or 0 for r in ok)),
        },
        "input_problems": list(problems or []),
    }
    labelled = [r for r in ok if r.get("expected_label")]
    if labelled:
        confusion = {e: {p: 0 for p in (*LABELS, "none")} for e in LABELS}
        for r in labelled:
            confusion[r["expected_label"]][r.get("predicted_label") or "none"] += 1
        correct = sum(confusion[x][x] for x in LABELS)
        majority = Counter(r["expected_label"] for r in labelled).most_common(1)[0]
        summary["labels"] = {
            "n": len(labelled),
            "accuracy": clean(correct / len(labelled)),
            "majority_class": majority[0],
            "majority_baseline": clean(majority[1] / len(labelled)),
            "confusion": confusion,
        }
    return summary
