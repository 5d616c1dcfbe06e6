"""Per-request cost against the stack's floor: testgen beside a minimal app on the same stack.

    .venv/bin/python bench/bench_floor.py [--quick] [--database sqlite|postgres]

Both run as one uvicorn process each, on the same database and Redis, at the same time: testgen
(`python -m testgen api`) and bench/_floor_app.py, which does exactly the database reads and writes
and the Redis commands one enqueue, one status read and one story read need, the plain way. One
sequential client alternates between them in rounds of 25 requests (so drift hits both alike) and
measures p50 per request; then 100 concurrent clients enqueue distinct stories on each, one after
the other, for throughput. Client limits are off on testgen's side (the floor has none).

Targets (ratios to the floor measured in the same run): GET story and GET status p50 within 1.3x,
enqueue p50 within 1.5x, enqueue throughput at 100 clients at least 0.7x.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from _harness import (
    ROOT,
    Env,
    environment,
    free_port,
    pct,
    seed_stories,
    stop,
    subprocess_api,
    table,
    verdict,
    wait_port,
)
from bench_api import Connection, load

ROUND = 25
TARGETS = {"enqueue": 1.5, "status": 1.3, "story": 1.3}
THROUGHPUT_TARGET = 0.7


@contextlib.contextmanager
def floor_app(env: Env) -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(ROOT / "bench"),
            "_floor_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env.env_vars(),
        cwd=ROOT,
    )
    try:
        wait_port(port, proc)
        yield port
    finally:
        stop(proc)


async def sequential(
    ports: dict[str, int], stories: dict[str, list[str]], n: int
) -> dict[str, dict[str, list[float]]]:
    """p50 material: n requests of each kind per app, one at a time, alternating apps every ROUND."""
    lat: dict[str, dict[str, list[float]]] = {
        app: {"enqueue": [], "status": [], "story": []} for app in ports
    }
    conns = {app: Connection(port) for app, port in ports.items()}
    tasks: dict[str, list[str]] = {app: [] for app in ports}
    try:
        for kind in ("enqueue", "status", "story"):
            for start in range(0, n, ROUND):
                for app, conn in conns.items():
                    for i in range(start, min(n, start + ROUND)):
                        if kind == "enqueue":
                            path, method, body = f"/generate-test-cases/{stories[app][i]}/queue", "POST", {}
                        elif kind == "status":
                            path, method, body = (
                                f"/generate-test-cases/status/{tasks[app][i % len(tasks[app])]}",
                                "GET",
                                None,
                            )
                        else:
                            path, method, body = f"/user-stories/{stories[app][i]}", "GET", None
                        t = time.perf_counter()
                        status, answer = await conn.request(method, path, body)
                        lat[app][kind].append((time.perf_counter() - t) * 1000)
                        if status >= 300:
                            raise RuntimeError(f"{app} {method} {path}: {status} {answer}")
                        if kind == "enqueue":
                            tasks[app].append(answer["task_id"])
    finally:
        for conn in conns.values():
            await conn.close()
    return lat


async def bench(n_seq: int, n_load: int, postgres_url: str | None) -> dict[str, Any]:
    with environment(postgres_url) as env:
        per_app = n_seq + n_load + 20
        stories = {
            "testgen": await seed_stories(env.database_url, per_app, prefix="T"),
            "floor": await seed_stories(env.database_url, per_app, prefix="F"),
        }
        with subprocess_api(env) as (base, _), floor_app(env) as floor_port:
            ports = {"testgen": int(base.rsplit(":", 1)[1]), "floor": floor_port}
            warm = {app: stories[app][-20:] for app in ports}  # imports, pools, caches
            for app, port in ports.items():
                conn = Connection(port)
                for story in warm[app]:
                    await conn.request("POST", f"/generate-test-cases/{story}/queue", {})
                    await conn.request("GET", f"/user-stories/{story}")
                await conn.close()
            seq_stories = {app: stories[app][:n_seq] for app in ports}
            lat = await sequential(ports, seq_stories, n_seq)
            throughput = {}
            for app, port in ports.items():

                def post(story: str, _app: str = app) -> Any:
                    async def call(connection: Connection) -> int:
                        return (await connection.request("POST", f"/generate-test-cases/{story}/queue", {}))[
                            0
                        ]

                    return call

                throughput[app] = await load(port, [post(s) for s in stories[app][n_seq : n_seq + n_load]])
    return {"lat": lat, "throughput": throughput}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
        help="with --database postgres: a URL of the server (a fresh database is made on it)",
    )
    args = parser.parse_args()
    n_seq, n_load = (100, 300) if args.quick else (400, 1000)
    result = asyncio.run(bench(n_seq, n_load, args.database_url if args.database == "postgres" else None))
    lat, throughput = result["lat"], result["throughput"]
    print(f"Per-request cost against the floor ({args.database}), one sequential client; then 100 clients")
    rows, ok = [], True
    for kind, target in TARGETS.items():
        ours, floor = pct(lat["testgen"][kind], 50), pct(lat["floor"][kind], 50)
        met = ours / floor <= target
        ok &= met
        rows.append(
            [
                f"{kind} p50",
                f"{ours:.2f} ms",
                f"{floor:.2f} ms",
                f"{ours / floor:.2f}x",
                f"<= {target}x",
                verdict(met),
            ]
        )
    ours_rps, floor_rps = throughput["testgen"]["rps"], throughput["floor"]["rps"]
    met = ours_rps / floor_rps >= THROUGHPUT_TARGET
    ok &= met
    rows.append(
        [
            "enqueue req/s, 100 clients",
            f"{ours_rps:.0f}",
            f"{floor_rps:.0f}",
            f"{ours_rps / floor_rps:.2f}x",
            f">= {THROUGHPUT_TARGET}x",
            verdict(met),
        ]
    )
    table(["measure", "testgen", "floor", "ratio", "target", ""], rows)
    errors = throughput["testgen"]["errors"] + throughput["floor"]["errors"]
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
