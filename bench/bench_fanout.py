"""SSE fan-out: N subscribers of one job on one API process; Redis connections, memory, latency.

    .venv/bin/python bench/bench_fanout.py [--quick]

For each N a fresh `python -m testgen api` is started, one job is queued (no worker, so it stays
queued), N raw TCP SSE clients connect to its events URL and get the `queued` replay. Then the bench
counts the API's Redis connections (CLIENT LIST minus the bench's own), reads the API's VmRSS, and
publishes 5 progress events with ProgressStore.publish: latency = each client's receive time - the
time just before the publish call.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import Any

import httpx
from _harness import (
    Env,
    environment,
    pct,
    rss_mb,
    seed_stories,
    sse_client,
    subprocess_api,
    table,
    verdict,
)
from redis.asyncio import Redis

from testgen.streaming.progress_store import ProgressStore

EVENTS = 5


async def api_connections(redis: Redis) -> int:
    me = await redis.client_id()
    return sum(1 for c in await redis.client_list() if int(c["id"]) != me)


async def measure(env: Env, n: int) -> dict[str, Any]:
    story = (await seed_stories(env.database_url, 1, prefix=f"F{n}"))[0]
    with subprocess_api(env) as (base, proc):
        port = int(base.rsplit(":", 1)[1])
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            r = await http.post(f"/generate-test-cases/{story}/queue", json={})
            r.raise_for_status()
            task = r.json()["task_id"]
        rss_idle = rss_mb([proc.pid])
        redis = Redis.from_url(env.redis_url, single_connection_client=True)
        store = ProgressStore(redis, 3600)
        received: list[list[float]] = [[] for _ in range(EVENTS)]
        current = [-1]
        connected = [0]
        all_in = asyncio.Event()

        def on_event(event: str, ident: str, at: float) -> None:
            if event == "queued":
                connected[0] += 1
                if connected[0] == n:
                    all_in.set()
            elif event == "progress" and current[0] >= 0:
                received[current[0]].append(at)

        path = f"/generate-test-cases/status/{task}/events"
        clients: list[asyncio.Task[None]] = []
        for start in range(0, n, 250):  # stay under the listen backlog
            clients += [
                asyncio.create_task(sse_client(port, path, on_event))
                for _ in range(start, min(n, start + 250))
            ]
            while connected[0] < len(clients) and not any(c.done() for c in clients):
                await asyncio.sleep(0.02)
        await asyncio.wait_for(all_in.wait(), 120)
        conns = await api_connections(redis)
        rss = rss_mb([proc.pid])
        latencies: list[float] = []
        snapshot = await store.get(task)
        assert snapshot is not None
        for i in range(EVENTS):
            snapshot["progress"] = i + 1
            current[0] = i
            t0 = time.time()
            await store.publish(snapshot, "progress")
            deadline = time.monotonic() + 60
            while len(received[i]) < n and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            latencies += [(t - t0) * 1000 for t in received[i]]
            await asyncio.sleep(0.2)
        conns_after = await api_connections(redis)
        await redis.aclose()
        for c in clients:
            c.cancel()
        await asyncio.gather(*clients, return_exceptions=True)
    lost = n * EVENTS - len(latencies)
    return {
        "n": n,
        "conns": max(conns, conns_after),
        "rss_idle": rss_idle,
        "rss": rss,
        "lat": latencies,
        "lost": lost,
    }


async def bench(sizes: list[int]) -> list[dict[str, Any]]:
    with environment() as env:
        return [await measure(env, n) for n in sizes]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    args = parser.parse_args()
    sizes = args.sizes or ([50, 200] if args.quick else [100, 1000, 5000])
    results = asyncio.run(bench(sizes))
    print(f"SSE fan-out: N subscribers of one job, one API process, {EVENTS} events broadcast to all")
    base = results[0]
    rows = [
        [
            r["n"],
            r["conns"],
            f"{r['rss_idle']:.0f}",
            f"{r['rss']:.0f}",
            f"{(r['rss'] - r['rss_idle']) * 1024 / r['n']:.0f}",
            f"{pct(r['lat'], 50):.0f}",
            f"{pct(r['lat'], 99):.0f}",
            f"{pct(r['lat'], 99) / pct(base['lat'], 99):.1f}x",
            r["lost"],
        ]
        for r in results
    ]
    headers = [
        "N",
        "redis conns",
        "RSS idle MB",
        "RSS MB",
        "KB/client",
        "p50 ms",
        "p99 ms",
        "p99 vs first",
        "lost",
    ]
    table(headers, rows)
    big = results[-1]
    p99 = pct(big["lat"], 99)
    print(
        f"targets at N={big['n']}: <= 5 Redis connections {verdict(big['conns'] <= 5)} ({big['conns']}), "
        f"< 300 MB {verdict(big['rss'] < 300)}, p99 < 500 ms {verdict(p99 < 500)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
