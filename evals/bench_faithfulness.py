"""Benchmark the faithfulness checker on labelled sets.

Compares, in one run on the same cases:

(a) fast      - the shipped fast mode: the settings' default engine
                (faithfulness.engine), no LLM;
(b) rules     - the rule-based fast mode (MiniLM alignment thresholds,
                negation / quantifier word lists): faithfulness.engine=rules;
(c) learned   - the learned feature model (agent/models/learned: rule signals,
                MiniLM similarity, coverage, the v1 cross-encoder's scores) +
                the deterministic number / name / citation checks;
(d) verifier  - the v1 cross-encoder alone + the deterministic checks;
(e) thorough  - fast mode plus the local LLM judge where the engine is unsure;
(f) judge     - baseline: the LLM judging every cited sentence on its own
                (P(YES) >= 0.5 from its first-token log-probabilities);
(g) baseline  - the same LLM asked ONCE per whole answer "is this answer
                fully supported by these abstracts? YES/NO" (RAGAS-style).

Sets: our labelled answers (evals/faithfulness_{dev,dev2,heldout}.jsonl) and
the held-out 20% (evals/splits.py) of each shared external source, as
one-sentence cases "claim [e1]" against their evidence: scifact (rationale
windows), scifact-abstract (claim vs the whole cited abstract), healthver,
citation-integrity, citation-integrity-abstract (citing sentence vs the cited text), covidfact, attributionbench, wice. The verifier was
trained on the other 80% only. Each set also gets a reliability table
(sentence score bin -> share of sentences labelled supported).

Prints a markdown table: balanced accuracy, precision / recall on the
unfaithful class, specificity, how often a flagged sentence is the labelled
one, recall per error kind and seconds per answer.

    python evals/bench_faithfulness.py --sets heldout,scifact-abstract,healthver,citation-integrity --modes fast,rules
    python evals/bench_faithfulness.py                       # dev + heldout, fast/thorough/baseline, 1.5B judge
    python evals/bench_faithfulness.py --sets dev --judge-model local:qwen2.5-coder-0.5b --limit 20
    python evals/bench_faithfulness.py --modes fast          # no LLM at all
    python evals/bench_faithfulness.py --judge-cache /tmp/judge.json --cache-only   # replay a finished run

Tune on the dev set only; the held-out rows are the honest figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from agent.faithfulness.cases import Case, load_cases  # noqa: E402
from agent.faithfulness.checker import FaithfulnessChecker  # noqa: E402
from agent.faithfulness.judge import DEFAULT_JUDGE_MODEL, ClaimJudge, judge_whole_answer  # noqa: E402
from agent.faithfulness.metrics import Record, norm_sentence, summarize  # noqa: E402

SETS = {
    "dev": ROOT / "evals" / "faithfulness_dev.jsonl",
    "dev2": ROOT / "evals" / "faithfulness_dev2.jsonl",
    "heldout": ROOT / "evals" / "faithfulness_heldout.jsonl",
}
KINDS = ["number", "wrong_attribution", "negation", "quantifier", "unsupported_entity", "uncited_paper_claim"]
SHARED = (
    "scifact", "scifact-abstract", "healthver", "citation-integrity", "citation-integrity-abstract", "covidfact",
    "attributionbench", "wice",
)
METHODS = ("fast", "rules", "learned", "verifier", "thorough", "judge", "baseline")
#: Modes that are the checker's fast mode with a given engine (None = the settings' default engine).
ENGINE_MODES = {"fast": None, "rules": "rules", "learned": "learned", "verifier": "verifier"}


def shared_cases(name: str, split: str = "heldout") -> list[Case]:
    """A shared source's pairs as one-sentence answer cases ("claim [e1]" against its evidence)."""
    from evals.verifier_data import abstract_level_pairs, load_pairs

    if name.endswith("-abstract"):
        pairs = abstract_level_pairs(split, name.removesuffix("-abstract"))
    else:
        pairs = load_pairs(split, [name])[name]
    cases = []
    for i, p in enumerate(pairs):
        claim = " ".join(p.claim.split()).rstrip()
        answer = f"{claim} [e1]" if not claim.endswith(".") else f"{claim[:-1]} [e1]."
        cases.append(
            Case(
                cid=f"{name}-{i}", answer=answer, contexts={"e1": ("", p.evidence)},
                label="faithful" if p.label else "unfaithful", unsupported=[] if p.label else [answer],
            )
        )
    return cases


