"""MCP clients generating at once, and the API's memory per idle MCP session.

    .venv/bin/python bench/bench_mcp.py [--quick] [--clients N] [--idle N]

One `python -m testgen api` (its MCP server at /mcp, stateless) and one worker (offline model, 1 s a
call). N clients of the official MCP SDK (streamable HTTP, in this process) each call
`generate_test_cases` with `wait: true` at the same moment, each for a story of its own, and record the
progress notifications they receive: a sequence is complete when it starts with `queued` and `started`,
ends with `completed` at 100 %, and only increases. First, on the fresh API process, M clients connect,
10 at a time (the handshake and one tool listing), and stay idle: the API's RSS before and after, over M,
is the memory of an idle session. The server is stateless: an idle client holds no session object, at
most its keep-alive connection (uvicorn closes it after 5 s). Before the measurement, 100 clients connect
the same way and leave: the heap of a fresh process grows with the first few dozen handshakes (10 at
once) to a plateau of about 10-30 MB that it keeps, which is no session's; spread over M it read as
hundreds of KB a session with M = 50.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import time
from typing import Any

import httpx2
import psutil
from _harness import (
    cpu_s,
    environment,
    pct,
    rss_mb,
    seed_stories,
    subprocess_api,
    subprocess_worker,
    table,
    verdict,
)
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

LATENCY_S = 1.0  # each model call of the offline provider
IDLE_TARGET_KB = 200
WAVE = 10  # idle clients connecting at once
WARM_UP = 100  # clients connecting (WAVE at once) and leaving before the measurement


def complete(progress: list[tuple[float, str]]) -> bool:
    stages = [message.partition(":")[0] for _, message in progress]
    values = [value for value, _ in progress]
    return (
        len(stages) >= 3
        and stages[:2] == ["queued", "started"]
        and stages[-1] == "completed"
        and values[-1] == 100
        and all(a < b for a, b in itertools.pairwise(values))
    )


async def one_generation(url: str, story: str, start: asyncio.Event) -> dict[str, Any]:
    progress: list[tuple[float, str]] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, message or ""))

    # One connection per client, as separate assistants have; the SDK's default client times out at 5 min.
    limits = httpx2.Limits(max_connections=4, max_keepalive_connections=2)
    async with (
        httpx2.AsyncClient(timeout=httpx2.Timeout(300.0), limits=limits) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        await start.wait()
        began = time.monotonic()
        arguments = {"story_id": story, "num_test_cases": 3, "scenarios_per_test_case": 2, "wait": True}
        result = await client.call_tool("generate_test_cases", arguments, progress_callback=on_progress)
        ended = time.monotonic()
    status = (result.structured_content or {}).get("job", {}).get("status") if not result.is_error else None
    return {
        "began": began,
        "ended": ended,
        "ok": status == "completed",
        "complete": complete(progress),
        "notifications": len(progress),
    }


async def generations(url: str, stories: list[str]) -> dict[str, Any]:
    start = asyncio.Event()
    tasks = [asyncio.create_task(one_generation(url, story, start)) for story in stories]
    await asyncio.sleep(2.0)  # every client connected and waiting for the start
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    done = [r for r in results if isinstance(r, dict)]
    errors = [r for r in results if not isinstance(r, dict)]
    for error in errors[:3]:
        print(f"client error: {type(error).__name__}: {error}")
    first = min(r["began"] for r in done) if done else 0.0
    return {
        "clients": len(stories),
        "ok": sum(r["ok"] for r in done),
        "complete": sum(r["complete"] for r in done),
        "errors": len(errors),
        "wall_s": (max(r["ended"] for r in done) - first) if done else float("nan"),
        "latency_s": [r["ended"] - r["began"] for r in done],
        "notifications": sum(r["notifications"] for r in done),
    }


async def idle_client(url: str, ready: asyncio.Semaphore, release: asyncio.Event) -> None:
    """One assistant connected (the handshake and a tool listing), then idle until `release`."""
    async with (
        httpx2.AsyncClient(timeout=60) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        await client.list_tools()
        ready.release()
        await release.wait()


async def idle_sessions(url: str, pid: int, count: int) -> dict[str, Any]:
    """`count` clients connected at once and idle: the API's RSS growth per client."""
    # Warm up as the measurement connects (WAVE at once), until the heap stops growing: the first
    # calls' imports and caches, and the working set of WAVE handshakes at once, are not a session's.
    for _ in range(WARM_UP // WAVE):
        ready, release = asyncio.Semaphore(0), asyncio.Event()
        release.set()
        await asyncio.gather(*(idle_client(url, ready, release) for _ in range(WAVE)))
    await asyncio.sleep(1.0)
    before = rss_mb([pid])
    ready, release = asyncio.Semaphore(0), asyncio.Event()
    tasks = []
    for start in range(0, count, WAVE):  # a few at a time, as assistants start: not one burst
        wave = min(WAVE, count - start)
        tasks += [asyncio.create_task(idle_client(url, ready, release)) for _ in range(wave)]
        for _ in range(wave):
            await ready.acquire()
    after = rss_mb([pid])
    connections = len([c for c in psutil.Process(pid).net_connections() if c.status == "ESTABLISHED"])
    release.set()
    await asyncio.gather(*tasks)
    kb = (after - before) * 1024 / count
    return {"count": count, "before": before, "after": after, "kb": kb, "connections": connections}


async def bench(clients: int, idle: int) -> tuple[dict[str, Any], dict[str, Any], float]:
    with environment() as env:
        stories = await seed_stories(env.database_url, clients, prefix="M")
        with (
            subprocess_api(env) as (base, api),
            subprocess_worker(env, offline_llm_delay_s=LATENCY_S, worker_max_jobs=max(50, clients)),
        ):
            url = f"{base}/mcp"
            memory = await idle_sessions(url, api.pid, idle)  # first, on a fresh API process
            api_cpu, own_cpu = cpu_s([api.pid]), time.process_time()
            run = await generations(url, stories)
            run["api_cpu_s"] = cpu_s([api.pid]) - api_cpu
            run["client_cpu_s"] = time.process_time() - own_cpu
            rss = rss_mb([api.pid])
    return run, memory, rss


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="20 clients, 50 idle sessions")
    parser.add_argument("--clients", type=int, default=None)
    parser.add_argument("--idle", type=int, default=None)
    args = parser.parse_args()
    clients = args.clients or (20 if args.quick else 200)
    idle = args.idle or (50 if args.quick else 200)
    run, memory, rss = asyncio.run(bench(clients, idle))
    print(
        f"MCP: {clients} clients call generate_test_cases with wait: true at once "
        f"(offline model, {LATENCY_S:.0f} s a call; one API process, one worker)"
    )
    table(
        ["clients", "completed", "progress complete", "errors", "wall s", "p50 s", "p99 s", "notifications"],
        [
            [
                run["clients"],
                run["ok"],
                run["complete"],
                run["errors"],
                f"{run['wall_s']:.2f}",
                f"{pct(run['latency_s'], 50):.2f}",
                f"{pct(run['latency_s'], 99):.2f}",
                run["notifications"],
            ]
        ],
    )
    print(
        f"CPU: the API {run['api_cpu_s']:.2f} s ({run['api_cpu_s'] * 1000 / clients:.0f} ms a call, the REST "
        f"calls in it included); the SDK clients {run['client_cpu_s']:.2f} s "
        f"({run['client_cpu_s'] * 1000 / clients:.0f} ms a client, on the same cores)"
    )
    print()
    table(
        ["idle sessions", "API RSS before MB", "after MB", "KB per session", "open connections"],
        [
            [
                memory["count"],
                f"{memory['before']:.1f}",
                f"{memory['after']:.1f}",
                f"{memory['kb']:.0f}",
                memory["connections"],
            ]
        ],
    )
    print(f"API RSS at the end: {rss:.0f} MB")
    every = run["complete"] == clients and run["ok"] == clients
    print(
        f"targets: every progress sequence complete {verdict(every)} ({run['complete']}/{clients}), "
        f"idle session < {IDLE_TARGET_KB} KB {verdict(memory['kb'] < IDLE_TARGET_KB)} ({memory['kb']:.0f} KB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
