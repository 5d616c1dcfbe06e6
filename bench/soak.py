"""Soak: a steady load of jobs and SSE clients on one API + one worker process, checked for losses.

    .venv/bin/python bench/soak.py [--quick] [--seconds 60] [--jobs 200] [--clients 500]

API (`python -m testgen api`) and worker (`python -m testgen worker`, offline model 0.3 s/batch,
3 batches per job) run as subprocesses. Each of `--jobs` stories has one driver that keeps exactly
one job of its story in flight: queue it, let the story's SSE clients follow it to the end, queue
the next. The `--clients` SSE clients are spread round-robin over the stories; each one subscribes
to its story's current job (`/generate-test-cases/status/<task>/events`, raw TCP reader) and, when
that stream ends, to the next job. No new jobs are queued after `--seconds`; the ones in flight
drain.

Checks: no HTTP error (queue != 202, stream != 200, connection errors); no lost event: for every
(client, job) the ids received equal the job's Redis stream (XRANGE) exactly, in order, and end in
`completed`; no job failed or stuck. API and worker RSS are sampled every 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from _harness import (
    environment,
    rss_mb,
    seed_stories,
    sse_client,
    subprocess_api,
    subprocess_worker,
    table,
)
from redis.asyncio import Redis

from testgen.core.redis_keys import events_key

OPTIONS = {"num_test_cases": 15, "scenarios_per_test_case": 3}  # 3 batches
STREAM_TIMEOUT_S = 120.0


@dataclass
class Stats:
    queued: int = 0
    queue_errors: list[str] = field(default_factory=list)
    sse_errors: list[str] = field(default_factory=list)
    finished_in_window: int = 0
    # (task id) -> list of id sequences, one per client that followed it
    seen: dict[str, list[list[tuple[str, str]]]] = field(default_factory=dict)
    connected: int = 0
    mismatches: list[str] = field(default_factory=list)
    connected_samples: list[int] = field(default_factory=list)
    rss: dict[str, list[float]] = field(default_factory=lambda: {"api": [], "worker": []})


async def follow(port: int, task: str, stats: Stats) -> None:
    events: list[tuple[str, str]] = []
    stats.connected += 1
    try:
        await asyncio.wait_for(
            sse_client(
                port,
                f"/generate-test-cases/status/{task}/events",
                lambda event, ident, _t: events.append((ident, event)),
            ),
            STREAM_TIMEOUT_S,
        )
    except Exception as exc:  # HTTP status other than 200, reset, timeout
        stats.sse_errors.append(f"{task}: {exc!r}")
    finally:
        stats.connected -= 1
        stats.seen.setdefault(task, []).append(events)


async def driver(
    http: httpx.AsyncClient, port: int, story: str, n_clients: int, stop_at: float, stats: Stats
) -> None:
    while time.monotonic() < stop_at:
        try:
            r = await http.post(f"/generate-test-cases/{story}/queue", json=OPTIONS)
        except httpx.HTTPError as exc:
            stats.queue_errors.append(f"{story}: {exc!r}")
            await asyncio.sleep(1)
            continue
        if r.status_code != 202:
            stats.queue_errors.append(f"{story}: {r.status_code} {r.text[:200]}")
            await asyncio.sleep(1)
            continue
        stats.queued += 1
        task = r.json()["task_id"]
        await asyncio.gather(*(follow(port, task, stats) for _ in range(n_clients)))
        if time.monotonic() < stop_at:
            stats.finished_in_window += 1


async def sampler(pids: dict[str, int], stats: Stats, interval: float = 5.0) -> None:
    while True:  # first sample after `interval`: the worker imports lazily, RSS at t=0 means nothing
        await asyncio.sleep(interval)
        for name, pid in pids.items():
            stats.rss[name].append(rss_mb([pid]))
        stats.connected_samples.append(stats.connected)


async def verify(redis_url: str, stats: Stats) -> dict[str, int]:
    """Compare what every client saw with the job's Redis stream."""
    redis = Redis.from_url(redis_url)
    out = {"jobs": 0, "completed": 0, "not_completed": 0, "followers": 0, "exact": 0, "lost": 0, "extra": 0}
    try:
        tasks = list(stats.seen)
        for start in range(0, len(tasks), 200):
            chunk = tasks[start : start + 200]
            async with redis.pipeline(transaction=False) as pipe:
                for task in chunk:
                    pipe.xrange(events_key(task))
                streams = await pipe.execute()
            for task, entries in zip(chunk, streams, strict=True):
                truth = [(eid.decode(), fields[b"event"].decode()) for eid, fields in entries]
                out["jobs"] += 1
                if truth and truth[-1][1] == "completed":
                    out["completed"] += 1
                else:
                    out["not_completed"] += 1
                for got in stats.seen[task]:
                    out["followers"] += 1
                    if got == truth:
                        out["exact"] += 1
                    else:
                        missing = [e for e in truth if e not in got]
                        stats.mismatches.append(f"{task}: got {got} / stream {truth}")
                        out["lost"] += len(missing)
                        out["extra"] += len([e for e in got if e not in truth]) + len(got) - len(set(got))
    finally:
        await redis.aclose()
    return out