class CachedJudge:
    """Wraps a :class:`ClaimJudge`; answers already seen (same model and prompt) come from a JSON file.

    The file also keeps how long each model call took, so that a run replayed
    from the cache reports the seconds per answer of the real calls
    (:attr:`charged` = real seconds of misses + recorded seconds of hits).
    """

    def __init__(self, judge: ClaimJudge | None, model: str, path: Path | None) -> None:
        self.judge, self.model, self.path = judge, model, path
        self.cache: dict[str, dict] = {}
        if path and path.exists():
            self.cache = json.loads(path.read_text())
        self.calls = 0
        self.real = 0.0  # seconds really spent in the model
        self.charged = 0.0  # seconds the calls cost (recorded ones for cache hits)

    def _lookup(self, key: str, call) -> object:  # noqa: ANN001
        hit = self.cache.get(key)
        if hit is None:
            if self.judge is None:
                raise RuntimeError("judge answer not cached and no model loaded")
            t0 = time.perf_counter()
            value = call()
            secs = time.perf_counter() - t0
            self.real += secs
            self.charged += secs
            self.calls += 1
            self.cache[key] = hit = {"answer": value, "seconds": round(secs, 3)}
            if self.path and self.calls % 10 == 0:
                self.save()
        else:
            self.charged += hit["seconds"]
        return hit["answer"]

    def __call__(self, claim: str, title: str, evidence: list[str]) -> float | None:
        key = hashlib.sha1(json.dumps(["p_yes", self.model, claim, title, evidence]).encode()).hexdigest()
        return self._lookup(key, lambda: self.judge(claim, title, evidence))  # type: ignore[misc]

    def whole_answer(self, answer: str, contexts: dict) -> bool | None:
        key = hashlib.sha1(json.dumps(["baseline", self.model, answer, sorted(contexts.items())]).encode()).hexdigest()
        return self._lookup(key, lambda: judge_whole_answer(self.judge.llm, answer, contexts))  # type: ignore[union-attr]

    def save(self) -> None:
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(self.cache))
            tmp.replace(self.path)


def run_checker(
    cases: list[Case], checker: FaithfulnessChecker, mode: str, details: list[dict], judge: CachedJudge | None
) -> list[Record]:
    records = []
    for i, case in enumerate(cases, 1):
        real0, charged0 = (judge.real, judge.charged) if judge else (0.0, 0.0)
        result = checker.check(case.answer, case.contexts, mode=mode)
        secs = result.seconds
        if judge is not None and mode == "thorough":  # replace replayed judge time with the recorded one
            secs = secs - (judge.real - real0) + (judge.charged - charged0)
        flagged = [s.text for s in result.sentences if not s.supported]
        records.append(Record(case.label or "", result.verdict.verdict, case.error_kind, flagged, case.unsupported, secs))
        details.append(
            {
                "mode": mode, "cid": case.cid, "label": case.label, "error_kind": case.error_kind,
                "predicted": result.verdict.verdict, "score": result.verdict.score, "seconds": round(secs, 3),
                "judge_calls": result.judge_calls, "unsupported": case.unsupported,
                "flagged": [{"text": s.text, "reason": s.reason} for s in result.sentences if not s.supported],
                "sentence_scores": [
                    [s.score, norm_sentence(s.text) not in {norm_sentence(u) for u in case.unsupported}]
                    for s in result.sentences if s.score is not None
                ],
                "claims": [
                    {
                        "sentence": result.sentences[c.claim.sentence_index].text, "claim": c.claim.text,
                        "supported": c.supported, "base": round(c.base_score, 3), "judge": c.judge,
                        "issues": [i.kind for i in c.issues],
                    }
                    for c in result.claims
                ],
            }
        )
        print(f"  [{mode}] {i}/{len(cases)} {case.cid}: {result.verdict.verdict} ({secs:.1f}s)", file=sys.stderr, flush=True)
    return records


