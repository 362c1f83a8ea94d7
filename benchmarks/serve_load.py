"""Load test of ``embedkit serve`` against a naive sentence-transformers server, loopback only.

    /root/venv6/bin/python benchmarks/serve_load.py                       # 32 clients, 60 s per server
    /root/venv6/bin/python benchmarks/serve_load.py --duration 10 --clients 8
    python benchmarks/serve_load.py --no-baseline                         # embedkit only (no sentence-transformers)
    /root/venv6/bin/python benchmarks/serve_load.py --slices 2            # servers taking turns, 2 x 30 s each

Each of ``--clients`` concurrent clients (one keep-alive connection each) sends, back to back, a single short
query (``--single-share`` of the requests, SciFact queries) or a small batch of 2-8 STS-B sentences to
``POST /embed``, for ``--duration`` seconds or ``--max-requests`` requests in all. Servers:

(a) ``embedkit serve MODEL`` (dynamic batching), a subprocess;
(b) the baseline: sentence-transformers' ``SentenceTransformer.encode`` called once per request (one model, one
    request at a time on one worker thread, no batching across requests) behind the same stdlib HTTP stack
    (embedkit.serve.http), a subprocess of this script; needs sentence-transformers (``/root/venv6/bin/python``).

Reported per server: requests/s, inputs/s, p50/p99 latency, errors, and the server's RSS when idle (after warm-up),
at ``min(60 s, duration / 2)`` into the load and at the end (growth after the first minute = end - mark). Also
embedkit's offline bulk ``encode`` of the texts the embedkit run sent (the first ``BULK_TEXTS_MAX``; inputs/s, batch
size 32, same process thread settings), and the server's RSS at each full minute of the load. The last line printed
is one JSON object with every number.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data"
# The offline comparison encodes the texts the embedkit run sent, at most this many (about a minute of serving).
BULK_TEXTS_MAX = 15_000


def load_texts(data: Path) -> tuple[list[str], list[str]]:
    """(short queries, sentences for small batches)."""
    queries = [json.loads(line)["text"] for line in (data / "beir" / "scifact" / "queries.jsonl").open()]
    with (data / "stsb" / "test.tsv").open(encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    header = rows[0]
    columns = [i for i, name in enumerate(header) if name.startswith("sentence")]
    sentences = [row[i] for row in rows[1:] for i in columns]
    return queries, sentences


def rss_mb(pid: int) -> float:
    """Resident set size of process ``pid`` in MiB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---------------------------------------------------------------------------------------------- baseline server
