"""Several API processes and several workers, as real processes over one Redis and one database:
`testgen api --workers N`, `testgen worker --processes N`, and any API process following any job."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from testgen.core.embedded_redis import free_port
from testgen.core.presence import live_workers
from tests.processes.test_commands import wait_until_answers
from tests.support.harness import LONG_WAIT_S
from tests.support.helpers import make_story, queue, read_events

pytestmark = pytest.mark.slow

Start = Callable[..., tuple[subprocess.Popen[bytes], str]]


def children_of(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    return [c for c in psutil.Process(process.pid).children() if c.is_running() and c.status() != "zombie"]


async def eventually(check: Callable[[], object], timeout_s: float = 30) -> None:
    """Wait until `check()` is true; fail with the last value after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not check():
            await asyncio.sleep(0.1)


@pytest.fixture
def start(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Start]:
    """Start `testgen <args>` against the test's database and Redis; everything is stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LLM_PROVIDER": "offline",
        "NO_PROXY": "127.0.0.1,localhost",
    }

    def run(*args: str, **extra_env: str) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        command = [sys.executable, "-m", "testgen", *args]
        if args[0] == "api":
            command += ["--port", str(port)]
        process = subprocess.Popen(command, env={**env, **extra_env}, cwd=tmp_path, stdout=subprocess.DEVNULL)
        started.append(process)
        base = f"http://127.0.0.1:{port}"
        if args[0] == "api":
            wait_until_answers(f"{base}/health", LONG_WAIT_S)
        return process, base

    yield run
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(process.pid).children(recursive=True):
                child.kill()
            process.kill()
            process.wait()


async def test_api_workers_serve_one_port_and_come_back_when_killed(start: Start) -> None:
    supervisor, base = start("api", "--workers", "2")
    await eventually(lambda: len(children_of(supervisor)) == 2)
    async with AsyncClient(base_url=base, timeout=10) as http:
        for _ in range(10):  # fresh connections, spread over both processes by the kernel
            async with AsyncClient(base_url=base, timeout=10) as fresh:
                assert (await fresh.get("/health")).status_code == 200
        victim = children_of(supervisor)[0]
        victim.kill()
        await eventually(lambda: len(children_of(supervisor)) == 2 and victim not in children_of(supervisor))
        wait_until_answers(f"{base}/health", LONG_WAIT_S)
        assert (await http.get("/health")).status_code == 200
    supervisor.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        while supervisor.poll() is None:
            await asyncio.sleep(0.1)
    assert supervisor.returncode == 0


async def test_any_api_process_follows_jobs_queued_through_another(start: Start, redis: Redis) -> None:
    _, first = start("api")
    _, second = start("api")
    async with AsyncClient(base_url=first, timeout=10) as a, AsyncClient(base_url=second, timeout=10) as b:
        for story in ("US-1", "US-2", "US-3"):
            await make_story(a, story)

        # No worker yet: a stream open on the second process stays open, and counts in the metrics
        # that the first process serves.
        waiting = await queue(a, "US-3")
        async with b.stream("GET", waiting["events_url"]) as stream:
            chunks = stream.aiter_text()  # held: a dropped iterator closes the connection
            await anext(chunks)
            async with asyncio.timeout(30):
                while "testgen_sse_streams_open 1.0\n" not in (await a.get("/metrics")).text:
                    await asyncio.sleep(0.2)

        workers, _ = start("worker", "--processes", "2")
        await eventually(lambda: len(children_of(workers)) == 2)
        async with asyncio.timeout(60):
            while await live_workers(redis) < 2:  # both worker processes beat
                await asyncio.sleep(0.1)
        jobs = [waiting] + [await queue(a, story, num_test_cases=2) for story in ("US-1", "US-2")]
        async with asyncio.timeout(60):
            followed = await asyncio.gather(*(read_events(b, job["events_url"]) for job in jobs))
        for events in followed:
            assert events[0].event == "queued" and events[-1].event == "completed"


def _sample(body: str, line_start: str) -> float | None:
    for line in body.splitlines():
        if line.startswith(line_start + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_every_api_process_serves_the_sum_of_all(start: Start, redis: Redis) -> None:
    """With `--workers 2` a scrape reaches either process: each answers with both processes' counts
    (prometheus-client's multiprocess mode), so counters do not jump between scrapes."""
    supervisor, base = start("api", "--workers", "2")
    await eventually(lambda: len(children_of(supervisor)) == 2)
    queued = 'testgen_jobs_queued_total{kind="generate"}'
    seen: list[float | None] = []
    async with AsyncClient(base_url=base, timeout=10) as http:
        for i in range(6):
            async with AsyncClient(base_url=base, timeout=10) as fresh:  # spread over both processes
                await make_story(fresh, f"US-{i}")
                await queue(fresh, f"US-{i}", num_test_cases=1)
        for _ in range(12):
            async with AsyncClient(base_url=base, timeout=10) as fresh:
                seen.append(_sample((await fresh.get("/metrics")).text, queued))
        assert (await http.get("/health")).status_code == 200
    assert seen == [6.0] * 12


async def test_workers_of_one_supervisor_serve_their_sum_on_one_port(start: Start, redis: Redis) -> None:
    _, base = start("api")
    port = free_port()
    workers, _ = start(
        "worker",
        "--processes",
        "2",
        WORKER_METRICS_PORT=str(port),
        WORKER_MAX_JOBS="1",
        OFFLINE_LLM_DELAY_S="0.3",
    )
    await eventually(lambda: len(children_of(workers)) == 2)
    async with asyncio.timeout(60):
        while await live_workers(redis) < 2:
            await asyncio.sleep(0.1)
    completed = 'testgen_jobs_total{kind="generate",outcome="completed"}'
    async with AsyncClient(base_url=base, timeout=10) as http:
        jobs = []
        for i in range(6):
            await make_story(http, f"US-{i}")
            jobs.append(await queue(http, f"US-{i}", num_test_cases=1))
        async with asyncio.timeout(60):
            for job in jobs:
                assert (await read_events(http, job["events_url"]))[-1].event == "completed"
    # A worker counts a job once it has published its end: the last count may come just after the event.
    async with AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as scrape:
        for _ in range(200):
            body = (await scrape.get("/metrics")).text
            if _sample(body, completed) == 6.0:
                break
            await asyncio.sleep(0.1)
    assert _sample(body, completed) == 6.0, body
    assert _sample(body, 'testgen_job_pickup_seconds_count{kind="generate"}') == 6.0
