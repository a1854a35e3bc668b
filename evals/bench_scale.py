"""Scale benchmark: N abstracts on a real `chroma run` server, searched by fresh client processes.

    python evals/bench_scale.py --n 10000 100000 [--needles 200] [--embed-sample 256] [--out runs/scale]

For each N: builds the corpus (:mod:`evals.scale_corpus`: real abstracts from ../shared/external, generated
variants, planted needles), starts `chroma run` on loopback, ingests with precomputed vectors (a random
projection of hashed word counts, 384 dims: MiniLM on 2 CPU cores cannot embed 100k+ abstracts in the time),
builds the lexical snapshot, then starts a client process that measures start -> first hybrid query,
hybrid search p50/p95 at concurrency 1 and 4 (threads sharing one retriever), needle recall@10 and its RSS.
A sample is also ingested with MiniLM on the CPU, for the rate a real embedding run gets. Prints one table
(wall-clock figures depend on the machine's load: the CPU seconds used are printed next to them).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from agent.evaluation.metrics import percentile  # noqa: E402
from agent.settings import Settings  # noqa: E402
from evals.scale_corpus import ProjectionEmbedder, build_corpus, general_queries  # noqa: E402

COLLECTION = "bench-scale"
MINILM_COLLECTION = "bench-scale-minilm"
INGEST_CHUNK = 5000
UPSERT_BATCH = 1000
SERVER_START_S = 120
K = 10
#: Queries timed at each concurrency (SciFact claims and needle questions, alternating).
LATENCY_QUERIES = 40


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(path: Path) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "chroma"), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + SERVER_START_S
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("chroma server did not start")


def _status(pid: int | str, field: str) -> float:
    """A /proc/<pid>/status memory field in MiB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int | str) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


def settings_for(home: Path, url: str, collection: str, dense_weight: float | None = None) -> Settings:
    retrieval = {} if dense_weight is None else {"dense_weight": dense_weight}
    return Settings(
        home=home, index={"chroma_url": url, "collection": collection, "add_batch_size": UPSERT_BATCH}, retrieval=retrieval
    )


def ingest(n: int, needles: int, seed: int, home: Path, url: str, server_pid: int) -> tuple[dict, list]:
    from agent.index import open_store
    from agent.retrieval.snapshot import build_snapshot

    papers, planted = build_corpus(n, needles, seed)
    embedder = ProjectionEmbedder(seed)
    s = settings_for(home, url, COLLECTION)
    store = open_store(s)
    t0, cpu0, scpu0, vec_s, done = time.time(), _cpu_s("self"), _cpu_s(server_pid), 0.0, 0
    while batch := list(islice(papers, INGEST_CHUNK)):
        tv = time.time()
        vectors = dict(zip((p.id for p in batch), embedder.embed([p.embed_text for p in batch])))
        vec_s += time.time() - tv
        store.add(batch, vectors=vectors)
        done += len(batch)
        rate = done / (time.time() - t0)
        print(f"  ingested {done:,}/{n:,} ({rate:,.0f} papers/s)", file=sys.stderr, flush=True)
    wall = time.time() - t0
    out = {
        "n": store.count(),
        "ingest_s": wall,
        "ingest_rate": n / wall,
        "vectors_s": vec_s,
        "ingest_cpu_s": (_cpu_s("self") - cpu0) + (_cpu_s(server_pid) - scpu0),
    }
    t1 = time.time()
    build_snapshot(store, s)
    out["snapshot_s"] = time.time() - t1
    out["builder_peak_mb"] = _status("self", "VmHWM")
    return out, planted


def minilm_sample(count: int, seed: int, home: Path, url: str) -> dict:
    """Ingest ``count`` papers embedded by MiniLM on the CPU (its load time excluded)."""
    from agent.index import open_store
    from agent.index.embeddings import embedder_for

    papers, _ = build_corpus(count, 0, seed + 7)
    batch = list(papers)
    s = settings_for(home, url, MINILM_COLLECTION)
    embedder_for(s).embed(["warm up"])
    t0, cpu0 = time.time(), _cpu_s("self")
    open_store(s).add(batch)
    wall = time.time() - t0
    return {"minilm_n": count, "minilm_rate": count / wall, "minilm_cpu_ms": (_cpu_s("self") - cpu0) * 1000 / count}