def baseline_server(model: str, port: int) -> None:
    """sentence-transformers behind embedkit.serve.http: one ``encode`` per request, one request at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from sentence_transformers import SentenceTransformer

    from embedkit.serve.http import HttpError, encode_response, json_bytes, read_request

    st_model = SentenceTransformer(model, device="cpu")
    worker = ThreadPoolExecutor(max_workers=1)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await read_request(reader, 2 * 1024 * 1024)
                except HttpError as exc:
                    writer.write(encode_response(exc.status, json_bytes(exc.body()), keep_alive=False))
                    return
                if request is None:
                    return
                texts = json.loads(request.body)["inputs"]
                texts = [texts] if isinstance(texts, str) else texts
                emb = await asyncio.get_running_loop().run_in_executor(
                    worker, lambda: st_model.encode(texts, normalize_embeddings=True))
                writer.write(encode_response(200, json_bytes(emb.tolist())))
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(connection, "127.0.0.1", port)
        print(f"baseline: serving on http://127.0.0.1:{server.sockets[0].getsockname()[1]}", file=sys.stderr,
              flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def start(command: list[str], pattern: str) -> tuple[subprocess.Popen, int]:
    """Start a server subprocess and wait for the line giving its port."""
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(pattern, line)
        if found:
            return proc, int(found.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"server did not start: {' '.join(command)}")


# ---------------------------------------------------------------------------------------------- load
async def one_client(port: int, plan: list[list[str]], deadline: float, budget: list[int],
                     latencies: list[float], counts: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for texts in plan:
            if time.monotonic() >= deadline or budget[0] <= 0:
                return
            budget[0] -= 1
            body = json.dumps({"inputs": texts[0] if len(texts) == 1 else texts}).encode()
            head = (f"POST /embed HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n").encode()
            start = time.perf_counter()
            writer.write(head + body)
            await writer.drain()
            response_head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", response_head).group(1))
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            ok = response_head.startswith(b"HTTP/1.1 200")
            counts[0 if ok else 2] += 1
            counts[1] += len(texts) if ok else 0
    finally:
        writer.close()


def client_plans(clients: int, queries: list[str], sentences: list[str], single_share: float,
                 per_client: int, seed: int) -> list[list[list[str]]]:
    rng = random.Random(seed)
    plans = []
    for _ in range(clients):
        plan = []
        for _ in range(per_client):
            if rng.random() < single_share:
                plan.append([rng.choice(queries)])
            else:
                plan.append([rng.choice(sentences) for _ in range(rng.randint(2, 8))])
        plans.append(plan)
    return plans


def run_load(name: str, proc: subprocess.Popen, port: int, plans: list[list[list[str]]], duration: float,
             max_requests: int) -> dict:
    """Drive the server with every client plan; sample its RSS once a second."""
    latencies: list[float] = []
    counts = [0, 0, 0]  # ok requests, inputs, errors
    rss_samples: list[tuple[float, float]] = []

    async def main() -> float:
        deadline = time.monotonic() + duration
        budget = [max_requests]

        async def sample() -> None:
            began = time.monotonic()
            while True:
                rss_samples.append((time.monotonic() - began, rss_mb(proc.pid)))
                await asyncio.sleep(1.0)

        sampler = asyncio.create_task(sample())
        began = time.perf_counter()
        clients = asyncio.gather(*(one_client(port, plan, deadline, budget, latencies, counts) for plan in plans))
        try:  # requests still in flight at the deadline may finish, within a bound
            await asyncio.wait_for(clients, duration + 60)
        except asyncio.TimeoutError:
            counts[2] += 1
        elapsed = time.perf_counter() - began
        sampler.cancel()
        return elapsed

    elapsed = asyncio.run(main())
    mark_s = min(60.0, duration / 2)
    at_mark = next((rss for t, rss in rss_samples if t >= mark_s), rss_samples[-1][1])
    latencies.sort()
    result = {"server": name, "seconds": round(elapsed, 2), "requests": counts[0], "errors": counts[2],
              "requests_per_s": round(counts[0] / elapsed, 1), "inputs_per_s": round(counts[1] / elapsed, 1),
              "p50_ms": round(1000 * latencies[len(latencies) // 2], 2) if latencies else None,
              "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2)
              if latencies else None,
              "mean_ms": round(1000 * statistics.fmean(latencies), 2) if latencies else None,
              "rss_mark_s": mark_s, "rss_at_mark_mb": round(at_mark, 1), "rss_end_mb": round(rss_mb(proc.pid), 1)}
    result["rss_growth_after_mark_mb"] = round(result["rss_end_mb"] - at_mark, 1)
    result["inputs"], result["latencies_s"] = counts[1], latencies  # for merge_slices (dropped from the report)
    minutes = range(1, int(rss_samples[-1][0] // 60) + 1)
    result["rss_each_minute_mb"] = [round(next(rss for t, rss in rss_samples if t >= 60 * m), 1) for m in minutes]
    return result


def merge_slices(parts: list[dict]) -> dict:
    """One server's result over the slices it ran (``--slices``): throughput and latency percentiles over all of
    them; RSS at the first slice's mark and after the last slice."""
    latencies = sorted(t for part in parts for t in part["latencies_s"])
    seconds = sum(part["seconds"] for part in parts)
    requests, inputs = sum(part["requests"] for part in parts), sum(part["inputs"] for part in parts)
    first, last = parts[0], parts[-1]
    return {"server": first["server"], "slices": len(parts), "seconds": round(seconds, 2), "requests": requests,
            "errors": sum(part["errors"] for part in parts), "requests_per_s": round(requests / seconds, 1),
            "inputs_per_s": round(inputs / seconds, 1), "inputs": inputs,
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
            "p99_ms": round(1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))], 2),
            "mean_ms": round(1000 * statistics.fmean(latencies), 2), "rss_mark_s": first["rss_mark_s"],
            "rss_at_mark_mb": first["rss_at_mark_mb"], "rss_end_mb": last["rss_end_mb"],
            "rss_growth_after_mark_mb": round(last["rss_end_mb"] - first["rss_at_mark_mb"], 1),
            "rss_each_minute_mb": [], "slice_inputs_per_s": [part["inputs_per_s"] for part in parts],
            "latencies_s": latencies}


def warm_up(port: int, texts: list[str]) -> None:
    async def main() -> None:
        for _ in range(3):
            await one_client(port, [[t] for t in texts[:20]] + [texts[:8]], time.monotonic() + 60, [10**9], [],
                             [0, 0, 0])

    asyncio.run(main())


def sent_texts(plans: list[list[list[str]]], requests: int) -> list[str]:
    """The texts of the first ``requests`` requests, taken round-robin over the clients (what they sent, roughly)."""
    texts: list[str] = []
    index = 0
    while len(texts) < 1 or requests > 0:
        for plan in plans:
            if index < len(plan) and requests > 0:
                texts.extend(plan[index])
                requests -= 1
        index += 1
        if index >= max(len(p) for p in plans):
            break
    return texts


