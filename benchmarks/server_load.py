"""Load on a real ``rag-app serve``: 20 concurrent clients over loopback, none lost, latency percentiles.

The server runs as its own process on a free 127.0.0.1 port with the bundled models (MiniLM embedder and
ColBERT-MiniLM reranker, SmolLM2-135M through llama.cpp) over the sample documents of ``rag_app/sample_data``, which
this script uploads through ``POST /api/ingest``. Then:

1. baseline: ``--baseline`` questions one after another (no concurrency): the latency of one request alone;
2. load: ``--clients`` clients at once, half on ``POST /api/ask``, half on ``POST /api/chat`` (streamed; time
   to first token recorded too), while a prober calls ``GET /api/health`` every 0.2 s.

It checks that every request got a complete answer (HTTP 200, an answer, sources; for a stream, the ``done``
event) and prints p50/p95/max latency, the health check's worst latency during the load (the event loop is
never blocked by model work), and the ratio of the load's wall time to ``clients`` × the baseline latency
(about 1.0 when queuing adds no overhead: the model work is serialised by design, so 20 answers take 20 times
one answer). Exit code 1 if any request failed or was lost.

Run: ``.venv/bin/python benchmarks/server_load.py [--clients 20] [--max-new-tokens 128]``. Only loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "rag_app" / "sample_data"
QUESTIONS = [
    "Which batteries does the outdoor sensor need?",
    "How far from the display can the outdoor sensor be?",
    "How often does the outdoor sensor send a reading?",
    "How do I pair the sensor with the display?",
    "What does the warranty cover?",
    "Which accessories are available for the station?",
    "Where should I mount the outdoor sensor?",
    "How long does the display keep its clock during a power cut?",
]
console = Console(stderr=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, round(q / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def start_server(db: Path, port: int, max_new_tokens: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "RAG_APP_GENERATOR__MAX_NEW_TOKENS": str(max_new_tokens), "TOKENIZERS_PARALLELISM": "false"}
    env.pop("RAG_APP_API_TOKEN", None)
    command = [sys.executable, "-m", "rag_app.cli", "serve", "--db", str(db), "--port", str(port), "--host", "127.0.0.1"]
    return subprocess.Popen(command, cwd=db.parent, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_ready(base: str, server: subprocess.Popen, log: Path, timeout: float = 600) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.poll() is not None:
            raise SystemExit(f"The server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"The server did not answer /api/health within {timeout:.0f} s")


async def ask(client: httpx.AsyncClient, question: str) -> dict:
    started = time.perf_counter()
    response = await client.post("/api/ask", json={"question": question})
    elapsed = time.perf_counter() - started
    ok = response.status_code == 200 and bool(response.json().get("answer")) and bool(response.json().get("sources"))
    return {"route": "ask", "ok": ok, "status": response.status_code, "latency": elapsed, "first_token": None}


async def chat(client: httpx.AsyncClient, question: str) -> dict:
    started = time.perf_counter()
    first_token, done, status, buffer = None, None, 0, ""
    async with client.stream("POST", "/api/chat", json={"question": question}) as response:
        status = response.status_code
        async for text in response.aiter_text():
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                event = next((line[6:].strip() for line in block.split("\n") if line.startswith("event:")), "")
                data = "\n".join(line[5:].strip() for line in block.split("\n") if line.startswith("data:"))
                if event == "token" and first_token is None:
                    first_token = time.perf_counter() - started
                elif event == "done":
                    done = json.loads(data)
    elapsed = time.perf_counter() - started
    ok = status == 200 and done is not None and bool(done.get("answer"))
    return {"route": "chat", "ok": ok, "status": status, "latency": elapsed, "first_token": first_token}


async def probe_health(client: httpx.AsyncClient, stop: asyncio.Event, latencies: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        response = await client.get("/api/health")
        latencies.append(time.perf_counter() - started)
        assert response.status_code == 200
        await asyncio.sleep(0.2)


async def run_load(base: str, clients: int) -> tuple[list[dict], list[float], float]:
    limits = httpx.Limits(max_connections=clients + 4)
    async with httpx.AsyncClient(base_url=base, timeout=1800, limits=limits) as client:
        stop, health = asyncio.Event(), []
        prober = asyncio.create_task(probe_health(client, stop, health))
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"{clients} concurrent clients", total=clients)

            async def one(i: int) -> dict:
                call = ask if i % 2 == 0 else chat
                try:
                    result = await call(client, QUESTIONS[i % len(QUESTIONS)])
                except httpx.HTTPError as exc:
                    result = {"route": call.__name__, "ok": False, "status": repr(exc), "latency": float("nan"),
                              "first_token": None}
                progress.advance(task)
                return result

            started = time.perf_counter()
            results = await asyncio.gather(*(one(i) for i in range(clients)))
            wall = time.perf_counter() - started
        stop.set()
        await prober
    return list(results), health, wall


async def run_baseline(base: str, n: int) -> list[float]:
    async with httpx.AsyncClient(base_url=base, timeout=600) as client:
        await ask(client, QUESTIONS[0])  # warm-up: first-call allocations in llama.cpp and torch
        results = [await ask(client, QUESTIONS[i % len(QUESTIONS)]) for i in range(n)]
    if not all(r["ok"] for r in results):
        raise SystemExit(f"baseline requests failed: {results}")
    return [r["latency"] for r in results]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--baseline", type=int, default=4, help="sequential requests for the one-at-a-time latency")
    parser.add_argument("--max-new-tokens", type=int, default=128, help="generator.max_new_tokens of the server")
    parser.add_argument("--data", type=Path, default=SAMPLES, help="documents to upload (default: rag_app/sample_data)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="rag-load-") as tmp:
        db, port = Path(tmp) / "db", free_port()
        base, log = f"http://127.0.0.1:{port}", Path(tmp) / "server.log"
        server = start_server(db, port, args.max_new_tokens, log)
        try:
            with console.status("Starting rag-app serve (loading the models)…"):
                startup = wait_ready(base, server, log)
            files = [("files", (p.name, p.read_bytes())) for p in sorted(args.data.iterdir()) if p.is_file()]
            report = httpx.post(f"{base}/api/ingest", files=files, timeout=600).json()
            if report.get("files_failed") or not report.get("chunks_total"):
                raise SystemExit(f"ingest failed: {report}")
            with console.status(f"Baseline: {args.baseline} requests one at a time…"):
                baseline = asyncio.run(run_baseline(base, args.baseline))
            results, health, wall = asyncio.run(run_load(base, args.clients))
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()

    failed = [r for r in results if not r["ok"]]
    latencies = [r["latency"] for r in results if r["ok"]]
    first_tokens = [r["first_token"] for r in results if r["first_token"] is not None]
    single = statistics.median(baseline)
    figures = {
        "clients": args.clients, "completed": len(latencies), "failed": len(failed),
        "lost": args.clients - len(results), "max_new_tokens": args.max_new_tokens,
        "startup_s": round(startup, 1), "chunks": report["chunks_total"],
        "single_request_s": round(single, 2),
        "p50_s": round(percentile(latencies, 50), 2) if latencies else None,
        "p95_s": round(percentile(latencies, 95), 2) if latencies else None,
        "max_s": round(max(latencies), 2) if latencies else None,
        "chat_first_token_p50_s": round(percentile(first_tokens, 50), 2) if first_tokens else None,
        "wall_s": round(wall, 1), "requests_per_s": round(len(latencies) / wall, 2),
        "wall_over_clients_x_single": round(wall / (args.clients * single), 2),
        "health_checks": len(health), "health_max_ms": round(1000 * max(health), 1) if health else None,
    }
    if args.json:
        print(json.dumps(figures))
    else:
        table = Table(title=f"rag-app serve under {args.clients} concurrent clients (loopback)")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in figures.items():
            table.add_row(key, str(value))
        Console().print(table)
    for failure in failed:
        console.print(f"[red]failed[/] {failure}")
    return 1 if failed or figures["lost"] else 0


if __name__ == "__main__":
    sys.exit(main())
