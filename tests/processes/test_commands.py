"""The service as real processes: `testgen api` and `testgen worker` started as commands."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from testgen.core.embedded_redis import free_port
from tests.support.harness import LONG_WAIT_S, wait_for_sync
from tests.support.procs import (
    Process,
    answers,
    embedded_env,
    redis_servers,
    stays,
    stop_embedded_redis,
    supervisors,
)

pytestmark = pytest.mark.slow


def _env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **settings_env, "NO_PROXY": "127.0.0.1,localhost"}


def wait_until_answers(url: str, timeout_s: float) -> None:
    """Poll `url` until it answers 200 or `timeout_s` passes (the test's own checks then fail)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)


@pytest.fixture
def api_process(
    database_url: str, redis_url: str, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    env = _env({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "DATA_DIR": str(tmp_path / "data")})
    proc = subprocess.Popen(
        [sys.executable, "-m", "testgen", "api", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    wait_until_answers(f"{base}/openapi.json", LONG_WAIT_S)
    yield proc, base
    if proc.poll() is None:
        proc.kill()
        proc.wait()


async def test_sigterm_ends_sse_streams_with_retry_hint(
    api_process: tuple[subprocess.Popen[bytes], str], redis: object
) -> None:
    proc, base = api_process
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        await client.post("/projects", json={"name": "P"})
        await client.post("/user-stories", json={"id": "US-1", "project_id": 1, "title": "t"})
        job = (await client.post("/generate-test-cases/US-1/queue")).json()  # no worker: stays queued
        received = []
        async with client.stream("GET", job["events_url"]) as response:
            stream = response.aiter_text()
            received.append(await anext(stream))
            proc.send_signal(signal.SIGTERM)
            async for chunk in stream:
                received.append(chunk)
    text = "".join(received)
    assert "event: queued" in text
    # Ended by the API with a retry hint, not cut by uvicorn's graceful-shutdown timeout (5 s) after
    # the last event.
    assert text.rstrip().endswith("retry: 1000")
    await asyncio.to_thread(proc.wait, 10)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down


def _dev(tmp_path: Path, port: int, **env: str) -> Process:
    """`testgen dev` in its own process group (as a shell runs it), on the embedded Redis of tmp_path/data."""
    return Process(
        ["dev", "--port", str(port)], embedded_env(tmp_path / "data", **env), tmp_path, own_group=True
    )


def _running_url(dev: Process) -> str:
    """The URL `testgen dev` prints; it must answer as soon as it is printed."""
    url = dev.wait_for_line(r"testgen is running: (http://\S+/)", 60).group(1)
    base = url.replace("localhost", "127.0.0.1").rstrip("/")
    assert answers(f"{base}/health"), "the URL was printed before the API answered"
    return base


def _stories(http: httpx.Client, *ids: str) -> None:
    for story_id in ids:
        body = {
            "id": story_id,
            "project_id": 1,
            "title": f"Story {story_id}",
            "acceptance_criteria": ["It works"],
        }
        http.post("/user-stories", json=body).raise_for_status()


def _statuses(http: httpx.Client, jobs: list[dict[str, Any]]) -> list[str]:
    return [http.get(job["status_url"]).json()["status"] for job in jobs]


def _end(*devs: Process) -> None:
    """Kill each dev and whatever it started (its API and worker are in process groups of their own);
    the embedded Redis is left to stop_embedded_redis."""
    for dev in devs:
        with contextlib.suppress(psutil.Error):
            family = psutil.Process(dev.pid).children(recursive=True)
            for proc in family:
                if proc.name() != "redis-server" and "serve" not in proc.cmdline():
                    proc.kill()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(dev.pid, signal.SIGKILL)
        dev.kill()


def test_dev_runs_everything_and_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    data = tmp_path / "data"
    dev = _dev(tmp_path, free_port(), EMBEDDED_REDIS_IDLE_S="1")
    try:
        base = _running_url(dev)
        http = httpx.Client(base_url=base, timeout=5)
        stories = http.get("/user-stories").json()
        assert [s["id"] for s in stories] == ["US-001"]  # the demo story
        job = http.post("/generate-test-cases/US-001/queue").json()
        wait_for_sync(lambda: _statuses(http, [job]) == ["completed"], LONG_WAIT_S, "the job to complete")
        children = psutil.Process(dev.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert " api " in f"{names} " and "worker" in names
        assert len(redis_servers(data)) == 1  # the worker shares the API's embedded Redis
        assert (data / "testgen.db").exists()
        dev.proc.send_signal(signal.SIGINT)
        assert dev.wait(30) == 0
        _, alive = psutil.wait_procs(
            [c for c in children if c.pid not in {p.pid for p in redis_servers(data)}], 5
        )
        assert not [p for p in alive if "serve" not in p.cmdline()], [p.cmdline() for p in alive]
        # its users are gone: the embedded Redis stops by itself and says why
        wait_for_sync(
            lambda: not redis_servers(data) and not supervisors(data), 20, "the embedded Redis to stop"
        )
        assert "(its users are gone); stopping it" in (data / "redis.log").read_text()
    finally:
        _end(dev)
        stop_embedded_redis(data)


def test_dev_killed_hard_then_restarted_runs_one_redis_and_completes_every_job(tmp_path: Path) -> None:
    """SIGKILL of the whole `testgen dev` group while three jobs run (an OOM kill, a closed terminal)."""
    data = tmp_path / "data"
    port = free_port()
    # Jobs that take an hour are still running when the group is killed, however slow the machine.
    first = _dev(tmp_path, port, OFFLINE_LLM_DELAY_S="3600", EMBEDDED_REDIS_IDLE_S="60")
    second: Process | None = None
    try:
        http = httpx.Client(base_url=_running_url(first), timeout=5)
        _stories(http, "US-002", "US-003")
        jobs = [http.post(f"/generate-test-cases/{s}/queue").json() for s in ("US-001", "US-002", "US-003")]
        wait_for_sync(lambda: set(_statuses(http, jobs)) == {"generating"}, LONG_WAIT_S, "three running jobs")
        [server] = redis_servers(data)
        family = [p for p in psutil.Process(first.pid).children(recursive=True) if "serve" not in p.cmdline()]
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        _, alive = psutil.wait_procs([p for p in family if p.pid != server.pid], 10)
        assert not alive, [p.cmdline() for p in alive]  # the API and the worker died with dev

        second = _dev(tmp_path, port, OFFLINE_LLM_DELAY_S="0.2", EMBEDDED_REDIS_IDLE_S="60")
        http = httpx.Client(base_url=_running_url(second), timeout=5)
        assert [p.pid for p in redis_servers(data)] == [
            server.pid
        ]  # reattached: one server for the directory
        assert len(supervisors(data)) == 1
        wait_for_sync(lambda: _statuses(http, jobs) == ["completed"] * 3, 90, "every job to complete", 0.5)
    finally:
        _end(first, *([second] if second else []))
        stop_embedded_redis(data)


def test_ctrl_c_twice_on_dev_stops_at_once_with_the_running_jobs_requeued(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = free_port()
    # The jobs take an hour and the worker would wait an hour for them: only the second Ctrl-C ends
    # dev within the minute its exit is waited for.
    dev = _dev(
        tmp_path, port, OFFLINE_LLM_DELAY_S="3600", WORKER_SHUTDOWN_WAIT_S="3600", EMBEDDED_REDIS_IDLE_S="60"
    )
    again: Process | None = None
    try:
        http = httpx.Client(base_url=_running_url(dev), timeout=5)
        _stories(http, "US-002", "US-003")
        jobs = [http.post(f"/generate-test-cases/{s}/queue").json() for s in ("US-001", "US-002", "US-003")]
        wait_for_sync(lambda: set(_statuses(http, jobs)) == {"generating"}, LONG_WAIT_S, "three running jobs")
        dev.proc.send_signal(signal.SIGINT)
        dev.wait_for_line(r"waiting up to 3600 s for 3 running jobs; press Ctrl-C again to stop now", 10)
        dev.proc.send_signal(signal.SIGINT)
        dev.wait(60)
        assert "Stopping now: running jobs go back on the queue" in dev.output
        with sqlite3.connect(data / "testgen.db") as db:
            rows = db.execute("SELECT status, message FROM generation_jobs").fetchall()
        assert [r[0] for r in rows] == ["queued"] * 3 and all("Worker stopped" in r[1] for r in rows), rows

        again = _dev(tmp_path, port, OFFLINE_LLM_DELAY_S="0.2", EMBEDDED_REDIS_IDLE_S="60")
        http = httpx.Client(base_url=_running_url(again), timeout=5)
        wait_for_sync(lambda: _statuses(http, jobs) == ["completed"] * 3, 60, "every job to complete", 0.5)
    finally:
        _end(dev, *([again] if again else []))
        stop_embedded_redis(data)


def test_ctrl_c_in_a_terminal_reaches_worker_processes_once(tmp_path: Path) -> None:
    """`testgen worker --processes 2` in a terminal: a Ctrl-C (SIGINT to the whole foreground group)
    is one stop request for each worker, which waits for its job; a second one stops them at once."""
    data = tmp_path / "data"
    port = free_port()
    env = embedded_env(data, OFFLINE_LLM_DELAY_S="120", EMBEDDED_REDIS_IDLE_S="60")
    assert subprocess.run([sys.executable, "-m", "testgen", "migrate"], env=env, cwd=tmp_path).returncode == 0
    api = Process(["api", "--port", str(port)], env, tmp_path)
    workers = Process(["worker", "--processes", "2"], env, tmp_path, own_group=True)
    try:
        http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)
        wait_for_sync(lambda: answers(f"http://127.0.0.1:{port}/health"), LONG_WAIT_S, "the API")
        http.post("/projects", json={"name": "P"}).raise_for_status()
        _stories(http, "US-1")
        job = http.post("/generate-test-cases/US-1/queue").json()
        wait_for_sync(lambda: _statuses(http, [job]) == ["generating"], LONG_WAIT_S, "the job to run")
        os.killpg(workers.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        workers.wait_for_line(r"waiting up to 30 s for 1 running job; press Ctrl-C again", 10)
        stays(lambda: _statuses(http, [job]) == ["generating"], 2, "the job, after one Ctrl-C")
        os.killpg(workers.pid, signal.SIGINT)
        assert workers.wait(20) == 0
        status = http.get(job["status_url"]).json()
        assert status["status"] == "queued" and "Worker stopped" in status["message"], status
    finally:
        _end(workers)
        api.kill()
        stop_embedded_redis(data)
