"""The Gradio Blocks: Chat, Corpus and Evals tabs wired to :mod:`agent.ui.chat` and friends."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from agent.ui import audit_tab, chat, corpus, evals, render
from agent.ui.services import CHECK_MODES, MAX_PAPERS, Services, api_key_status

EXAMPLES = [
    "Which papers address false negatives?",
    "What methods improve fine-grained visual recognition in multimodal LLMs?",
    "Compare variational importance sampling with standard variational inference.",
    "Summarize what these abstracts say about retrieval-augmented generation",
]
KNOWN_MODELS = ["local:qwen2.5-coder-1.5b", "local:qwen2.5-coder-0.5b", "fake"]
PLACEHOLDER = (
    "<b>Ask a question about the indexed paper abstracts.</b><br>"
    "Every answer cites its papers; click a citation for the evidence. "
    "✓ marks a supported sentence, ✗ an unsupported one."
)
LEGEND = (
    "**Marks:** ✓ supported · ✗ unsupported · • not checked. Hover a sentence for the reason; "
    "click a citation to open its evidence card."
)


def _count_text(n: int) -> str:
    return f"**{n} papers indexed**"


def build_app(services: Services, *, locked: bool = False, runs_dirs: list[Path] | None = None) -> gr.Blocks:
    """The whole UI. ``locked``: a shared deployment (model and endpoint fixed to the configured ones)."""
    settings = services.settings
    ui = settings.ui
    runs_roots = list(runs_dirs or [])

    with gr.Blocks(title="Citewise", analytics_enabled=False, fill_width=True) as demo:
        session = gr.State(chat.ChatSession())
        gr.Markdown("## Citewise — cited answers from research-paper abstracts")
        # While the index opens (first run: the bundled corpus is indexed), a progress line; gone once ready.
        startup = gr.Markdown(services.startup.text(), elem_id="cw-startup", visible=not services.startup.ready)
        startup_timer = gr.Timer(ui.startup_poll_s, active=not services.startup.ready)
        with gr.Tabs():
            # -- Chat ---------------------------------------------------------
            with gr.Tab("Chat", id="chat"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4):
                        chatbot = gr.Chatbot(
                            elem_id="cw-chat",
                            label="Chat",
                            show_label=False,
                            height=620,
                            render_markdown=False,
                            sanitize_html=True,
                            latex_delimiters=[],
                            buttons=["copy"],
                            feedback_options=None,
                            group_consecutive_messages=False,
                            placeholder=PLACEHOLDER,
                            autoscroll=True,
                        )
                        with gr.Row():
                            question = gr.Textbox(
                                elem_id="cw-question",
                                show_label=False,
                                placeholder="Ask about the indexed papers (follow-up questions work too)…",
                                lines=1,
                                max_lines=4,
                                max_length=settings.answer.max_question_chars,
                                scale=6,
                                autofocus=True,
                            )
                            send = gr.Button("Ask", variant="primary", elem_id="cw-send", scale=1, min_width=80)
                            stop = gr.Button("Stop", variant="stop", elem_id="cw-stop", scale=1, min_width=80)
                        gr.Examples(examples=[[q] for q in EXAMPLES], inputs=[question], label="Examples")
                    with gr.Column(scale=2, min_width=280):
                        with gr.Row():
                            thorough_btn = gr.Button("Run thorough check on the last answer", elem_id="cw-thorough", size="sm")
                            clear = gr.Button("New chat", elem_id="cw-new", size="sm")
                        gr.Markdown(LEGEND)
                        with gr.Accordion("Settings", open=True, elem_id="cw-settings"):
                            choices = list(dict.fromkeys([settings.llm.model, *([] if locked else KNOWN_MODELS)]))
                            model = gr.Dropdown(
                                choices=choices,
                                value=settings.llm.model,
                                allow_custom_value=not locked,
                                label="Model",
                                info="local:<name or .gguf>, openai:<model> (hosted, OpenAI-compatible), hf:<path>, fake",
                                interactive=not locked,
                                elem_id="cw-model",
                            )
                            base_url = gr.Textbox(
                                value=settings.llm.openai_base_url or "",
                                label="Endpoint base URL (for openai:… models)",
                                placeholder="https://api.openai.com/v1",
                                interactive=not locked,
                            )
                            gr.Markdown(f"API key: {api_key_status(settings)} (read from the environment, never shown).")
                            papers = gr.Slider(1, MAX_PAPERS, value=settings.answer.papers, step=1, label="Papers retrieved", elem_id="cw-papers")
                            check = gr.Radio(
                                list(CHECK_MODES),
                                value=settings.faithfulness.mode,
                                label="Faithfulness check",
                                info="fast: embeddings + rules (instant); thorough: adds the local LLM judge",
                                elem_id="cw-check",
                            )

            # -- Corpus -------------------------------------------------------
            with gr.Tab("Corpus", id="corpus"):
                count = gr.Markdown(_count_text(services.count()), elem_id="cw-count")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        search = gr.Textbox(label="Search papers (id, title, authors, abstract)", elem_id="cw-search")
                        table = gr.Dataframe(
                            headers=corpus.PAPER_COLUMNS,
                            value=corpus.paper_rows(services.papers()),
                            interactive=False,
                            wrap=True,
                            max_height=520,
                            column_widths=["100px", "55%", "60px", "25%"],
                            elem_id="cw-papers-table",
                        )
                    with gr.Column(scale=2):
                        paper_card = gr.HTML(render.render_paper(None), elem_id="cw-paper-card")
                with gr.Accordion("Add papers", open=True):
                    gr.Markdown(
                        f"Upload {', '.join(corpus.ACCEPTED_EXTENSIONS)} files (UTF-8, UTF-16 or cp1252/Latin-1, at most {ui.max_upload_mb:g} MiB each). "
                        "JSONL/CSV need `title` and `abstract` (optional `id`, `year`, `authors`, `url`); "
                        "BibTeX entries need an `abstract`; `.txt` is title line / abstract line pairs."
                    )
                    upload = gr.File(
                        file_count="multiple",
                        file_types=list(corpus.ACCEPTED_EXTENSIONS),
                        type="filepath",
                        label="Corpus files",
                        elem_id="cw-upload",
                    )
                    add = gr.Button("Add to index", variant="primary", elem_id="cw-add")
                    report = gr.HTML(elem_id="cw-report")

            # -- Check a draft ------------------------------------------------
            with gr.Tab("Check a draft", id="audit"):
                gr.Markdown(
                    "Paste a draft or upload a .tex / .md file: each sentence is checked against the paper it cites "
                    "(LaTeX `\\cite{key}`, pandoc `[@key]`, or `[id]` markers; keys are the ids in the Corpus tab). "
                    f"At most {settings.audit.max_draft_mb:g} MiB; fast check."
                )
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        draft_box = gr.Textbox(
                            label="Draft", lines=10, max_lines=30, elem_id="cw-draft",
                            placeholder="Decoupled contrastive learning removes the positive term [p196b093a].",
                        )
                    with gr.Column(scale=2):
                        draft_file = gr.File(
                            file_count="single", file_types=list(audit_tab.DRAFT_EXTENSIONS), type="filepath",
                            label="…or upload a draft (.tex, .md, .txt)", elem_id="cw-draft-file",
                        )
                        audit_btn = gr.Button("Check citations", variant="primary", elem_id="cw-audit")
                        audit_file = gr.File(label="report (download)", interactive=False, elem_id="cw-audit-report")
                audit_out = gr.HTML(elem_id="cw-audit-out")

            # -- Evals --------------------------------------------------------
            with gr.Tab("Evals", id="evals"):
                roots_note = ", ".join(str(r) for r in runs_roots) or "(none configured)"
                gr.Markdown(f"Eval runs found under: `{roots_note}` (folders with a `summary.json`).")
                with gr.Row():
                    run_a = gr.Dropdown(label="Run A", choices=[], elem_id="cw-run-a")
                    run_b = gr.Dropdown(label="Run B (to compare)", choices=[], elem_id="cw-run-b")
                    rescan = gr.Button("Rescan", size="sm")
                with gr.Row():
                    show = gr.Button("Show run A", variant="primary")
                    compare = gr.Button("Compare A → B")
                eval_summary = gr.HTML(elem_id="cw-eval-summary")
                report_file = gr.File(label="report.html (download)", interactive=False)
                report_view = gr.HTML(elem_id="cw-eval-report")

        # -- wiring ----------------------------------------------------------------
        def answer_fn(q: str, history: list, sess: chat.ChatSession, m: str, url: str, k: float, mode: str):
            yield from chat.respond(services, locked, q, history, sess, m, url, k, mode)

        ask = gr.on(
            triggers=[question.submit, send.click],
            fn=answer_fn,
            inputs=[question, chatbot, session, model, base_url, papers, check],
            outputs=[question, chatbot, session],
            concurrency_limit=ui.concurrency,
            concurrency_id="answer",
            show_progress="hidden",
            api_visibility="private",
        )
        # Cancel first, then mark the message: the mark must land after the last streamed update.
        stop.click(None, cancels=[ask], queue=False, api_visibility="private").then(
            chat.stop, inputs=[chatbot], outputs=[chatbot], api_visibility="private"
        )
        def thorough_fn(history: list, sess: chat.ChatSession):
            yield from chat.thorough(services, history, sess)

        thorough_btn.click(
            thorough_fn,
            inputs=[chatbot, session],
            outputs=[chatbot, session],
            concurrency_limit=ui.concurrency,
            concurrency_id="answer",
            show_progress="hidden",
            api_visibility="private",
        )
        clear.click(chat.new_chat, outputs=[chatbot, session], cancels=[ask], api_visibility="private")

        def do_search(query: str) -> Any:
            return corpus.paper_rows(corpus.filter_papers(services.papers(), query or ""))

        search.change(do_search, inputs=[search], outputs=[table], api_visibility="private", trigger_mode="always_last")

        def select_paper(rows: Any, evt: gr.SelectData) -> str:
            pid = None
            row = getattr(evt, "row_value", None)
            if row:
                pid = str(row[0])
            if pid is None:
                return render.render_paper(None)
            found = services.store.get_papers([pid])
            return render.render_paper(found[0] if found else None)

        table.select(select_paper, inputs=[table], outputs=[paper_card], api_visibility="private")

        def do_add(files: list[str] | None, query: str, progress: gr.Progress = gr.Progress()) -> tuple:
            if not files:
                gr.Warning("Choose one or more files to upload first.")
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            if not services.wait_ready(0):
                gr.Warning(f"{services.startup.text()} Add your files once it is ready.")
                return gr.skip(), gr.skip(), gr.skip(), gr.skip()
            pairs = [(Path(f), Path(f).name) for f in files]
            progress(0, desc="Reading files…")

            def on_progress(done: int, total: int) -> None:
                if total:
                    progress((done, total), desc="Embedding and indexing papers", unit="papers")

            result = corpus.ingest_uploads(
                services.store, pairs, services.uploads_dir, ui.max_upload_mb, on_progress, after=services.refresh
            )
            rows = corpus.paper_rows(corpus.filter_papers(services.papers(), query or ""))
            return corpus.report_html(result), _count_text(result.after), rows, None

        add.click(
            do_add,
            inputs=[upload, search],
            outputs=[report, count, table, upload],
            concurrency_limit=1,
            concurrency_id="ingest",
            api_visibility="private",
        )

        def do_audit(text: str, upload: str | None, request: gr.Request, progress: gr.Progress = gr.Progress()) -> tuple:
            def on_progress(done: int, total: int) -> None:
                if total:
                    progress((done, total), desc="Checking sentences", unit="sentences")

            session_id = getattr(request, "session_hash", None) or "default"
            try:
                report, path = audit_tab.run_audit(services, text, upload, session_id, on_progress)
            except audit_tab.DraftRejected as exc:
                return f'<div class="cw-badge cw-bad"><span class="cw-icon">✗</span> {render.esc(exc)}</div>', None
            return audit_tab.results_html(report), path

        audit_btn.click(
            do_audit,
            inputs=[draft_box, draft_file],
            outputs=[audit_out, audit_file],
            concurrency_limit=1,
            concurrency_id="audit",
            api_visibility="private",
        )

        def scan() -> tuple:
            runs = list(evals.find_runs(runs_roots))
            first = runs[0] if runs else None
            second = runs[1] if len(runs) > 1 else None
            return gr.update(choices=runs, value=first), gr.update(choices=runs, value=second)

        def _run_path(label: str | None) -> Path | None:
            if not label:
                return None
            return evals.find_runs(runs_roots).get(label)  # only listed runs can be opened

        def do_show(label: str | None) -> tuple:
            run = _run_path(label)
            if run is None:
                return '<div class="cw-meta">Pick a run.</div>', None, ""
            summary = evals.summary_html(label or "", evals.load_summary(run))
            return summary, evals.report_download(run), evals.report_iframe(run)

        def do_compare(a: str | None, b: str | None) -> str:
            ra, rb = _run_path(a), _run_path(b)
            if ra is None or rb is None:
                return '<div class="cw-meta">Pick two runs to compare.</div>'
            harness = evals.harness_compare_html(ra, rb)
            if harness:
                return harness
            return evals.compare_html(a or "", evals.load_summary(ra), b or "", evals.load_summary(rb))

        rescan.click(scan, outputs=[run_a, run_b], api_visibility="private")
        show.click(do_show, inputs=[run_a], outputs=[eval_summary, report_file, report_view], api_visibility="private")
        compare.click(do_compare, inputs=[run_a, run_b], outputs=[eval_summary], api_visibility="private")

        def startup_state() -> tuple:
            """The progress line and whether to keep polling it."""
            state = services.startup
            done = state.ready or state.error is not None
            shown = gr.update(value=state.text(), visible=not state.ready)
            return shown, gr.Timer(active=not done)

        def poll_startup() -> tuple:
            shown, timer = startup_state()
            n = services.count()
            rows = corpus.paper_rows(services.papers()) if services.startup.ready else gr.skip()
            return shown, timer, _count_text(n), rows

        startup_timer.tick(
            poll_startup, outputs=[startup, startup_timer, count, table], show_progress="hidden", api_visibility="private"
        )

        def on_load() -> tuple:
            n = services.count()
            return (*startup_state(), _count_text(n), corpus.paper_rows(services.papers()), *scan())

        demo.load(on_load, outputs=[startup, startup_timer, count, table, run_a, run_b], api_visibility="private")
    return demo
