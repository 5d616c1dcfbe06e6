"""The service as real processes: `testgen api` and `testgen worker` started as commands."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from testgen.core.embedded_redis import free_port
from tests.helpers import wait_for_sync

ROOT = Path(__file__).resolve().parent.parent


def _env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **settings_env, "NO_PROXY": "127.0.0.1,localhost"}


def wait_until_answers(url: str, timeout_s: float) -> None:
    """Poll `url` until it answers 200; fail after `timeout_s`."""

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for_sync(answers, what=f"{url} to answer 200", timeout_s=timeout_s)


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
    wait_until_answers(f"{base}/openapi.json", 20)
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
            t0 = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            async for chunk in stream:
                received.append(chunk)
            closed_after = time.monotonic() - t0
    text = "".join(received)
    assert "event: queued" in text
    assert text.rstrip().endswith("retry: 1000")
    assert closed_after < 5
    await asyncio.to_thread(proc.wait, 10)
    assert proc.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has shut down


def test_dev_runs_everything_and_ctrl_c_leaves_nothing_behind(tmp_path: Path) -> None:
    import psutil

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "LLM_PROVIDER")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    dev = subprocess.Popen(
        [sys.executable, "-m", "testgen", "dev", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/health", 30)
        stories = httpx.get(f"http://127.0.0.1:{port}/user-stories", timeout=5).json()
        assert [s["id"] for s in stories] == ["US-001"]  # the demo story
        job = httpx.post(f"http://127.0.0.1:{port}/generate-test-cases/US-001/queue", timeout=5).json()
        url = f"http://127.0.0.1:{port}{job['status_url']}"
        # the worker shares the API's embedded Redis
        wait_for_sync(lambda: httpx.get(url, timeout=5).json()["status"] == "completed", what="completed")
        children = psutil.Process(dev.pid).children(recursive=True)
        names = " ".join(" ".join(c.cmdline()) for c in children)
        assert "redis-server" in names and " api " in f"{names} " and "worker" in names
        assert (tmp_path / "data" / "testgen.db").exists()
    finally:
        dev.send_signal(signal.SIGINT)
        dev.wait(30)
    output = dev.stdout.read().decode() if dev.stdout else ""
    assert f"http://localhost:{port}/" in output
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, [p.cmdline() for p in alive]
