"""report.html: one self-contained page (inline CSS, charts as base64 PNG from matplotlib's Agg backend).

Sections: run header, summary table (overall and by type), per-type bar chart,
latency distribution, label accuracy (PubMedQA runs), a per-question table and
each question with its answer, key points and flagged (unsupported) sentences.
Nothing is loaded from the network; the file can be mailed or archived as is.
"""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path
from typing import Any

from agent.evaluation.scoring import COST_METRICS, METRICS

#: Quality metrics drawn in the per-type bar chart.
CHART_METRICS = ("recall@10", "evidence_recall", "citation_precision", "citation_recall", "key_point_coverage", "faithful", "refusal_correct")
#: Columns of the per-question table.
TABLE_METRICS = ("recall@10", "citation_precision", "citation_recall", "key_point_coverage", "substantive_sentences", "faithfulness_score", "refusal_correct", "total_s")

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem}.meta{color:#666;margin-top:0}
table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
th,td{border:1px solid #ddd;padding:.3rem .55rem;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}.na{color:#aaa}
.good{background:#e7f6e7}.mid{background:#fff6d9}.bad{background:#fde4e4}
.err{color:#b00020;font-weight:600}.card{border:1px solid #ddd;border-radius:6px;margin:.6rem 0;padding:.2rem .8rem}
.card summary{cursor:pointer;font-weight:600;padding:.4rem 0}
.answer{white-space:pre-wrap;background:#fafafa;padding:.6rem;border-radius:4px}
.flag{background:#fde4e4;border-left:3px solid #b00020;padding:.2rem .5rem;margin:.3rem 0}
.kp-ok::before{content:"\\2713  ";color:#1a7f37}.kp-no::before{content:"\\2717  ";color:#b00020}
.tiles{display:flex;gap:1rem;flex-wrap:wrap}.tile{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;min-width:9rem}
.tile b{display:block;font-size:1.5rem}img{max-width:100%}
"""


def _fmt(value: Any, key: str = "") -> str:
    if value is None:
        return '<span class="na">n/a</span>'
    if isinstance(value, float):
        if key.endswith("_s"):
            return f"{value:.2f}s"
        if key.startswith("tokens"):
            return f"{value:.0f}"
        return f"{value:.3f}"
    return escape(str(value))


def _cls(value: Any, key: str) -> str:
    if value is None or key in COST_METRICS:
        return ""
    return "good" if value >= 0.8 else "mid" if value >= 0.5 else "bad"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return '<img alt="chart" src="data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode("ascii") + '">'


def type_chart(summary: dict[str, Any]) -> str:
    """Grouped bars: each quality metric, one bar per question type (missing = not applicable)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    by_type = summary.get("by_type", {})
    types = list(by_type)
    if not types:
        return "<p>No rows.</p>"
    x = np.arange(len(CHART_METRICS))
    width = 0.8 / len(types)
    fig, ax = plt.subplots(figsize=(11, 3.8))
    for i, t in enumerate(types):
        vals = [by_type[t]["metrics"].get(m) for m in CHART_METRICS]
        ax.bar(x + i * width - 0.4 + width / 2, [v if v is not None else 0 for v in vals], width, label=f"{t} ({by_type[t]['n']})")
    ax.set_xticks(x, CHART_METRICS, rotation=15)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean")
    ax.legend(fontsize=8, ncol=min(len(types), 5), loc="upper center", bbox_to_anchor=(0.5, 1.18))
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def latency_chart(rows: list[dict[str, Any]]) -> str:
    """Histograms of retrieval, first-token and total latency."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if r.get("status") == "ok"]
    keys = ("retrieve_s", "first_token_s", "total_s")
    fig, axes = plt.subplots(1, 3, figsize=(11, 3))
    for ax, key in zip(axes, keys):
        values = [r["metrics"][key] for r in ok if r["metrics"].get(key) is not None]
        if values:
            ax.hist(values, bins=min(20, max(3, len(values) // 2)), color="#4c72b0")
        ax.set_title(key.replace("_s", " (s)"))
        ax.set_xlabel("seconds")
    axes[0].set_ylabel("questions")
    fig.tight_layout()
    return _png(fig)


def _summary_table(summary: dict[str, Any]) -> str:
    by_type = summary.get("by_type", {})
    types = list(by_type)
    head = '<tr><th class="l">metric</th><th>all</th>' + "".join(f"<th>{escape(t)} ({by_type[t]['n']})</th>" for t in types) + "<th>n/a</th></tr>"
    body = []
    for key in METRICS:
        overall = summary.get("metrics", {}).get(key)
        if overall is None and all(by_type[t]["metrics"].get(key) is None for t in types):
            continue  # e.g. label_correct outside PubMedQA, judge_coverage without a judge
        cells = [f'<td class="{_cls(overall, key)}">{_fmt(overall, key)}</td>']
        for t in types:
            v = by_type[t]["metrics"].get(key)
            cells.append(f'<td class="{_cls(v, key)}">{_fmt(v, key)}</td>')
        nan = summary.get("nan_counts", {}).get(key, 0)
        body.append(f'<tr><td class="l">{escape(key)}</td>{"".join(cells)}<td>{nan}</td></tr>')
    return f"<table>{head}{''.join(body)}</table>"


def _labels_section(summary: dict[str, Any]) -> str:
    labels = summary.get("labels")
    if not labels:
        return ""
    conf = labels["confusion"]
    preds = list(next(iter(conf.values())))
    head = '<tr><th class="l">expected \\ predicted</th>' + "".join(f"<th>{escape(p)}</th>" for p in preds) + "</tr>"
    body = "".join(
        f'<tr><td class="l">{escape(e)}</td>' + "".join(f"<td>{conf[e][p]}</td>" for p in preds) + "</tr>" for e in conf
    )
    return (
        '<h2 id="labels">Yes / no / maybe accuracy</h2>'
        f"<p>Accuracy <b>{labels['accuracy']:.3f}</b> on {labels['n']} questions "
        f"(majority class '{escape(labels['majority_class'])}': {labels['majority_baseline']:.3f}).</p>"
        f"<table>{head}{body}</table>"
    )


def _question_table(rows: list[dict[str, Any]]) -> str:
    head = '<tr><th class="l">qid</th><th class="l">type</th>' + "".join(f"<th>{escape(m)}</th>" for m in TABLE_METRICS) + '<th class="l">status</th></tr>'
    body = []
    for r in rows:
        m = r.get("metrics", {})
        status = '<span class="err">error</span>' if r.get("status") != "ok" else ("refused" if r.get("refused") else "answered")
        cells = "".join(f'<td class="{_cls(m.get(k), k)}">{_fmt(m.get(k), k)}</td>' for k in TABLE_METRICS)
        body.append(
            f'<tr><td class="l"><a href="#{escape(r["qid"])}">{escape(r["qid"])}</a></td><td class="l">{escape(r.get("type", ""))}</td>{cells}<td class="l">{status}</td></tr>'
        )
    return f"<table>{head}{''.join(body)}</table>"


def _question_card(r: dict[str, Any]) -> str:
    qid = escape(r["qid"])
    parts = [f'<details class="card" id="{qid}"><summary>{qid} · {escape(r.get("type", ""))} · {escape(r.get("question", ""))}</summary>']
    if r.get("status") != "ok":
        parts.append(f'<p class="err">{escape(str(r.get("error")))}</p></details>')
        return "".join(parts)
    parts.append(f'<div class="answer">{escape(r.get("answer") or "")}</div>')
    flagged = [s for s in r.get("sentences", []) if s.get("supported") is False]
    if flagged:
        parts.append(f"<p><b>Flagged sentences ({len(flagged)})</b></p>")
        for s in flagged:
            parts.append(f'<div class="flag">{escape(s["text"])}<br><small>{escape(s.get("reason") or "")}</small></div>')
    faith = r.get("faithfulness")
    if faith:
        parts.append(f"<p>Faithfulness: <b>{escape(faith['verdict'])}</b> (score {faith['score']:.2f})</p>")
    if r.get("key_points"):
        items = "".join(
            f'<li class="{"kp-ok" if k["covered"] else "kp-no"}">{escape(k["text"])} <small>({k["score"]:.2f})</small></li>' for k in r["key_points"]
        )
        parts.append(f"<p><b>Key points</b></p><ul style='list-style:none'>{items}</ul>")
    gold = set(r.get("gold_ids", []))
    cited = ", ".join(
        f'{"<b>" if c["id"] in gold else ""}[{escape(c["id"])}] {escape(c["title"])}{"</b>" if c["id"] in gold else ""}' for c in r.get("citations", [])
    )
    parts.append(f"<p><small>Cited (gold in bold): {cited or 'none'}<br>Gold: {escape(', '.join(sorted(gold))) or 'none'}")
    if r.get("gold_unresolved"):
        parts.append(f"<br>Gold titles not in the index: {escape('; '.join(r['gold_unresolved']))}")
    if r.get("expected_label"):
        parts.append(f"<br>Expected {escape(r['expected_label'])}, predicted {escape(str(r.get('predicted_label')))}")
    parts.append("</small></p></details>")
    return "".join(parts)


def render_report(rows: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    """The whole HTML page as a string."""
    run = summary.get("run", {})
    counts = summary.get("counts", {})
    metrics = summary.get("metrics", {})
    tiles = [
        ("questions", counts.get("total", 0)),
        ("errors", counts.get("errors", 0)),
        ("recall@10", _fmt(metrics.get("recall@10"))),
        ("citation precision", _fmt(metrics.get("citation_precision"))),
        ("key points", _fmt(metrics.get("key_point_coverage"))),
        ("faithful", _fmt(metrics.get("faithful"))),
        ("refusal correct", _fmt(metrics.get("refusal_correct"))),
        ("p50 total", _fmt(summary.get("latency", {}).get("total_s", {}).get("p50"), "total_s")),
    ]
    if summary.get("labels"):
        tiles.insert(2, ("label accuracy", _fmt(summary["labels"]["accuracy"])))
    tile_html = "".join(f'<div class="tile"><b>{v}</b>{escape(k)}</div>' for k, v in tiles)
    problems = summary.get("input_problems") or []
    problem_html = (
        "<h2>Input problems</h2><ul>" + "".join(f"<li>{escape(p)}</li>" for p in problems) + "</ul>" if problems else ""
    )
    title = f"Citewise eval · {run.get('model', '?')} · {run.get('source', '')}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<h1>Citewise evaluation</h1>
<p class="meta">model <b>{escape(str(run.get('model', '?')))}</b> · prompt {escape(str(run.get('prompt_version', '?')))} ·
source {escape(str(run.get('source', '')))} · updated {escape(str(run.get('updated', '')))}
{'' if run.get('complete', True) else ' · <span class="err">partial run</span>'}</p>
<div class="tiles">{tile_html}</div>
<h2 id="summary">Summary</h2>
<p>Means over the questions where a metric applies; <i>n/a</i> counts the rest (e.g. recall of unanswerable questions, error rows).</p>
{_summary_table(summary)}
{_labels_section(summary)}
<h2 id="by-type">By question type</h2>
{type_chart(summary)}
<h2 id="latency">Latency</h2>
{latency_chart(rows)}
{problem_html}
<h2 id="questions">Questions</h2>
{_question_table(rows)}
{''.join(_question_card(r) for r in rows)}
</body></html>
"""


def write_report(path: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_report(rows, summary), encoding="utf-8")
    tmp.replace(path)
