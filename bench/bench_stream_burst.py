"""A burst of event-stream opens must not lock other requests out of the database.

    .venv/bin/python bench/bench_stream_burst.py [--quick]

`python -m testgen api` as a subprocess (no worker: the jobs stay queued), 200 queued jobs. Then 100
clients open `GET /generate-test-cases/events` with all 200 `task_id`s at once, read the status
line and never read further; meanwhile one client sends `GET /projects` back to back on a
keep-alive connection, from the start of the burst until one second after the last stream opened.
Target: `GET /projects` p99 < 500 ms, and every stream opens (200).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time

import httpx
from _harness import environment, pct, seed_stories, subprocess_api, table

TARGET_P99_S = 0.5


async def open_and_hold(port: int, path: str, opened: list[int], release: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n"
        writer.write(request.encode())
        status_line = await reader.readline()
        opened.append(int(status_line.split()[1]))
        await release.wait()  # never read the body: it stays in the socket buffers
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def sample(client: httpx.AsyncClient, latencies: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t0 = time.perf_counter()
        r = await client.get("/projects")
        latencies.append(time.perf_counter() - t0)
        if r.status_code != 200:
            raise RuntimeError(f"GET /projects answered {r.status_code}: {r.text[:200]}")


async def run(streams: int, jobs: int) -> bool:
    with environment() as env:
        stories = await seed_stories(env.database_url, jobs)
        with subprocess_api(env) as (url, _proc):
            port = int(url.rsplit(":", 1)[1])
            async with httpx.AsyncClient(base_url=url, timeout=60) as client:
                tasks = []
                for story in stories:
                    r = await client.post(f"/generate-test-cases/{story}/queue")
                    tasks.append(r.json()["task_id"])
                path = "/generate-test-cases/events?" + "&".join(f"task_id={t}" for t in tasks)
                for _ in range(20):  # warm-up
                    await client.get("/projects")

                opened: list[int] = []
                latencies: list[float] = []
                release, stop = asyncio.Event(), asyncio.Event()
                t0 = time.perf_counter()
                sampler = asyncio.create_task(sample(client, latencies, stop))
                holders = [
                    asyncio.create_task(open_and_hold(port, path, opened, release)) for _ in range(streams)
                ]
                async with asyncio.timeout(120):
                    while len(opened) < streams:
                        await asyncio.sleep(0.01)
                all_open_s = time.perf_counter() - t0
                await asyncio.sleep(1.0)  # keep sampling while the open streams sit unread
                stop.set()
                await sampler
                release.set()
                await asyncio.gather(*holders)

    ok = opened == [200] * streams and pct(latencies, 99) < TARGET_P99_S
    print(f"{streams} streams x {jobs} task ids, opened at once and never read; GET /projects meanwhile\n")
    table(
        ["what", "value"],
        [
            ["streams answered 200", f"{opened.count(200)} / {streams}"],
            ["all streams open after", f"{all_open_s:.2f} s"],
            ["GET /projects samples", len(latencies)],
            ["p50", f"{pct(latencies, 50) * 1000:.1f} ms"],
            ["p99", f"{pct(latencies, 99) * 1000:.1f} ms"],
            ["max", f"{max(latencies) * 1000:.1f} ms"],
        ],
    )
    print(f"\ntarget p99 < {TARGET_P99_S * 1000:.0f} ms: {'met' if ok else 'MISSED'}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 streams x 50 jobs (a smoke run)")
    args = parser.parse_args()
    streams, jobs = (20, 50) if args.quick else (100, 200)
    ok = asyncio.run(run(streams, jobs))
    if args.quick:
        print("(quick run: the target applies to the full run)")
        return 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