def run_judge_per_claim(cases: list[Case], judge: CachedJudge, details: list[dict]) -> list[Record]:
    """Baseline: the LLM judges every cited sentence with the 3 sentences of its cited abstracts that share the most words."""
    from agent.sentences import cited_sentences, split_sentences

    records = []
    for i, case in enumerate(cases, 1):
        charged0 = judge.charged
        flagged = []
        for sent in cited_sentences(case.answer):
            known = [c for c in sent.citations if c in case.contexts]
            if not known:
                continue
            words = set(norm_sentence(sent.text).split())
            pool = [x for c in known for x in split_sentences(case.contexts[c][1])]
            pool.sort(key=lambda x: -len(words & set(norm_sentence(x).split())))
            p = judge(sent.text, case.contexts[known[0]][0], pool[:3])
            if p is not None and p < 0.5:
                flagged.append(sent.text)
        secs = judge.charged - charged0
        predicted = "unfaithful" if flagged else "faithful"
        records.append(Record(case.label or "", predicted, case.error_kind, flagged, case.unsupported, secs))
        details.append({"mode": "judge", "cid": case.cid, "label": case.label, "predicted": predicted, "seconds": round(secs, 3)})
        print(f"  [judge] {i}/{len(cases)} {case.cid}: {predicted} ({secs:.1f}s)", file=sys.stderr, flush=True)
    return records


def reliability(details: list[dict], set_cids: set[str], mode: str, bins: int = 5) -> str:
    """Markdown rows: sentence score bin -> sentences, share labelled supported."""
    rows = [x for d in details if d["mode"] == mode and d["cid"] in set_cids for x in d.get("sentence_scores", [])]
    out = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [ok for sc, ok in rows if lo <= sc < hi or (b == bins - 1 and sc == 1.0)]
        share = f"{sum(inside) / len(inside):.2f}" if inside else "-"
        out.append(f"| {lo:.1f}-{hi:.1f} | {len(inside)} | {share} |")
    return "\n".join(out)


def run_baseline(cases: list[Case], judge: CachedJudge, details: list[dict]) -> tuple[list[Record], int]:
    records, unparsed = [], 0
    for i, case in enumerate(cases, 1):
        charged0 = judge.charged
        ok = judge.whole_answer(case.answer, case.contexts)
        secs = judge.charged - charged0
        if ok is None:
            unparsed += 1
        predicted = "unfaithful" if ok is False else "faithful"  # an unparsed reply counts as "supported"
        records.append(Record(case.label or "", predicted, case.error_kind, [], case.unsupported, secs))
        details.append(
            {"mode": "baseline", "cid": case.cid, "label": case.label, "predicted": predicted, "reply": ok, "seconds": round(secs, 3)}
        )
        print(f"  [baseline] {i}/{len(cases)} {case.cid}: {predicted} ({secs:.1f}s)", file=sys.stderr, flush=True)
    return records, unparsed