def client_main(args: argparse.Namespace) -> None:
    """Runs in a fresh process: start -> first query, latency at two concurrencies, needle recall, RSS."""
    import agent.retrieval.hybrid as hybrid_mod
    from agent.index import open_store
    from agent.retrieval import Retriever

    embedder = ProjectionEmbedder(args.seed)
    hybrid_mod.embedder_for = lambda *a, **k: embedder  # the vectors were made by this projection
    s = settings_for(Path(args.home), args.url, COLLECTION, args.dense_weight)
    spec = json.loads(Path(args.spec).read_text())
    retriever = Retriever(open_store(s), s)
    retriever.search(spec["general"][0], K)
    first = time.time() - args.started
    out = {"dense_weight": s.retrieval.dense_weight, "start_to_first_query_s": first, "start_cpu_s": _cpu_s("self"), "papers_seen": len(retriever.papers)}
    found = 0
    questions = [(q, nd["paper_id"]) for nd in spec["needles"] for q in nd["questions"]]
    for q, pid in questions:
        found += pid in [h.paper.id for h in retriever.search(q, K)]
    out["needle_recall10"] = found / max(1, len(questions))
    mixed = [q for pair in zip(spec["general"], (q for q, _ in questions)) for q in pair]
    queries = mixed[: args.latency_queries] if args.latency_queries else mixed
    for conc in (1, 4):
        def timed(q: str) -> float:
            t = time.perf_counter()
            retriever.search(q, K)
            return (time.perf_counter() - t) * 1000

        cpu0, scpu0 = _cpu_s("self"), _cpu_s(args.server_pid) if args.server_pid else 0.0
        with ThreadPoolExecutor(conc) as pool:
            ms = list(pool.map(timed, queries))
        if conc == 1:  # CPU time per query, client + server: the latency an idle machine would see, roughly
            server = _cpu_s(args.server_pid) - scpu0 if args.server_pid else 0.0
            out["cpu_ms_per_query"] = (_cpu_s("self") - cpu0 + server) * 1000 / len(queries)
        out[f"p50_c{conc}_ms"], out[f"p95_c{conc}_ms"] = percentile(ms, 50), percentile(ms, 95)
    out["client_rss_mb"] = _status("self", "VmHWM")
    Path(args.result).write_text(json.dumps(out))


