"""Enqueue and status throughput: 100 concurrent clients against one API process.

    .venv/bin/python bench/bench_api.py [--quick]

`python -m testgen api` as a subprocess (no worker: queued jobs stay queued). 100 clients in the
bench process, each on its own keep-alive connection, written with raw asyncio streams: httpx's
own cost at this concurrency tripled the measured p99 (the bench shares the 2 cores with the API,
so figures are a floor). POST /generate-test-cases/{story}/queue with distinct stories, then GET
/status/{task}.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _harness import environment, pct, seed_stories, subprocess_api, table

CONCURRENCY = 100


class Connection:
    """One HTTP/1.1 keep-alive connection: just enough of the protocol for these JSON requests."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        payload = json.dumps(body).encode() if body is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(payload)}\r\n"
        if body is not None:
            head += "Content-Type: application/json\r\n"
        self.writer.write(head.encode() + b"\r\n" + payload)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) != b"\r\n":
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, json.loads(await self.reader.readexactly(length)) if length else None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


Call = Callable[[Connection], Awaitable[int]]


async def load(port: int, requests: list[Call]) -> dict[str, Any]:
    latencies: list[float] = []
    errors = 0
    queue = list(reversed(requests))

    async def client() -> None:
        nonlocal errors
        connection = Connection(port)
        try:
            while queue:
                make = queue.pop()
                t = time.perf_counter()
                try:
                    status = await make(connection)
                except (OSError, asyncio.IncompleteReadError, IndexError):  # connection closed
                    errors += 1
                    await connection.close()
                    connection = Connection(port)
                    continue
                latencies.append((time.perf_counter() - t) * 1000)
                if status >= 300:
                    errors += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(CONCURRENCY)))
    wall = time.perf_counter() - started
    return {"n": len(requests), "rps": len(requests) / wall, "lat": latencies, "errors": errors}


async def bench(n_post: int, n_get: int) -> list[tuple[str, dict[str, Any]]]:
    with environment() as env:
        stories = await seed_stories(env.database_url, n_post + 50, prefix="A")
        with subprocess_api(env) as (base, _):
            port = int(base.rsplit(":", 1)[1])
            warm = Connection(port)
            for s in stories[n_post:]:  # warm-up: imports, DB and Redis pools
                await warm.request("POST", f"/generate-test-cases/{s}/queue", {})
            await warm.close()
            tasks: list[str] = []

            def post(story: str) -> Call:
                async def call(connection: Connection) -> int:
                    status, body = await connection.request("POST", f"/generate-test-cases/{story}/queue", {})
                    if status == 202:
                        tasks.append(body["task_id"])
                    return status

                return call

            def get(task: str) -> Call:
                async def call(connection: Connection) -> int:
                    return (await connection.request("GET", f"/generate-test-cases/status/{task}"))[0]

                return call

            queued = await load(port, [post(s) for s in stories[:n_post]])
            status = await load(port, [get(tasks[i % len(tasks)]) for i in range(n_get)])
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
