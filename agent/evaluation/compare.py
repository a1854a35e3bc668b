"""``citewise eval-compare DIR_A DIR_B``: per-metric differences and the questions that changed.

Run A is the baseline, B the candidate; ``diff = B - A``. For latency and token
metrics lower is better. A question is *better* in B when its mean over the
quality metrics both runs have for it rose by more than ``EPS`` (or it went
from an error row to an answer), *worse* when it fell by more (or became an
error row). Means are recomputed from the rows of both directories, so two
runs of different question subsets are compared on the qids they share
(``common``), and the qids only one run has are listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.evaluation.metrics import mean
from agent.evaluation.results import load_run, write_json
from agent.evaluation.scoring import LOWER_IS_BETTER, METRICS, QUALITY_METRICS, clean

#: Smallest per-question change counted as better / worse.
EPS = 1e-6
#: Quality metrics averaged into one per-question score (direction: higher is better).
QUESTION_SCORE_METRICS = tuple(m for m in QUALITY_METRICS if m not in ("faithfulness_score", "judge_coverage"))


def _means(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    ok = [r for r in rows if r.get("status") == "ok"]
    out = {}
    for key in METRICS:
        vals = [r["metrics"][key] for r in ok if r.get("metrics", {}).get(key) is not None]
        out[key] = clean(mean(vals)) if vals else None
    return out


def _diff(a: float | None, b: float | None, key: str) -> dict[str, Any]:
    if a is None or b is None:
        return {"a": a, "b": b, "diff": None, "better": None}
    d = b - a
    better = None if abs(d) <= EPS else (d < 0 if key in LOWER_IS_BETTER else d > 0)
    return {"a": a, "b": b, "diff": clean(d), "better": better}


def _question_score(row: dict[str, Any], keys: list[str]) -> float | None:
    vals = [row["metrics"][k] for k in keys if row.get("metrics", {}).get(k) is not None]
    return sum(vals) / len(vals) if vals else None


def compare_rows(rows_a: list[dict[str, Any]], rows_b: list[dict[str, Any]]) -> dict[str, Any]:
    """The comparison of two lists of result rows (one per qid each)."""
    a_by = {r["qid"]: r for r in rows_a}
    b_by = {r["qid"]: r for r in rows_b}
    common = [q for q in a_by if q in b_by]
    ca = [a_by[q] for q in common]
    cb = [b_by[q] for q in common]
    ma, mb = _means(ca), _means(cb)
    out: dict[str, Any] = {
        "common": len(common),
        "only_a": [q for q in a_by if q not in b_by],
        "only_b": [q for q in b_by if q not in a_by],
        "errors": {"a": sum(r.get("status") != "ok" for r in ca), "b": sum(r.get("status") != "ok" for r in cb)},
        "metrics": {k: _diff(ma[k], mb[k], k) for k in METRICS if ma[k] is not None or mb[k] is not None},
        "by_type": {},
    }
    for t in dict.fromkeys(r.get("type", "?") for r in ca):
        ta = [r for r in ca if r.get("type") == t]
        tb = [b_by[r["qid"]] for r in ta]
        tma, tmb = _means(ta), _means(tb)
        out["by_type"][t] = {k: _diff(tma[k], tmb[k], k) for k in QUALITY_METRICS if tma[k] is not None or tmb[k] is not None}

    better, worse = [], []
    for q in common:
        ra, rb = a_by[q], b_by[q]
        ok_a, ok_b = ra.get("status") == "ok", rb.get("status") == "ok"
        entry: dict[str, Any] = {"qid": q, "type": ra.get("type"), "question": ra.get("question", "")}
        if ok_a != ok_b:
            entry["change"] = "error fixed" if ok_b else f"now an error: {rb.get('error')}"
            (better if ok_b else worse).append(entry)
            continue
        if not ok_a:
            continue
        keys = [k for k in QUESTION_SCORE_METRICS if ra["metrics"].get(k) is not None and rb["metrics"].get(k) is not None]
        sa, sb = _question_score(ra, keys), _question_score(rb, keys)
        if sa is None or sb is None or abs(sb - sa) <= EPS:
            continue
        entry["score"] = {"a": clean(sa), "b": clean(sb), "diff": clean(sb - sa)}
        entry["changed"] = {
            k: {"a": ra["metrics"][k], "b": rb["metrics"][k]} for k in keys if abs(rb["metrics"][k] - ra["metrics"][k]) > EPS
        }
        (better if sb > sa else worse).append(entry)
    better.sort(key=lambda e: -(e.get("score", {}).get("diff") or 1.0))
    worse.sort(key=lambda e: e.get("score", {}).get("diff") or -1.0)
    out["better"], out["worse"] = better, worse
    return out


def compare_dirs(dir_a: Path, dir_b: Path) -> dict[str, Any]:
    rows_a, _, meta_a = load_run(dir_a)
    rows_b, _, meta_b = load_run(dir_b)
    out = compare_rows(rows_a, rows_b)
    out["a"] = {"dir": str(dir_a), "model": meta_a.get("model"), "prompt_version": meta_a.get("prompt_version"), "source": meta_a.get("source")}
    out["b"] = {"dir": str(dir_b), "model": meta_b.get("model"), "prompt_version": meta_b.get("prompt_version"), "source": meta_b.get("source")}
    return out


def compare_runs(dir_a: Path, dir_b: Path) -> str:
    """The comparison as Markdown text (what the UI's Evals tab shows)."""
    return to_markdown(compare_dirs(Path(dir_a), Path(dir_b)))


def _f(v: Any) -> str:
    if v is None:
        return "n/a"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def to_markdown(cmp: dict[str, Any], max_questions: int = 15) -> str:
    """A readable text version (printed by the CLI and written beside the JSON)."""
    a, b = cmp.get("a", {}), cmp.get("b", {})
    lines = [
        f"# eval-compare: A = {a.get('dir')} ({a.get('model')}, {a.get('prompt_version')})",
        f"#               B = {b.get('dir')} ({b.get('model')}, {b.get('prompt_version')})",
        f"questions in both: {cmp['common']}; only in A: {len(cmp['only_a'])}; only in B: {len(cmp['only_b'])}; "
        f"errors A {cmp['errors']['a']} -> B {cmp['errors']['b']}",
        "",
        "| metric | A | B | B - A | |",
        "|---|---:|---:|---:|---|",
    ]
    for k, d in cmp["metrics"].items():
        mark = "" if d["better"] is None else ("better" if d["better"] else "worse")
        diff = "n/a" if d["diff"] is None else f"{d['diff']:+.4f}"
        lines.append(f"| {k} | {_f(d['a'])} | {_f(d['b'])} | {diff} | {mark} |")
    for title, key in (("Better in B", "better"), ("Worse in B", "worse")):
        items = cmp[key]
        lines += ["", f"## {title} ({len(items)})"]
        for e in items[:max_questions]:
            if "change" in e:
                lines.append(f"- {e['qid']} ({e['type']}): {e['change']}")
                continue
            changed = ", ".join(f"{m} {v['a']:.2f}->{v['b']:.2f}" for m, v in e["changed"].items())
            lines.append(f"- {e['qid']} ({e['type']}) {e['score']['diff']:+.3f}: {changed}")
        if len(items) > max_questions:
            lines.append(f"- ... and {len(items) - max_questions} more (see the JSON)")
    return "\n".join(lines) + "\n"


def write_comparison(cmp: dict[str, Any], json_path: Path) -> Path:
    """Write the JSON and a Markdown twin (same name, .md); returns the Markdown path."""
    write_json(json_path, cmp)
    md = json_path.with_suffix(".md")
    md.write_text(to_markdown(cmp, max_questions=10_000), encoding="utf-8")
    return md
