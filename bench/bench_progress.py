"""Progress delivery latency: worker writes a change -> SSE client receives it, vs polling every 2 s.

    .venv/bin/python bench/bench_progress.py [--quick]

API (`python -m testgen api`) and worker (`python -m testgen worker`) run as subprocesses, the
offline model answers each batch after 0.2 s (3 batches per job, ~8 events each). Jobs are queued
first and one SSE client per job connects; then the worker starts, so every later event is live.
Latency = receive time - the stream entry id's ms (Redis server clock, same machine; the id is
truncated to the ms, so figures are 0-1 ms pessimistic). Alongside, a poller per job GETs the status
every 2 s (random phase): its delay is first poll that shows a change - the change's write time;
changes it never sees at all are counted as missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from typing import Any

import httpx
from _harness import (
    Env,
    environment,
    pct,
    seed_stories,
    sse_client,
    subprocess_api,
    subprocess_worker,
    table,
    verdict,
)
from redis.asyncio import Redis

from testgen.core.redis_keys import events_key
from testgen.data.job_states import TERMINAL

POLL_S = 2.0
OPTIONS = {"num_test_cases": 15, "scenarios_per_test_case": 3}  # 3 batches


async def poller(http: httpx.AsyncClient, task_id: str, seen: dict[tuple[str, int], float]) -> None:
    await asyncio.sleep(random.uniform(0, POLL_S))
    while True:
        tick = time.monotonic()
        body = (await http.get(f"/generate-test-cases/status/{task_id}")).json()
        seen.setdefault((body["status"], body["progress"]), time.time())
        if body["status"] in TERMINAL:
            return
        await asyncio.sleep(max(0.0, POLL_S - (time.monotonic() - tick)))


async def scenario(env: Env, base: str, n_jobs: int, prefix: str) -> dict[str, Any]:
    stories = await seed_stories(env.database_url, n_jobs, prefix=prefix)
    port = int(base.rsplit(":", 1)[1])
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        tasks = []
        for story in stories:
            r = await http.post(f"/generate-test-cases/{story}/queue", json=OPTIONS)
            r.raise_for_status()
            tasks.append(r.json()["task_id"])
        readies = [asyncio.Event() for _ in tasks]
        polled: dict[str, dict[tuple[str, int], float]] = {t: {} for t in tasks}

        def recorder(task: str) -> Any:
            def on_event(event: str, ident: str, received: float) -> None:
                if event != "queued":
                    latencies.append(received * 1000 - float(ident.partition("-")[0]))

            return on_event

        clients = [
            asyncio.create_task(sse_client(port, f"/generate-test-cases/status/{t}/events", recorder(t), ev))
            for t, ev in zip(tasks, readies, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in readies)), 30)
        pollers = [asyncio.create_task(poller(http, t, polled[t])) for t in tasks]
        started = time.monotonic()
        with subprocess_worker(env, offline_llm_delay_s=0.2, worker_max_jobs=max(50, n_jobs)):
            await asyncio.wait_for(asyncio.gather(*clients), 120)
            await asyncio.wait_for(asyncio.gather(*pollers), 30)
        wall = time.monotonic() - started
    # Score the pollers against every change in the jobs' streams.
    redis = Redis.from_url(env.redis_url)
    poll_delays: list[float] = []
    next_tick: list[float] = []
    missed = total = 0
    try:
        for task in tasks:
            phase = random.uniform(0, POLL_S * 1000)
            for entry_id, fields in await redis.xrange(events_key(task)):
                data = json.loads(fields[b"data"])
                if data["status"] == "queued":
                    continue
                written = float(entry_id.decode().partition("-")[0])
                next_tick.append((phase - written) % (POLL_S * 1000))
                total += 1
                seen = polled[task].get((data["status"], data["progress"]))
                if seen is None:
                    missed += 1
                else:
                    poll_delays.append(seen * 1000 - written)
    finally:
        await redis.aclose()
    return {
        "jobs": n_jobs,
        "sse": latencies,
        "poll": poll_delays,
        "tick": next_tick,
        "missed": missed,
        "total": total,
        "wall": wall,
    }


async def bench(sizes: list[int]) -> list[dict[str, Any]]:
    with environment() as env, subprocess_api(env) as (base, _):
        return [await scenario(env, base, n, f"G{n}") for n in sizes]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [1, 20] if args.quick else [1, 100]
    results = asyncio.run(bench(sizes))
    print("progress delivery latency (ms, write -> client sees it); offline model 0.2 s/batch, 3 batches/job")
    rows = []
    for r in results:
        sse99 = pct(r["sse"], 99)
        rows.append(
            [
                f"{r['jobs']} concurrent job(s), SSE",
                len(r["sse"]),
                f"{pct(r['sse'], 50):.1f}",
                f"{sse99:.1f}",
                "",
            ]
        )
        rows.append(
            [
                f"{r['jobs']} job(s), poll every 2 s (real)",
                f"{len(r['poll'])} seen / {r['missed']} missed",
                f"{pct(r['poll'], 50):.0f}",
                f"{pct(r['poll'], 99):.0f}",
                f"{pct(r['poll'], 99) / sse99:.0f}x",
            ]
        )
        rows.append(
            [
                f"{r['jobs']} job(s), poll every 2 s (next tick)",
                len(r["tick"]),
                f"{pct(r['tick'], 50):.0f}",
                f"{pct(r['tick'], 99):.0f}",
                f"{pct(r['tick'], 99) / sse99:.0f}x",
            ]
        )
    table(["client", "changes", "p50", "p99", "p99 vs SSE"], rows)
    big = results[-1]
    sse99 = pct(big["sse"], 99)
    ratio = pct(big["tick"], 99) / sse99
    print(
        f"targets ({big['jobs']} jobs): SSE p99 < 50 ms {verdict(sse99 < 50)}; "
        f">= 20x better than polling (p99, next tick) {verdict(ratio >= 20)}. "
        "'missed': changes a 2 s poller never observes at all."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
