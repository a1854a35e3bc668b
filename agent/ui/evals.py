"""The Evals tab: find eval run directories, show a run's summary and report, compare two runs.

A run directory (written by ``citewise eval``) holds ``summary.json``,
``results.jsonl`` and ``report.html``. Only directories found under the
configured run roots can be picked, so the tab never reads an arbitrary
server path; the report is embedded in a sandboxed ``<iframe srcdoc>`` (no
scripts, no same-origin access) and offered as a download copied into a temp
file, so the run folders never need to be in Gradio's ``allowed_paths``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
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


#: Summary fields shown up front (the rest sit in a collapsed "all fields" table).
MAIN_PREFIXES = ("run.", "metrics.")
MAIN_COUNTS = ("counts.total", "counts.ok", "counts.errors", "counts.refused")


def _table(items: dict[str, Any]) -> str:
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(_fmt(v))}</td></tr>" for k, v in items.items())
    return f'<table class="cw-table"><thead><tr><th>field</th><th>value</th></tr></thead><tbody>{rows}</tbody></table>'


def summary_html(label: str, summary: dict[str, Any]) -> str:
    """The run's headline fields (run info, counts, metrics), then every field in a collapsed table."""
    flat = flatten(summary)
    main = {k: v for k, v in flat.items() if k.startswith(MAIN_PREFIXES) or k in MAIN_COUNTS or k == "error"}
    if not main:
        main = flat
    rest = {k: v for k, v in flat.items() if k not in main}
    more = f'<details class="cw-details"><summary>All fields ({len(flat)})</summary>{_table(flat)}</details>' if rest else ""
    return f'<div class="cw-refs-h">{esc(label)}</div>{_table(main)}{more}'


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


def report_download(run: Path, tmp_root: Path | None = None) -> str | None:
    """A temp copy of report.html for the download button (None when there is none).

    Gradio serves a file path; the copy for a run always lands at the same
    place (``<tmp>/citewise-reports/<hash of the run path>/``), so clicking
    again replaces it instead of leaving one more folder behind.
    """
    path = run / REPORT
    if not path.is_file():
        return None
    key = hashlib.sha1(str(run.resolve()).encode("utf-8")).hexdigest()[:16]
    folder = (tmp_root or Path(tempfile.gettempdir())) / "citewise-reports" / key
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{run.name}-report.html"
    part = out.with_suffix(f".{os.getpid()}.part")
    shutil.copyfile(path, part)
    part.replace(out)  # a reader never sees a half-copied file
    return str(out)


def harness_compare_html(a: Path, b: Path) -> str | None:
    """The eval harness's comparison (``agent.evaluation.compare.compare_dirs``) as HTML.

    Uses the harness's own rules (which metrics are lower-is-better, per-question
    changes on the questions both runs share); None when the harness is not
    installed or cannot read the runs, so the caller falls back to :func:`compare_html`.
    """
    try:
        from agent.evaluation.compare import compare_dirs
    except ImportError:
        return None
    try:
        cmp = compare_dirs(a, b)
    except Exception:  # noqa: BLE001 - a broken run must not break the tab
        return None
    rows = []
    for key, d in (cmp.get("metrics") or {}).items():
        better = d.get("better")
        mark = "" if better is None else ('<span class="cw-up">✓ better</span>' if better else '<span class="cw-down">✗ worse</span>')
        diff = d.get("diff")
        rows.append(
            f"<tr><td>{esc(key)}</td><td>{esc(_fmt(d.get('a')))}</td><td>{esc(_fmt(d.get('b')))}</td>"
            f"<td>{'' if diff is None else esc(f'{diff:+.4g}')}</td><td>{mark}</td></tr>"
        )
    errors = cmp.get("errors") or {}
    head = (
        f'<div class="cw-meta">questions in both: {esc(cmp.get("common"))}; only in A: {len(cmp.get("only_a") or [])}; '
        f'only in B: {len(cmp.get("only_b") or [])}; errors A {esc(errors.get("a"))} → B {esc(errors.get("b"))}</div>'
    )
    table = (
        '<table class="cw-table"><thead><tr><th>metric</th><th>A</th><th>B</th><th>B − A</th><th></th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
    )
    lists = []
    for title, key in (("Better in B", "better"), ("Worse in B", "worse")):
        items = cmp.get(key) or []
        lis = []
        for e in items[:20]:
            change = e.get("change") or (f"{e['score']['diff']:+.3f}" if isinstance(e.get("score"), dict) else "")
            lis.append(f"<li><b>{esc(e.get('qid'))}</b> ({esc(e.get('type'))}) {esc(change)} — {esc(e.get('question', ''))}</li>")
        more = f"<li>… and {len(items) - 20} more</li>" if len(items) > 20 else ""
        lists.append(f'<div class="cw-refs-h">{title} ({len(items)})</div><ul class="cw-checks">{"".join(lis)}{more}</ul>')
    return head + table + "".join(lists)