def run_client(
    home: Path, url: str, spec: Path, seed: int, server_pid: int, dense_weight: float | None, latency_queries: int
) -> dict:
    result = spec.with_suffix(".result.json")
    started = time.time()
    cmd = [sys.executable, str(Path(__file__).resolve()), "client", "--home", str(home), "--url", url,
           "--spec", str(spec), "--seed", str(seed), "--started", repr(started), "--result", str(result), "--server-pid", str(server_pid)]
    cmd += ["--latency-queries", str(latency_queries)]
    if dense_weight is not None:
        cmd += ["--dense-weight", repr(dense_weight)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads(result.read_text())


def bench_one(n: int, args: argparse.Namespace, work: Path) -> list[dict]:
    server_dir, home, spec = work / f"server-{n}", work / f"home-{n}", work / f"spec-{n}.json"
    reuse = args.reuse and server_dir.is_dir() and spec.is_file()
    # A reused store keeps its lexical snapshot (keyed by the collection's id, whatever port it is served on).
    proc, url = start_server(server_dir)
    try:
        if reuse:
            print(f"N={n:,}: reusing {server_dir} on {url} (no ingest)", file=sys.stderr, flush=True)
            row: dict = {"n": n}
        else:
            print(f"N={n:,}: ingesting into {url}", file=sys.stderr, flush=True)
            row, planted = ingest(n, args.needles, args.seed, home, url, proc.pid)
            spec.write_text(json.dumps({
                "general": general_queries(args.queries, args.seed),
                "needles": [{"paper_id": nd.paper_id, "questions": nd.questions} for nd in planted],
            }))
        # Each client shares the indexer's home, so it opens the snapshot the ingest built (no rebuild); one
        # fresh client per fusion weight (None: the shipped settings).
        rows = [row | run_client(home, url, spec, args.seed, proc.pid, w, args.latency_queries) for w in args.dense_weights or [None]]
        if args.embed_sample and not reuse:
            rows[0] |= minilm_sample(args.embed_sample, args.seed, home, url)
        for r in rows:
            r["server_rss_mb"] = _status(proc.pid, "VmHWM")
            r["disk_server_mb"] = _du_mb(server_dir)
            r["disk_lexical_mb"] = _du_mb(home / "lexical")
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return rows


COLUMNS = [
    ("papers", "n", "{:,}"), ("dense weight", "dense_weight", "{:g}"), ("ingest/s (precomputed)", "ingest_rate", "{:,.0f}"), ("ingest CPU-s", "ingest_cpu_s", "{:,.0f}"),
    ("lexical build s", "snapshot_s", "{:,.1f}"), ("ingest/s (MiniLM CPU)", "minilm_rate", "{:,.1f}"),
    ("MiniLM CPU-ms/paper", "minilm_cpu_ms", "{:,.0f}"),
    ("start→1st query s", "start_to_first_query_s", "{:.2f}"), ("its CPU-s", "start_cpu_s", "{:.2f}"), ("p50 c1 ms", "p50_c1_ms", "{:.0f}"),
    ("p95 c1 ms", "p95_c1_ms", "{:.0f}"), ("CPU ms/query", "cpu_ms_per_query", "{:.1f}"), ("p50 c4 ms", "p50_c4_ms", "{:.0f}"), ("p95 c4 ms", "p95_c4_ms", "{:.0f}"),
    ("needle R@10", "needle_recall10", "{:.3f}"), ("server RSS MB", "server_rss_mb", "{:,.0f}"),
    ("client RSS MB", "client_rss_mb", "{:,.0f}"), ("builder peak MB", "builder_peak_mb", "{:,.0f}"),
    ("disk MB (server+lexical)", "disk", "{}"),
]


def print_table(rows: list[dict]) -> None:
    for r in rows:
        r["disk"] = f"{r.get('disk_server_mb', 0):,.0f}+{r.get('disk_lexical_mb', 0):,.0f}"
    print("| " + " | ".join(c for c, _, _ in COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for r in rows:
        print("| " + " | ".join(f.format(r[k]) if k in r else "-" for _, k, f in COLUMNS) + " |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd")
    client = sub.add_parser("client")
    for name in ("home", "url", "spec", "result"):
        client.add_argument(f"--{name}", required=True)
    client.add_argument("--seed", type=int, default=18)
    client.add_argument("--started", type=float, required=True)
    client.add_argument("--server-pid", type=int, default=0)
    client.add_argument("--latency-queries", type=int, default=LATENCY_QUERIES)
    client.add_argument("--dense-weight", type=float, default=None)
    parser.add_argument("--n", type=int, nargs="+", default=[10_000])
    parser.add_argument("--needles", type=int, default=200)
    parser.add_argument(
        "--latency-queries", type=int, default=LATENCY_QUERIES,
        help="queries timed at each concurrency (SciFact claims and needle questions, alternating)",
    )
    parser.add_argument("--queries", type=int, default=200, help="SciFact claims timed besides the needle questions")
    parser.add_argument(
        "--embed-sample", type=int, default=256,
        help="papers ingested with the configured embedder (embedder-v2) on the CPU, for its real rate (0 = skip)",
    )
    parser.add_argument("--seed", type=int, default=18)
    parser.add_argument(
        "--dense-weights", type=float, nargs="+", default=None,
        help="one client per fusion dense weight (default: the shipped setting). The bench's vectors are random "
        "projections of word counts, a weaker dense signal than the fine-tuned embedder, for which the shipped weight was chosen",
    )
    parser.add_argument("--work", type=Path, default=None, help="working directory (default: a temporary one, removed)")
    parser.add_argument("--out", type=Path, default=None, help="write the rows as JSON here")
    parser.add_argument(
        "--reuse", action="store_true",
        help="with --work: for each N already ingested there, skip the ingest and time fresh clients again",
    )
    args = parser.parse_args()
    if args.cmd == "client":
        client_main(args)
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-scale-"))
    rows = []
    try:
        for n in args.n:
            rows.extend(bench_one(n, args, work))
            print_table(rows)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