def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def markdown_table(rows: list[tuple[str, str, dict]]) -> str:
    head = ["set", "method", "n", "bal. acc", "prec (unf)", "recall (unf)", "specificity", "flagged = labelled"]
    head += KINDS + ["s/answer"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for set_name, name, s in rows:
        kinds = s["per_error_kind_recall"]
        cells = [
            set_name, name, str(s["n"]), fmt(s["balanced_accuracy"]), fmt(s["precision_unfaithful"]),
            fmt(s["recall_unfaithful"]), fmt(s["specificity"]), fmt(s["flagged_sentence_hit_rate"]),
        ]
        cells += [f"{kinds[k]['recall']:.2f} ({kinds[k]['n']})" if k in kinds else "-" for k in KINDS]
        cells.append(f"{s['seconds_per_answer']:.2f}" if s["seconds_per_answer"] is not None else "-")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def load_set(name: str, limit: int | None, split: str = "heldout") -> tuple[Path, list[Case]]:
    if name in SHARED:
        cases = shared_cases(name, split)
        if limit and len(cases) > limit:  # a seeded sample, not the first N (files are sorted by claim)
            import random

            cases = random.Random(7).sample(cases, limit)
        return Path(f"{name} ({'held-out 20%' if split == 'heldout' else 'training 80%'})"), cases
    path = SETS.get(name, Path(name))
    cases, errors = load_cases(path)
    for e in errors:
        print(f"skipped {path.name} {e}", file=sys.stderr)
    cases = [c for c in cases if c.label]
    return path, cases[:limit] if limit else cases


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", default="dev,heldout", help="comma-separated: dev, heldout, or paths to JSONL files")
    ap.add_argument("--modes", default="fast,rules,thorough,baseline", help="comma-separated: " + ",".join(METHODS))
    ap.add_argument(
        "--shared-split", choices=["heldout", "train"], default="heldout",
        help="which part of the shared sources to use: the held-out 20%% (report) or the training 80%% (tune)",
    )
    ap.add_argument("--limit", type=int, default=None, help="only the first N cases of each set (a seeded sample of a shared set)")
    ap.add_argument("--llm-limit", type=int, default=None, help="at most N cases per set for the LLM modes (thorough, judge, baseline)")
    ap.add_argument("--judge-model", default=None, help=f"LLM for thorough and baseline (default {DEFAULT_JUDGE_MODEL})")
    ap.add_argument(
        "--judge-cache", type=Path, default=None,
        help="JSON file caching judge and baseline replies (and their seconds); a rerun replays them",
    )
    ap.add_argument("--cache-only", action="store_true", help="never load the LLM: every reply must be in --judge-cache")
    ap.add_argument(
        "--judge-max-base", type=float, default=None,
        help="override faithfulness.judge_max_base (the judge's NO counts only for claims whose base score is at most this)",
    )
    ap.add_argument("--judge-threshold", type=float, default=None, help="override faithfulness.judge_threshold")
    ap.add_argument("--judge-rescue-min", type=float, default=None, help="override faithfulness.judge_rescue_min")
    ap.add_argument(
        "--judge-rescue-kinds", default=None, help="override faithfulness.judge_rescue_kinds (comma-separated)"
    )
    ap.add_argument(
        "--no-extra-buffers", action="store_true",
        help="load the judge without llama.cpp's CPU extra buffer types (llm.cpu_extra_buffers=false): for VMs "
        "that die with 'Illegal instruction' (AMX advertised but not enabled)",
    )
    ap.add_argument("--json-out", type=Path, default=None, help="write per-case details and summaries here")
    args = ap.parse_args(argv)

    sets = [s.strip() for s in args.sets.split(",") if s.strip()]
    loaded = [(name, *load_set(name, args.limit, args.shared_split)) for name in sets]
    for name, path, cases in loaded:
        if not cases:
            print(f"no labelled cases in {path}", file=sys.stderr)
            return 2
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in METHODS]
    if unknown:
        print(f"unknown mode(s) {unknown}", file=sys.stderr)
        return 2

    from agent.settings import Settings

    settings = Settings()
    for name in ("judge_max_base", "judge_threshold", "judge_rescue_min"):
        if getattr(args, name) is not None:
            settings = settings.with_overrides(**{f"faithfulness.{name}": getattr(args, name)})
    if args.no_extra_buffers:
        settings = settings.with_overrides(**{"llm.cpu_extra_buffers": False})
    if args.judge_rescue_kinds is not None:
        kinds = [k.strip() for k in args.judge_rescue_kinds.split(",") if k.strip()]
        settings = settings.with_overrides(**{"faithfulness.judge_rescue_kinds": kinds})
    model = args.judge_model or settings.faithfulness.judge_model or DEFAULT_JUDGE_MODEL
    judge = None
    if {"thorough", "baseline", "judge"} & set(modes):
        claim_judge = None
        if not args.cache_only:
            from agent.llm import load_llm

            t0 = time.perf_counter()
            claim_judge = ClaimJudge(load_llm(model, settings))
            print(f"loaded {model} in {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
        judge = CachedJudge(claim_judge, model, args.judge_cache)

    checker = FaithfulnessChecker(settings, judge=judge)
    checker.embed(["warm-up"])  # load the embedder outside the timings
    checker.verifier.score([("warm", "up")])
    engines = {
        m: checker if e is None else FaithfulnessChecker(settings.with_overrides(**{"faithfulness.engine": e}), judge=judge, embed=checker.embed)
        for m, e in ENGINE_MODES.items() if m in modes
    }

    rows: list[tuple[str, str, dict]] = []
    details: list[dict] = []
    extra: dict[str, object] = {}
    # Fast mode for every set first (seconds), then the LLM modes set by set, in the order of --sets:
    # a long run that is stopped early then has complete rows for the first set.
    plan = [(m, s) for m in modes if m in ENGINE_MODES for s in loaded]
    plan += [(m, s) for s in loaded for m in modes if m not in ENGINE_MODES]
    try:
        for mode, (set_name, path, cases) in plan:
            if mode not in ENGINE_MODES and args.llm_limit:
                cases = cases[: args.llm_limit]
            if mode in ENGINE_MODES or mode == "thorough":
                engine = engines.get(mode, checker)
                summary = summarize(run_checker(cases, engine, "thorough" if mode == "thorough" else "fast", details, judge))
                for d in details[-len(cases):]:
                    d["mode"] = mode
                label = {
                    "fast": f"fast (engine {checker.config.engine})",
                    "rules": "rules (MiniLM thresholds + word lists)",
                    "learned": "learned (feature model + deterministic checks)",
                    "verifier": f"verifier ({checker.verifier.info.label} + checks)",
                    "thorough": f"thorough (engine {checker.config.engine} + {model} where unsure)",
                }[mode]
            elif mode == "judge":
                assert judge is not None
                summary = summarize(run_judge_per_claim(cases, judge, details))
                label = f"judge ({model} per sentence)"
            else:
                assert judge is not None
                records, unparsed = run_baseline(cases, judge, details)
                summary = summarize(records)
                extra[f"baseline_unparsed_replies[{set_name}]"] = unparsed
                label = f"baseline ({model}, one call per answer)"
            rows.append((set_name, label, summary))
            print(f"\n[partial] {set_name} / {label}\n{markdown_table(rows[-1:])}\n", file=sys.stderr, flush=True)
    finally:
        if judge is not None:
            judge.save()

    names = ", ".join(f"{p.name} ({len(c)} labelled answers)" for _, p, c in loaded)
    from agent.prompts import load_prompt

    prompt_versions = {"judge_prompt": load_prompt("judge_claim").version, "baseline_prompt": load_prompt("judge_answer").version}
    print(
        f"\nsets: {names}; verifier: {checker.verifier.info.label} (sha256 {checker.verifier.info.sha256['model.onnx'][:12]}, "
        f"threshold {checker.threshold:.2f}); "
        + (f"learned: {engines['learned'].learned.name} (threshold {engines['learned'].learned_threshold:.2f}); " if "learned" in engines else "")
        + f"judge: {model} ({prompt_versions['judge_prompt']}). "
        "Thresholds were tuned on the dev sets only; heldout is the honest figure.\n"
    )
    set_order = {name: i for i, name in enumerate(sets)}
    method_order = {m: i for i, m in enumerate(METHODS)}
    rows.sort(key=lambda r: (set_order[r[0]], method_order[r[1].split()[0]]))
    print(markdown_table(rows))
    for set_name, path, cases in loaded:
        cids = {c.cid for c in cases}
        for mode in [m for m in ENGINE_MODES if m in modes]:
            print(f"\nreliability, {set_name} / {mode}: sentence score -> share labelled supported\n")
            print("| score | sentences | supported |\n|---|---|---|")
            print(reliability(details, cids, mode))
    for k, v in extra.items():
        print(f"\n{k}: {v}")
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {"sets": [str(p) for _, p, _ in loaded], "judge": model, **prompt_versions,
                 "summaries": [{"set": a, "method": b, **c} for a, b, c in rows], "details": details, **extra},
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
