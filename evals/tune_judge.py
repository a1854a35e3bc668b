"""Choose the thorough-mode judge thresholds on the development sets, offline.

Reads the per-claim details that ``bench_faithfulness.py --json-out`` writes
for a run with ``--modes fast,thorough --judge-rescue-min 0
--judge-rescue-kinds alignment,negation,quantifier`` (so that the judge is
asked about every supported claim AND every claim flagged only by those
checks), and replays the checker's judge rule for every combination
of

* ``judge_threshold``  - P(YES) below it flags a supported claim,
* ``judge_rescue_min`` - P(YES) at or above it accepts a weakly aligned claim,
* ``judge_max_base``   - a flag counts only for claims whose base score is at most this,
* ``judge_rescue_kinds`` - the fast-mode issue kinds a rescue may overrule,

printing balanced accuracy per set and the best combinations on the pooled
sets. The rule replayed is the checker's own
:func:`agent.faithfulness.checker.judge_ruling`; a test checks the replay
against full thorough-mode runs. Use development sets only: the held-out figures are
reported with the chosen values, never used to choose them.

``--stack HELDOUT.json`` instead fits a learned combination (logistic
P(claim supported) over the judge's logit P(YES), the base score, the fast
verdict and the soft checks, from answer labels) on DETAILS and reports it
beside the shipped rule on both files. Measured on the shared training side
and dev sets (464 cases) vs the held-out side (368): 0.726 vs 0.723 tuning,
0.628 vs 0.639 held-out, so the rule stays.

    python evals/bench_faithfulness.py --sets dev,dev2 --modes fast,thorough --judge-rescue-min 0 \\
        --judge-rescue-kinds alignment,negation,quantifier --judge-cache runs/judge-cache-1p5b.json --json-out runs/judge-dev.json
    python evals/tune_judge.py runs/judge-dev.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.faithfulness.checker import CheckerConfig, judge_ruling  # noqa: E402

THRESHOLDS = [0.0, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5]
RESCUES = [1.01, 0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
MAX_BASES = [1.0, 0.9, 0.8, 0.7, 0.6]
RESCUE_KINDS = [("alignment",), ("alignment", "negation"), ("alignment", "quantifier"), ("alignment", "negation", "quantifier")]


def claim_supported(claim: dict, p_yes: float | None, config: CheckerConfig) -> bool:
    """The checker's judge rule (:func:`judge_ruling`) for one claim, from its fast-mode record and P(YES)."""
    ruling = judge_ruling(claim["supported"], claim["base"], claim["issues"], p_yes, config)
    return claim["supported"] if ruling is None else ruling


def load(path: Path) -> dict[str, list[tuple[str, list[dict], list[float | None]]]]:
    """Per set (by cid prefix): (label, fast claim records, judge P(YES) per claim) for every answer."""
    details = json.loads(path.read_text())["details"]
    fast = {d["cid"]: d for d in details if d["mode"] == "fast"}
    thorough = {d["cid"]: d for d in details if d["mode"] == "thorough"}
    sets: dict[str, list] = defaultdict(list)
    for cid, f in fast.items():
        t = thorough.get(cid)
        if t is None:
            continue
        if [c["claim"] for c in t["claims"]] != [c["claim"] for c in f["claims"]]:
            raise SystemExit(f"{cid}: fast and thorough claims differ")
        sets[set_of(cid)].append((f["label"], f["claims"], [c["judge"] for c in t["claims"]]))
    return sets


def set_of(cid: str) -> str:
    """The set a case id belongs to: a shared source's cases are "<source>-<i>", the team's "fh001" etc. by prefix."""
    head, _, tail = cid.rpartition("-")
    return head if head and tail.isdigit() else cid[:2]


