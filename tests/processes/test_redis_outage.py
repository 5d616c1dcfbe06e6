"""A Redis outage while a worker process idles and while it runs a job: stock arq's worker
(`arq workers.WorkerSettings`, run from the repository root) and `testgen worker` ride it out."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from testgen.api.app import create_app
from testgen.core import embedded_redis
from testgen.core.config import Settings
from tests.support.harness import LONG_WAIT_S, ROOT, wait_for
from tests.support.helpers import is_status, make_story, queue, read_events, wait_for_job
from tests.support.procs import ARQ, TESTGEN, Process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

JOB_S = 2.0  # the offline model's answer time: the job is mid-run when Redis stops
FINAL = ("completed", "failed", "cancelled")
COMMANDS = {"arq": (ARQ, ["workers.WorkerSettings"]), "testgen": (TESTGEN, ["worker"])}


def start_worker(kind: str, settings: Settings, tmp_path: Path) -> Process:
    program, args = COMMANDS[kind]
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "LLM_PROVIDER")}
    env |= {
        "NO_PROXY": "127.0.0.1,localhost",
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.effective_redis_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LLM_PROVIDER": "offline",
        "OFFLINE_LLM_DELAY_S": str(JOB_S),
    }
    # As users run them: stock arq from the repository root (it imports `workers`), ours from anywhere.
    return Process(args, env, ROOT if kind == "arq" else tmp_path, program=program)


class RestartableRedis:
    """A private Redis that keeps its data (append-only file) across a stop and a start on one port."""

    def __init__(self, tmp_path: Path) -> None:
        self.port, self.data = embedded_redis.free_port(), tmp_path / "redis"
        self.server = self._start()

    def _start(self) -> embedded_redis.EmbeddedRedis:
        return embedded_redis.start(data_dir=self.data, port=self.port, persist=True)

    @asynccontextmanager
    async def outage(self, seconds: float, alive: Callable[[], None]) -> AsyncIterator[None]:
        """Redis is down for the block and at least `seconds`; `alive()` is checked throughout."""
        self.server.stop()
        back_at = time.monotonic() + seconds
        yield
        while time.monotonic() < back_at:
            alive()
            await asyncio.sleep(0.1)
        alive()
        self.server = self._start()


@asynccontextmanager
async def api(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


async def final_state(client: AsyncClient, status_url: str, alive: Callable[[], None]) -> dict[str, Any]:
    """The job's final state, from its database row via the API, while its worker stays alive."""

    async def check() -> dict[str, Any] | None:
        alive()
        status: dict[str, Any] = (await client.get(status_url)).json()
        return status if status["status"] in FINAL else None

    # A worker process on a busy machine: reconnecting to Redis and running the job take seconds.
    result: dict[str, Any] = await wait_for(check, what=f"{status_url} to be final", timeout_s=LONG_WAIT_S)
    return result


async def generate(client: AsyncClient, story_id: str, alive: Callable[[], None]) -> dict[str, Any]:
    job = await queue(client, story_id, num_test_cases=2)
    return await final_state(client, job["status_url"], alive)


@pytest.mark.parametrize(
    ("kind", "outage_s"),
    [
        pytest.param("arq", 10, id="arq-10s"),  # the outage users saw arq's own worker exit on
        pytest.param("testgen", 4, id="testgen-4s"),
    ],
)
async def test_a_worker_survives_a_redis_outage_idle_and_mid_job(
    kind: str, outage_s: float, settings: Settings, tmp_path: Path
) -> None:
    redis = RestartableRedis(tmp_path)
    settings.redis_url = SecretStr(redis.server.url)
    worker = start_worker(kind, settings, tmp_path)

    def alive() -> None:
        assert worker.proc.poll() is None, f"the worker exited:\n{worker.output[-4000:]}"

    try:
        async with api(settings) as client:
            for story in ("US-001", "US-002", "US-003"):
                await make_story(client, story)
            await asyncio.to_thread(worker.wait_for_line, "Worker ready", 60)

            async with redis.outage(outage_s, alive):  # idle
                pass
            first = await generate(client, "US-001", alive)
            assert first["status"] == "completed", first

            job = await queue(client, "US-002", num_test_cases=2)
            await wait_for_job(
                client, job["status_url"], is_status("generating"), what="generating", timeout_s=LONG_WAIT_S
            )
            async with redis.outage(outage_s, alive):
                # The model answers while Redis is away: the job does not wait for Redis to finish.
                during = await final_state(client, job["status_url"], alive)
            assert during["status"] == "completed", during
            assert len(during["result"]["test_cases"]) == 2, during
            # Redis has the final state too, once back: the job's event stream ends with it.
            events = await read_events(client, job["events_url"])
            assert events[-1].event == "completed", events

            after = await generate(client, "US-003", alive)
            assert after["status"] == "completed", after
            alive()
    finally:
        worker.kill()
        redis.server.stop()
