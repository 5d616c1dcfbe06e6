"""Enqueue and status throughput: 100 concurrent clients against one API process.

    .venv/bin/python bench/bench_api.py [--quick]

`python -m testgen api` as a subprocess (no worker: queued jobs stay queued). One httpx.AsyncClient
with 100 connections in the bench process (it shares the 2 cores with the API, so figures are a
floor). POST /generate-test-cases/{story}/queue with distinct stories, then GET /status/{task}.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
from _harness import environment, pct, seed_stories, subprocess_api, table

CONCURRENCY = 100


async def load(http: httpx.AsyncClient, requests: list[Callable[[], Any]]) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    queue = list(reversed(requests))

    async def client() -> None:
        nonlocal errors
        while queue:
            make = queue.pop()
            t = time.perf_counter()
            try:
                r = await make()
            except httpx.TransportError:  # e.g. uvicorn closing an idle keep-alive connection
                errors += 1
                continue
            latencies.append((time.perf_counter() - t) * 1000)
            if r.status_code >= 300:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    wall = time.perf_counter() - started
    return {"n": len(requests), "rps": len(requests) / wall, "lat": latencies, "errors": errors}


async def bench(n_post: int, n_get: int) -> list[tuple[str, dict[str, Any]]]:
    with environment() as env:
        stories = await seed_stories(env.database_url, n_post + 50, prefix="A")
        with subprocess_api(env) as (base, _):
            limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
            async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
                for s in stories[n_post:]:  # warm-up: imports, DB and Redis pools
                    await http.post(f"/generate-test-cases/{s}/queue", json={})
                tasks: list[str] = []

                def post(story: str) -> Callable[[], Any]:
                    async def call() -> httpx.Response:
                        r = await http.post(f"/generate-test-cases/{story}/queue", json={})
                        if r.status_code == 202:
                            tasks.append(r.json()["task_id"])
                        return r

                    return call

                queued = await load(http, [post(s) for s in stories[:n_post]])
                gets = [tasks[i % len(tasks)] for i in range(n_get)]
                status = await load(
                    http, [lambda t=t: http.get(f"/generate-test-cases/status/{t}") for t in gets]
                )
    return [("POST .../queue (distinct stories)", queued), ("GET .../status/{task}", status)]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n_post, n_get = (150, 300) if args.quick else (1000, 3000)
    results = asyncio.run(bench(n_post, n_get))
    print(f"API throughput, {CONCURRENCY} concurrent clients, one API process (SQLite, embedded Redis)")
    rows = [
        [name, r["n"], f"{r['rps']:.0f}", f"{pct(r['lat'], 50):.0f}", f"{pct(r['lat'], 99):.0f}", r["errors"]]
        for name, r in results
    ]
    table(["request", "requests", "req/s", "p50 ms", "p99 ms", "errors"], rows)
    return 1 if any(r["errors"] > r["n"] // 100 for _, r in results) else 0  # > 1% failed


if __name__ == "__main__":
    sys.exit(main())