def parse_config(text: str) -> tuple[float, float, float, tuple[str, ...]]:
    """``THRESHOLD,RESCUE_MIN[,KINDS[,MAX_BASE]]`` with KINDS joined by '+', e.g. ``0.208,0.208,alignment+negation+quantifier``."""
    parts = text.split(",")
    if len(parts) < 2:
        raise argparse.ArgumentTypeError(f"{text!r}: expected THRESHOLD,RESCUE_MIN[,KINDS[,MAX_BASE]]")
    kinds = tuple(k for k in (parts[2] if len(parts) > 2 else "alignment").split("+") if k)
    return float(parts[0]), float(parts[1]), float(parts[3]) if len(parts) > 3 else 1.0, kinds


def balanced_accuracy(
    cases: list, threshold: float, rescue: float, max_base: float, kinds: tuple[str, ...] = ("alignment",)
) -> float:
    cfg = CheckerConfig(
        judge_threshold=threshold, judge_rescue_min=rescue, judge_max_base=max_base, judge_rescue_kinds=kinds
    )
    hits: dict[str, list[bool]] = {"faithful": [], "unfaithful": []}
    for label, claims, probs in cases:
        faithful = all(claim_supported(c, p, cfg) for c, p in zip(claims, probs))
        hits[label].append(faithful == (label == "faithful"))
    rates = [sum(v) / len(v) for v in hits.values() if v]
    return sum(rates) / len(rates)


#: Soft rule checks the stacked judge sees as features (hard checks are never overruled, so never asked).
STACK_KINDS = ("alignment", "negation", "quantifier")


def _stack_rows(cases: list) -> list[tuple[bool, bool, list[list[float]]]]:
    """(faithful?, no claim flagged outside the judge's reach?, one feature row per judged claim) per answer."""
    import math

    out = []
    for label, claims, probs in cases:
        fixed = all(c["supported"] for c, p in zip(claims, probs) if p is None)
        rows = []
        for c, p in zip(claims, probs):
            if p is None:
                continue
            q = min(max(float(p), 1e-4), 1 - 1e-4)
            rows.append([1.0, math.log(q / (1 - q)), c["base"], float(c["supported"]), *(float(k in c["issues"]) for k in STACK_KINDS)])
        out.append((label == "faithful", fixed, rows))
    return out


def fit_stack(cases: list, l2: float = 0.1):
    """Logistic P(claim supported) over the judge's logit, the base score, the fast verdict and the soft
    checks, fitted on answer labels: an answer is faithful when all its claims are (noisy AND)."""
    import numpy as np
    from scipy.optimize import minimize

    rows = [(y, np.array(x)) for y, fixed, x in _stack_rows(cases) if fixed and x]

    def nll(w):
        total = 0.0
        for y, x in rows:
            log_all = float(-np.logaddexp(0, -(x @ w)).sum())
            total -= log_all if y else np.log(max(-np.expm1(log_all), 1e-9))
        return total + l2 * float(np.sum(w[1:] ** 2))

    return minimize(nll, np.zeros(4 + len(STACK_KINDS)), method="L-BFGS-B").x


def stack_accuracy(cases: list, w, threshold: float) -> float:
    import numpy as np

    hits: dict[bool, list[bool]] = {True: [], False: []}
    for y, fixed, x in _stack_rows(cases):
        faithful = fixed and (not x or float((1 / (1 + np.exp(-(np.array(x) @ w)))).min()) >= threshold)
        hits[y].append(faithful == y)
    rates = [sum(v) / len(v) for v in hits.values() if v]
    return sum(rates) / len(rates)


