"""The Evals tab: find eval run directories, show a run's summary and report, compare two runs.

A run directory (written by ``citewise eval``) holds ``summary.json``,
``results.jsonl`` and ``report.html``. Only directories found under the
configured run roots can be picked, so the tab never reads an arbitrary
server path; the report is embedded in a sandboxed ``<iframe srcdoc>`` (no
scripts, no same-origin access) and offered as a download copied into a temp
file, so the run folders never need to be in Gradio's ``allowed_paths``.
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from agent.ui.render import esc

SUMMARY = "summary.json"
REPORT = "report.html"
#: Largest summary / report read, in bytes.
MAX_SUMMARY_BYTES = 5 * 2**20
MAX_REPORT_BYTES = 20 * 2**20
#: How deep below a root run directories are looked for.
MAX_DEPTH = 3


def find_runs(roots: Iterable[Path]) -> dict[str, Path]:
    """``{label: run dir}`` of every directory with a summary.json under ``roots``, newest first."""
    found: list[tuple[float, str, Path]] = []
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        for summary in _walk(root, MAX_DEPTH):
            run = summary.parent
            rel = run.relative_to(root).as_posix()
            label = f"{root.name}/{rel}" if rel != "." else root.name
            try:
                mtime = summary.stat().st_mtime
            except OSError:
                continue
            found.append((mtime, label, run.resolve()))
    found.sort(key=lambda t: (-t[0], t[1]))
    out: dict[str, Path] = {}
    for _, label, path in found:
        while label in out:
            label += "'"
        out[label] = path
    return out


def _walk(root: Path, depth: int) -> Iterable[Path]:
    if (root / SUMMARY).is_file():
        yield root / SUMMARY
    if depth <= 0:
        return
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and not p.name.startswith("."))
    except OSError:
        return
    for child in children:
        yield from _walk(child, depth - 1)


def load_summary(run: Path) -> dict[str, Any]:
    """The run's summary.json (an error entry instead when missing or malformed)."""
    path = run / SUMMARY
    try:
        if path.stat().st_size > MAX_SUMMARY_BYTES:
            return {"error": f"{SUMMARY} is larger than {MAX_SUMMARY_BYTES // 2**20} MiB"}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {"error": f"cannot read {SUMMARY}: {exc}"}
    return data if isinstance(data, dict) else {"value": data}


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as ``a.b.c`` keys; lists of scalars joined, longer lists summarized."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    elif isinstance(data, list):
        if all(not isinstance(v, (dict, list)) for v in data) and len(data) <= 12:
            out[prefix] = ", ".join(map(str, data))
        else:
            out[prefix] = f"[{len(data)} items]"
    else:
        out[prefix] = data
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def _is_num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))


def summary_html(label: str, summary: dict[str, Any]) -> str:
    """A two-column table of the flattened summary."""
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(_fmt(v))}</td></tr>" for k, v in flatten(summary).items())
    return (
        f'<div class="cw-refs-h">{esc(label)}</div>'
        f'<table class="cw-table"><thead><tr><th>metric</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>'
    )


def compare_html(label_a: str, a: dict[str, Any], label_b: str, b: dict[str, Any]) -> str:
    """Metrics side by side with the change from A to B for numbers."""
    fa, fb = flatten(a), flatten(b)
    keys = list(dict.fromkeys([*fa, *fb]))
    rows = []
    for key in keys:
        va, vb = fa.get(key), fb.get(key)
        delta = ""
        if _is_num(va) and _is_num(vb):
            d = float(vb) - float(va)
            cls = "cw-unk" if d == 0 else ("cw-up" if d > 0 else "cw-down")
            delta = f'<span class="{cls}">{"+" if d > 0 else ""}{d:.4g}</span>'
        elif va != vb:
            delta = '<span class="cw-unk">changed</span>'
        rows.append(
            f"<tr><td>{esc(key)}</td><td>{esc(_fmt(va)) if key in fa else '—'}</td>"
            f"<td>{esc(_fmt(vb)) if key in fb else '—'}</td><td>{delta}</td></tr>"
        )
    return (
        f'<table class="cw-table"><thead><tr><th>metric</th><th>A: {esc(label_a)}</th><th>B: {esc(label_b)}</th>'
        f'<th>B − A</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def report_iframe(run: Path) -> str:
    """report.html embedded in a sandboxed iframe (or a note when there is none)."""
    path = run / REPORT
    try:
        if path.stat().st_size > MAX_REPORT_BYTES:
            return f'<div class="cw-meta">{REPORT} is too large to embed; download it instead.</div>'
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f'<div class="cw-meta">This run has no {REPORT}.</div>'
    return f'<iframe class="cw-report-frame" sandbox="" referrerpolicy="no-referrer" title="eval report" srcdoc="{esc(text)}"></iframe>'


def report_download(run: Path) -> str | None:
    """A temp copy of report.html for the download button (None when there is none)."""
    path = run / REPORT
    if not path.is_file():
        return None
    out = Path(tempfile.mkdtemp(prefix="citewise-report-")) / f"{run.name}-report.html"
    shutil.copyfile(path, out)
    return str(out)


def compare_runs(a: Path, b: Path) -> str | None:
    """The eval harness's own comparison (``agent.evaluation``), when it offers one as text."""
    try:
        from agent.evaluation import compare as harness  # type: ignore[attr-defined]
    except ImportError:
        return None
    fn = getattr(harness, "compare_runs", None)
    if fn is None:
        return None
    try:
        result = fn(a, b)
    except Exception:  # the harness is optional here: fall back to our own table
        return None
    return result if isinstance(result, str) else None