def bulk_encode(model: str, texts: list[str]) -> dict:
    from embedkit import SentenceTransformer

    st = SentenceTransformer(model, device="cpu")
    st.encode(texts[:64], batch_size=32)
    began = time.perf_counter()
    st.encode(texts, batch_size=32, normalize_embeddings=True)
    elapsed = time.perf_counter() - began
    return {"texts": len(texts), "seconds": round(elapsed, 2), "inputs_per_s": round(len(texts) / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model folder (default: the packaged all-MiniLM-L6-v2)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load per server (default 60)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="requests per server, at most")
    parser.add_argument("--single-share", type=float, default=0.7, help="share of single-query requests")
    parser.add_argument("--no-baseline", action="store_true", help="skip the sentence-transformers server")
    parser.add_argument("--serve-options", default="", help="extra 'embedkit serve' options, e.g. '--max-wait-ms 5'")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slices", type=int, default=1,
                        help="start every server first, then run each one's load in this many slices of "
                        "duration / slices, the servers taking turns, so that a drift in the machine's speed falls "
                        "on all of them alike (default 1: one server's whole run after the other's)")
    parser.add_argument("--baseline-server", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model is None:
        from embedkit.default_model import default_model_path

        args.model = default_model_path()
    if args.baseline_server:
        baseline_server(args.model, args.port)
        return
    queries, sentences = load_texts(args.data)
    per_client = min(args.max_requests, int(args.duration * 2000 / max(args.clients, 1)) + 100)
    plans = client_plans(args.clients, queries, sentences, args.single_share, per_client, args.seed)
    results = {"clients": args.clients, "duration_s": args.duration, "single_share": args.single_share,
               "model": args.model, "cpus": os.cpu_count()}

    servers = [("embedkit", [sys.executable, "-m", "embedkit", "serve", args.model, "--port", "0",
                             *args.serve_options.split()], r"serving .* on http://127\.0\.0\.1:(\d+)")]
    if not args.no_baseline:
        servers.append(("sentence-transformers (naive)", [sys.executable, __file__, "--baseline-server", "--model",
                                                          args.model], r"serving on http://127\.0\.0\.1:(\d+)"))
    started = []  # (name, proc, port, idle RSS)
    parts: dict[str, list[dict]] = {}
    try:
        for name, command, pattern in servers:
            if args.slices == 1:  # each server alone on the machine
                for _, proc, _, _ in started:
                    proc.terminate()
                    proc.wait(timeout=60)
            proc, port = start(command, pattern)
            started.append((name, proc, port, 0.0))
            warm_up(port, queries)
            started[-1] = (name, proc, port, rss_mb(proc.pid))
            parts[name] = []
            if args.slices == 1:
                parts[name].append(run_load(name, proc, port, plans, args.duration, args.max_requests))
        for index in range(args.slices if args.slices > 1 else 0):
            for name, proc, port, _ in (started if index % 2 == 0 else started[::-1]):
                parts[name].append(run_load(name, proc, port, plans, args.duration / args.slices,
                                            args.max_requests))
    finally:
        for _, proc, _, _ in started:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
    runs = []
    for name, _, _, idle in started:
        run = parts[name][0] if args.slices == 1 else merge_slices(parts[name])
        run["rss_idle_mb"] = round(idle, 1)
        runs.append(run)
        print(f"{name:32s} {run['requests_per_s']:8.1f} req/s {run['inputs_per_s']:8.1f} inputs/s  "
              f"p50 {run['p50_ms']:7.2f} ms  p99 {run['p99_ms']:7.2f} ms  errors {run['errors']}  "
              f"RSS idle {run['rss_idle_mb']:.0f} MiB, at {run['rss_mark_s']:.0f} s {run['rss_at_mark_mb']:.0f} MiB, "
              f"end {run['rss_end_mb']:.0f} MiB", flush=True)
        if args.slices > 1:
            print(f"{'':32s} slices: {', '.join(f'{x:.1f}' for x in run['slice_inputs_per_s'])} inputs/s")
    results["runs"] = runs
    bulk = bulk_encode(args.model, sent_texts(plans, runs[0]["requests"])[:BULK_TEXTS_MAX])
    results["offline_bulk_encode"] = bulk
    print(f"{'embedkit offline encode (bs 32)':32s} {bulk['inputs_per_s']:8.1f} inputs/s over {bulk['texts']} texts")
    ours = runs[0]
    results["served_vs_offline"] = round(ours["inputs_per_s"] / bulk["inputs_per_s"], 3)
    if len(runs) > 1:
        base = runs[1]
        results["throughput_vs_baseline"] = round(ours["inputs_per_s"] / max(base["inputs_per_s"], 1e-9), 2)
        results["p99_vs_baseline"] = round(ours["p99_ms"] / base["p99_ms"], 2)
        print(f"embedkit / baseline throughput: {results['throughput_vs_baseline']}x, p99 ratio "
              f"{results['p99_vs_baseline']} (< 1: better)")
    print(f"served / offline throughput: {results['served_vs_offline']}")
    for run in runs:
        del run["latencies_s"], run["inputs"]
    print(json.dumps(results))


if __name__ == "__main__":
    main()