async def soak(seconds: float, n_jobs: int, n_clients: int, delay: float) -> dict[str, Any]:
    stats = Stats()
    with environment() as env:
        stories = await seed_stories(env.database_url, n_jobs, prefix="S")
        per_story = [n_clients // n_jobs + (1 if i < n_clients % n_jobs else 0) for i in range(n_jobs)]
        with (
            subprocess_api(env) as (base, api),
            subprocess_worker(env, offline_llm_delay_s=delay, worker_max_jobs=max(50, n_jobs)) as worker,
        ):
            port = int(base.rsplit(":", 1)[1])
            limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
            sample = asyncio.create_task(sampler({"api": api.pid, "worker": worker.pid}, stats))
            async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
                started = time.monotonic()
                stop_at = started + seconds
                await asyncio.gather(
                    *(
                        driver(http, port, s, n, stop_at, stats)
                        for s, n in zip(stories, per_story, strict=True)
                    )
                )
                wall = time.monotonic() - started
            sample.cancel()
            for name, pid in (("api", api.pid), ("worker", worker.pid)):
                stats.rss[name].append(rss_mb([pid]))
        checked = await verify(env.redis_url, stats)
    return {"stats": stats, "checked": checked, "wall": wall, "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="~15 s, 20 jobs, 50 clients")
    parser.add_argument("--seconds", type=float)
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--clients", type=int)
    parser.add_argument("--delay", type=float, default=0.3, help="offline model seconds per batch")
    args = parser.parse_args()
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    n_jobs = args.jobs or (20 if args.quick else 200)
    n_clients = args.clients or (50 if args.quick else 500)
    r = asyncio.run(soak(seconds, n_jobs, n_clients, args.delay))
    stats: Stats = r["stats"]
    c = r["checked"]
    conn = stats.connected_samples or [0]
    print(
        f"soak: {seconds:.0f} s, {n_jobs} jobs in flight, {n_clients} SSE clients, "
        f"offline model {args.delay} s/batch x 3 batches; drained after {r['wall']:.1f} s"
    )
    rows: list[list[Any]] = [
        ["jobs queued / finished in window", f"{stats.queued} / {stats.finished_in_window}"],
        ["jobs completed per second (window)", f"{stats.finished_in_window / seconds:.1f}"],
        ["jobs completed (Redis) / not completed", f"{c['completed']} / {c['not_completed']}"],
        ["SSE connected (avg / min of 5 s samples)", f"{statistics.mean(conn):.0f} / {min(conn)}"],
        ["client-job streams checked", c["followers"]],
        ["  identical to XRANGE, ending completed", c["exact"]],
        ["  events lost / extra or duplicated", f"{c['lost']} / {c['extra']}"],
        ["HTTP errors: queue / SSE", f"{len(stats.queue_errors)} / {len(stats.sse_errors)}"],
    ]
    for name, values in stats.rss.items():
        rows.append(
            [f"{name} RSS MB first / last / max", f"{values[0]:.0f} / {values[-1]:.0f} / {max(values):.0f}"]
        )
        rows.append([f"{name} RSS MB every 5 s", " ".join(f"{v:.0f}" for v in values)])
    table(["measure", "value"], rows)
    for err in (stats.queue_errors + stats.sse_errors + stats.mismatches)[:10]:
        print("error:", err)
    ok = (
        not stats.queue_errors
        and not stats.sse_errors
        and c["not_completed"] == 0
        and c["exact"] == c["followers"]
        and c["followers"] > 0
    )
    print("soak:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
