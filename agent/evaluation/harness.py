"""The batch evaluation harness behind ``citewise eval``.

:func:`run_eval` answers each question with a :class:`Pipeline` (normally
:class:`EnginePipeline`: the :class:`~agent.chain.AnswerEngine` with the fast
faithfulness hook), scores it (:mod:`agent.evaluation.scoring`) and appends one
row to ``DIR/results.jsonl`` as soon as it is done (fsync). Then it writes
``summary.json`` and ``report.html``.

Robustness rules:

* A question that raises (model error, endpoint timeout, bad question) becomes
  an error row (``status: "error"``, the message in ``error``, metrics null);
  the run goes on.
* Ctrl-C (or a crash) keeps every finished row. Running again with the same
  DIR resumes: qids already in results.jsonl are skipped. Error rows are kept as
  they are unless ``retry_errors`` is set; then they are re-run and the new row
  (appended) replaces the old one.
* A DIR holding a run of a different model, prompt version or check mode is refused, so one
  results file never mixes two systems.
* ``workers > 1`` answers questions in parallel threads, one engine per thread
  sharing one retriever; local models (``local:``, ``hf:``) are loaded once and
  generation is serialized with a lock. Rows are written by the main thread only.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from agent.errors import CitewiseError
from agent.evaluation.questions import EvalQuestion, Gold, resolve_gold
from agent.evaluation.results import REPORT, RUN_META, SUMMARY, ResultsFile, latest_rows, write_json
from agent.evaluation.scoring import (
    RECALL_DEPTHS,
    KeyPointScorer,
    Observation,
    answer_prose,
    empty_metrics,
    parse_label,
    question_metrics,
    substantive_sentences,
)
from agent.evaluation.summary import summarize

if TYPE_CHECKING:
    from agent.retrieval import Retriever
    from agent.settings import Settings

#: Progress callback: (questions finished in this invocation, questions to do, the new row or None).
ProgressFn = Callable[[int, int, "dict[str, Any] | None"], None]
#: Model-string prefixes whose backends can run one model per thread in parallel.
PARALLEL_PREFIXES = ("fake", "openai")


class RunMismatchError(CitewiseError):
    """The output directory holds a run of another model, prompt version or check mode."""


class Pipeline(Protocol):
    model_name: str
    prompt_version: str

    def ids_by_title_key(self) -> dict[str, str]: ...

    def observe(self, q: EvalQuestion) -> Observation: ...


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class EnginePipeline:
    """Answers questions with the answer engine + faithfulness check (fast unless told), and scores key points."""

    def __init__(
        self,
        settings: Settings,
        retriever: Retriever | None = None,
        judge_model: str | None = None,
        label_mode: str = "answer",
        check_mode: str = "fast",
    ) -> None:
        """``label_mode`` applies to questions with an expected yes/no/maybe label (PubMedQA):
        ``answer`` labels the full cited answer, ``direct`` decides in one short call
        (:func:`agent.evaluation.pubmedqa.decide_label`); rows then record that prompt's version. ``check_mode``:
        how each answer is checked (fast or thorough); key points are scored in fast mode either way."""
        from agent.evaluation.pubmedqa import DECIDE_PROMPT, LABEL_MODES
        from agent.faithfulness.answers import checker_for
        from agent.prompts import load_prompt
        from agent.retrieval import open_retriever

        if label_mode not in LABEL_MODES:
            raise ValueError(f"unknown label mode {label_mode!r} (use {' or '.join(LABEL_MODES)})")
        self.settings = settings
        self.retriever = retriever or open_retriever(settings)
        self.model_name = settings.llm.model
        self.label_mode = label_mode
        self.check_mode = check_mode
        answer_prompt = "quotes" if settings.answer.pipeline == "quotes" else "answer"
        self.prompt_version = load_prompt(DECIDE_PROMPT if label_mode == "direct" else answer_prompt).version
        self.serialize = not self.model_name.strip().lower().startswith(PARALLEL_PREFIXES)
        self.keypoints = KeyPointScorer(checker_for(settings, "fast"))
        self.judge_model = judge_model
        self._judge = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._shared = None

    def preload(self) -> None:
        """Load the answering (and judge) model now, so a bad model string fails before the run starts."""
        self._engine().model()
        if self.judge_model:
            self._judge_llm()

    def ids_by_title_key(self) -> dict[str, str]:
        from agent.ingest.normalize import title_key

        return {title_key(p.title): pid for pid, p in self.retriever.papers.items()}

    def _engine(self):
        from agent.chain import AnswerEngine, faithfulness_hook

        def make():
            return AnswerEngine(self.settings, retriever=self.retriever, hooks=[faithfulness_hook(self.settings, self.check_mode)])

        if self.serialize:
            with self._lock:
                if self._shared is None:
                    self._shared = make()
                return self._shared
        if getattr(self._local, "engine", None) is None:
            self._local.engine = make()
        return self._local.engine

    def _judge_llm(self):
        from agent.llm import load_llm

        with self._lock:
            if self._judge is None and self.judge_model:
                self._judge = load_llm(self.judge_model, self.settings)
        return self._judge

    def observe(self, q: EvalQuestion) -> Observation:
        from agent.chain import DoneEvent, RetrievalEvent

        engine = self._engine()
        plan = answer = None
        label = reply = None
        if q.expected_label is not None and self.label_mode == "direct":
            from agent.evaluation.pubmedqa import decide_label

            with self._lock if self.serialize else contextlib.nullcontext():
                decision = decide_label(engine, q.question)
            ranking = [h.paper.id for h in self.retriever.search(decision.plan.retrieval_query, max(RECALL_DEPTHS))]
            return Observation(answer=decision.answer, ranking=ranking, label=decision.label, label_reply=decision.reply)
        with self._lock if self.serialize else contextlib.nullcontext():
            for event in engine.stream(q.question):
                if isinstance(event, RetrievalEvent):
                    plan = event.plan
                elif isinstance(event, DoneEvent):
                    answer = event.answer
            if answer is None or plan is None:  # pragma: no cover - the engine always finishes
                raise RuntimeError("answer stream ended without a result")
            if q.expected_label is not None:
                label, reply = self._label(engine, q, answer)
        ranking = [h.paper.id for h in self.retriever.search(plan.retrieval_query, max(RECALL_DEPTHS))]
        prose = answer_prose(answer)
        # Key points are judged on the substantive sentences only: a re-listed title covers none.
        claims = " ".join(substantive_sentences(answer))
        key_points = None
        if q.key_points and q.answerable:
            if answer.refused:
                key_points = [{"text": k, "covered": False, "score": 0.0} for k in q.key_points]
            else:
                key_points = self.keypoints.score(q.key_points, claims)
        judge = None
        if self.judge_model and q.key_points and q.answerable:
            from agent.evaluation.judge import judge_key_points

            judge = judge_key_points(self._judge_llm(), q.question, prose, q.key_points)
        return Observation(answer=answer, ranking=ranking, key_points=key_points, judge=judge, label=label, label_reply=reply)

    def _label(self, engine, q: EvalQuestion, answer) -> tuple[str | None, str]:
        """Map the answer to yes / no / maybe with prompts/pubmedqa.toml (tokens added to the answer's)."""
        from agent.prompts import load_prompt

        prompt = load_prompt("pubmedqa")
        llm = engine.model()
        reply = llm.complete(prompt.render(question=q.question, answer=answer_prose(answer)), max_tokens=8)
        answer.tokens_in += llm.last_usage.tokens_in
        answer.tokens_out += llm.last_usage.tokens_out
        return parse_label(reply), reply


def build_row(q: EvalQuestion, gold: Gold, obs: Observation, pipeline: Pipeline) -> dict[str, Any]:
    """The results.jsonl row of an answered question."""
    a = obs.answer
    row: dict[str, Any] = _base_row(q, gold, pipeline)
    row.update(
        {
            "status": "ok",
            "model": a.model or pipeline.model_name,
            "prompt_version": a.prompt_version or pipeline.prompt_version,
            "answer": a.answer,
            "refused": a.refused,
            "engine_type": a.question_type,
            "citations": [c.model_dump() for c in a.citations],
            "retrieved": [c.model_dump() for c in a.retrieved],
            "ranking": obs.ranking,
            "sentences": [
                {k: s.model_dump()[k] for k in ("text", "citations", "supported", "score", "reason")} for s in a.sentences
            ],
            "faithfulness": a.faithfulness.model_dump() if a.faithfulness else None,
            "withheld_sentences": [
                {k: s.model_dump()[k] for k in ("text", "citations", "supported", "score", "reason")} for s in a.withheld_sentences
            ],
            "screened_evidence": [e.model_dump() for e in a.screened_evidence],
            # each candidate's screening decision and P: why a question was refused or a paper left out
            "screened": [s.model_dump() for s in a.screened],
            "key_points": obs.key_points or [],
            "judge": obs.judge,
            "predicted_label": obs.label,
            "label_reply": obs.label_reply,
            "metrics": question_metrics(q, gold, obs),
            "timings": a.timings.model_dump(),
            "step_seconds": a.step_seconds,
            "tokens": {"in": a.tokens_in, "out": a.tokens_out},
        }
    )
    return row


def _base_row(q: EvalQuestion, gold: Gold, pipeline: Pipeline) -> dict[str, Any]:
    return {
        "qid": q.qid,
        "type": q.type,
        "question": q.question,
        "status": "error",
        "error": None,
        "model": pipeline.model_name,
        "prompt_version": pipeline.prompt_version,
        "gold_ids": sorted(gold.ids),
        "borderline_ids": sorted(gold.borderline),
        "gold_unresolved": gold.unresolved,
        "expected_label": q.expected_label,
        "finished_at": _now(),
    }


def error_row(q: EvalQuestion, gold: Gold, exc: BaseException, pipeline: Pipeline) -> dict[str, Any]:
    row = _base_row(q, gold, pipeline)
    row.update({"error": f"{type(exc).__name__}: {exc}", "answer": None, "metrics": empty_metrics()})
    return row


@dataclass
class RunOutcome:
    out_dir: Path
    selected: int  # questions in this invocation's set (after --limit)
    already_done: int  # skipped because a row existed
    ran: int  # rows written by this invocation
    errors: int  # error rows among those written now
    interrupted: bool
    summary: dict[str, Any] = field(default_factory=dict)
    report_error: str | None = None


def _execute(
    todo: Sequence[EvalQuestion], work: Callable[[EvalQuestion], dict[str, Any]], workers: int, on_row: Callable[[dict[str, Any]], None]
) -> None:
    """Run ``work`` over ``todo``; ``on_row`` is always called on the calling thread."""
    if workers <= 1 or len(todo) <= 1:
        for q in todo:
            on_row(work(q))
        return
    inbox: queue.Queue[EvalQuestion] = queue.Queue()
    outbox: queue.Queue[dict[str, Any] | BaseException] = queue.Queue()
    for q in todo:
        inbox.put(q)

    def drain() -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                inbox.get_nowait()  # workers stop after their current question

    def loop() -> None:
        while True:
            try:
                q = inbox.get_nowait()
            except queue.Empty:
                return
            try:
                outbox.put(work(q))
            except BaseException as exc:  # noqa: BLE001 - e.g. KeyboardInterrupt raised inside a worker
                drain()
                outbox.put(exc)
                return

    # Daemon threads: after Ctrl-C the process exits without waiting for answers in flight.
    threads = [threading.Thread(target=loop, daemon=True, name=f"eval-{i}") for i in range(min(workers, len(todo)))]
    for t in threads:
        t.start()
    remaining = len(todo)
    aborted: BaseException | None = None
    try:
        while remaining:
            try:
                item = outbox.get(timeout=0.2)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and outbox.empty():
                    break
                continue
            if isinstance(item, BaseException):
                aborted = aborted or item  # keep writing what the other workers finish
                continue
            on_row(item)
            remaining -= 1
    finally:
        drain()
    if aborted is not None:
        raise KeyboardInterrupt from aborted


def _check_meta(out_dir: Path, meta: dict[str, Any], has_rows: bool) -> dict[str, Any]:
    path = out_dir / RUN_META
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if has_rows:
            for key in ("model", "prompt_version", "check"):
                if old.get(key) and key in meta and old.get(key) != meta[key]:
                    raise RunMismatchError(
                        f"{out_dir} holds a run with {key} {old[key]!r}, not {meta[key]!r}: "
                        "use another --out directory (or delete this one) so that runs stay comparable"
                    )
        meta = {**old, **meta, "created": old.get("created", meta["created"])}
    return meta


def run_eval(
    questions: Sequence[EvalQuestion],
    pipeline: Pipeline,
    out_dir: Path,
    *,
    source: str = "",
    workers: int = 1,
    limit: int | None = None,
    retry_errors: bool = False,
    problems: Sequence[str] = (),
    progress: ProgressFn | None = None,
    meta_extra: dict[str, Any] | None = None,
    report: bool = True,
) -> RunOutcome:
    """Evaluate ``questions`` into ``out_dir`` (resuming a previous run there); see the module docstring."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = ResultsFile(out_dir)
    existing = latest_rows(results.load())
    selected = list(questions[:limit] if limit else questions)
    meta = {
        "source": source,
        "model": pipeline.model_name,
        "prompt_version": pipeline.prompt_version,
        "created": _now(),
        "updated": _now(),
        "questions": len(selected),
        "workers": workers,
        **(meta_extra or {}),
    }
    meta = _check_meta(out_dir, meta, bool(existing))
    write_json(out_dir / RUN_META, meta)

    skip = {r["qid"] for r in existing if r.get("status") == "ok" or not retry_errors}
    todo = [q for q in selected if q.qid not in skip]
    outcome = RunOutcome(out_dir, len(selected), len(selected) - len(todo), 0, 0, False)
    id_map = pipeline.ids_by_title_key()

    def work(q: EvalQuestion) -> dict[str, Any]:
        gold = resolve_gold(q, id_map)
        try:
            return build_row(q, gold, pipeline.observe(q), pipeline)
        except Exception as exc:  # one failing question must not end the run
            return error_row(q, gold, exc, pipeline)

    def on_row(row: dict[str, Any]) -> None:
        results.append(row)
        outcome.ran += 1
        outcome.errors += row["status"] != "ok"
        if progress:
            progress(outcome.ran, len(todo), row)

    if progress:
        progress(0, len(todo), None)
    try:
        _execute(todo, work, workers, on_row)
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        wanted = {q.qid for q in selected}
        rows = [r for r in latest_rows(results.load()) if r["qid"] in wanted]
        meta["updated"] = _now()
        meta["complete"] = len(rows) == len(selected) and not outcome.interrupted
        outcome.summary = summarize(rows, meta, list(problems))
        write_json(out_dir / SUMMARY, outcome.summary)
        write_json(out_dir / RUN_META, meta)
        if report:
            try:
                from agent.evaluation.report import write_report

                write_report(out_dir / REPORT, rows, outcome.summary)
            except Exception as exc:  # a broken chart must not lose the run
                outcome.report_error = f"{type(exc).__name__}: {exc}"
    return outcome
