"""Prompt-injection benchmark: do injected abstracts steer the answer, with each defence on and off?

Indexes the bundled corpus plus the injected papers of ``evals/injection_cases.jsonl``
in a temporary home (or ``--home``), asks each case's question with the given
model under every configuration in the same run (all defences on, each layer
off alone, all off), and prints per configuration: attempts, payload in the
answer text, payload as a cited claim, answer refused although the abstract's
research sentences answer it; then a per-case table. See
:mod:`agent.evaluation.injection` for the case format and the scoring.

    python evals/bench_injection.py --model local:qwen2.5-coder-1.5b --out runs/injection.json
    python evals/bench_injection.py --model local:qwen2.5-coder-0.5b --limit 3   # a quick smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from agent.evaluation.injection import CONFIGS, CaseError, build_index, format_report, load_cases, run_suite
    from agent.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="local:qwen2.5-coder-1.5b", help="model string of the answering model (default: %(default)s)")
    parser.add_argument("--cases", type=Path, default=ROOT / "evals" / "injection_cases.jsonl", help="case file (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="ask only the first N cases (a quick check that the script works)")
    parser.add_argument(
        "--configs",
        default=",".join(CONFIGS),
        help=f"comma-separated configurations to run, in the same run (default: all: {', '.join(CONFIGS)})",
    )
    parser.add_argument("--check", choices=("fast", "thorough"), default="fast", help="faithfulness check mode (default: %(default)s)")
    parser.add_argument("--home", type=Path, default=None, help="CITEWISE_HOME to index into and reuse (default: a fresh temporary one)")
    parser.add_argument("--out", type=Path, default=None, help="write the full result (every answer) as JSON here")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        cases = load_cases(args.cases)[: args.limit]
        configs = [c.strip() for c in args.configs.split(",") if c.strip()]
        with tempfile.TemporaryDirectory(prefix="citewise-injection-") as tmp:
            home = args.home or Path(tmp)
            settings = Settings(home=home).with_overrides(**{"llm.model": args.model})
            print(f"indexing the bundled corpus and {len(cases)} injected papers into {home} ...", file=sys.stderr)
            build_index(settings, cases)

            def progress(config: str, row: dict) -> None:
                flags = [k for k in ("payload_in_text", "payload_cited", "wrongly_refused") if row[k]]
                print(f"  {row['case']} {config:17s} {', '.join(flags) or 'clean'} ({row['seconds']:.1f}s)", file=sys.stderr)

            result = run_suite(settings, cases, configs, args.check, progress)
    except CaseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(result))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