def stack_report(sets: dict, heldout: dict) -> None:
    """Fit the stacked judge on ``sets`` (the tuning side), pick its threshold there, and print both sides per
    set next to the shipped rule: a measurement of whether learning the combination beats the rule."""
    shipped = CheckerConfig()
    rule = (shipped.judge_threshold, shipped.judge_rescue_min, shipped.judge_max_base, shipped.judge_rescue_kinds)
    pooled = [c for cases in sets.values() for c in cases]
    w = fit_stack(pooled)
    t = max((round(0.05 * i, 2) for i in range(1, 20)), key=lambda t: stack_accuracy(pooled, w, t))
    print(f"\nstacked judge: weights (bias, logit P(YES), base, fast supported, {', '.join(STACK_KINDS)}) "
          f"{', '.join(f'{x:.3f}' for x in w)}; threshold {t} (tuning side)")
    for side, data in (("tuning", sets), ("held-out", heldout)):
        names = sorted(data)
        every = [c for n in names for c in data[n]]
        print(f"\n{side} | pooled ({len(every)}) | " + " | ".join(f"{n} ({len(data[n])})" for n in names) + " |")
        print("|---" * (2 + len(names)) + "|")
        print(f"| shipped rule | {balanced_accuracy(every, *rule):.3f} | "
              + " | ".join(f"{balanced_accuracy(data[n], *rule):.3f}" for n in names) + " |")
        print(f"| stacked | {stack_accuracy(every, w, t):.3f} | " + " | ".join(f"{stack_accuracy(data[n], w, t):.3f}" for n in names) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("details", type=Path, help="bench_faithfulness.py --json-out file (fast + thorough modes)")
    ap.add_argument("--top", type=int, default=10, help="combinations to print")
    ap.add_argument(
        "--replay", type=parse_config, action="append", default=[], metavar="T,R[,KINDS[,B]]",
        help="only report these configurations (chosen elsewhere, e.g. on train-side pairs) per set, instead "
        "of searching the grid: judge_threshold, judge_rescue_min, kinds joined by '+', judge_max_base",
    )
    ap.add_argument(
        "--stack", type=Path, metavar="HELDOUT.json",
        help="fit a stacked judge (logistic over P(YES) and the rule signals) on DETAILS, report it and the shipped "
        "rule on DETAILS and on this held-out --json-out file",
    )
    args = ap.parse_args(argv)
    sets = load(args.details)
    if args.stack:
        stack_report(sets, load(args.stack))
        return 0
    pooled = [c for cases in sets.values() for c in cases]
    names = sorted(sets)
    print(f"sets: {', '.join(f'{n} ({len(sets[n])})' for n in names)}; pooled {len(pooled)}")
    fast_only = balanced_accuracy(pooled, 0.0, 1.01, 1.0)
    print(f"fast mode (judge never overrules): pooled balanced accuracy {fast_only:.3f}")
    if args.replay:
        print("\n| configuration | pooled | " + " | ".join(names) + " |\n" + "|---" * (2 + len(names)) + "|")
        rows = [("fast (no judge)", 0.0, 1.01, 1.0, ("alignment",))]
        rows += [(f"t={t} rescue={r} kinds={'+'.join(k)} max_base={b}", t, r, b, k) for t, r, b, k in args.replay]
        for name, t, r, b, k in rows:
            cells = " | ".join(f"{balanced_accuracy(sets[n], t, r, b, k):.3f}" for n in names)
            print(f"| {name} | {balanced_accuracy(pooled, t, r, b, k):.3f} | {cells} |")
        return 0
    rows = []
    for t, r, b, k in itertools.product(THRESHOLDS, RESCUES, MAX_BASES, RESCUE_KINDS):
        if r > 1 and k != RESCUE_KINDS[0]:
            continue  # kinds do not matter when rescue is off
        per_set = [balanced_accuracy(sets[n], t, r, b, k) for n in names]
        rows.append((balanced_accuracy(pooled, t, r, b, k), min(per_set), t, r, b, k, per_set))
    # ties: the least intervention (lowest threshold, strictest rescue, fewest kinds, no base limit)
    rows.sort(key=lambda x: (-x[0], -x[1], x[2], -x[3], len(x[5]), -x[4]))
    head = "| pooled | worst set | judge_threshold | judge_rescue_min | judge_rescue_kinds | judge_max_base | "
    head += " | ".join(names) + " |"
    print("\n" + head + "\n" + "|---" * (6 + len(names)) + "|")
    for pooled_acc, worst, t, r, b, k, per_set in rows[: args.top]:
        cells = " | ".join(f"{x:.3f}" for x in per_set)
        print(f"| {pooled_acc:.3f} | {worst:.3f} | {t} | {'off' if r > 1 else r} | {','.join(k)} | {b} | {cells} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
