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

from testgen.embedded_redis import free_port

ROOT = Path(__file__).resolve().parent.parent


def _env(settings_env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **settings_env, "NO_PROXY": "127.0.0.1,localhost"}


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
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/openapi.json", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
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
