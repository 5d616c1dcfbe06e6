"""Redis through Sentinel: a real redis-server master and a redis-sentinel process on loopback, and a job
run end to end by the API and a worker that know only the sentinel's address."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from httpx import AsyncClient
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from testgen.api.app import create_app
from testgen.core import embedded_redis
from testgen.core.config import Settings
from tests.support.harness import run_worker
from tests.support.helpers import make_story, queue, read_events

pytestmark = pytest.mark.slow

MASTER = "testgen-master"


@pytest.fixture
async def sentinel(tmp_path: Path) -> AsyncIterator[tuple[int, int]]:
    """A master on a free loopback port and a sentinel watching it; yields (master port, sentinel port)."""
    master = embedded_redis.start(
        data_dir=tmp_path / "master", port=embedded_redis.free_port(), persist=False
    )
    master_port = int(master.url.rsplit(":", 1)[1].split("/")[0])
    port = embedded_redis.free_port()
    conf = tmp_path / "sentinel.conf"  # Sentinel rewrites its configuration file: one of our own
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {master_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 60000\n"
    )
    process = await asyncio.create_subprocess_exec(
        str(embedded_redis.redis_server_binary()),
        str(conf),
        "--sentinel",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        await _wait_for_master(port, master_port)
        yield master_port, port
    finally:
        process.terminate()
        async with asyncio.timeout(10):
            await process.wait()
        await asyncio.to_thread(master.stop)


async def _wait_for_master(port: int, master_port: int) -> None:
    client = Redis(host="127.0.0.1", port=port)
    try:
        async with asyncio.timeout(15):
            while True:
                with contextlib.suppress(RedisError, OSError):
                    found = await client.execute_command("SENTINEL", "get-master-addr-by-name", MASTER)
                    if found and int(found[1]) == master_port:
                        return
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


@pytest.fixture
def sentinel_settings(settings: Settings, sentinel: tuple[int, int]) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=settings.database_url,
        redis_url=None,
        redis_sentinels=f"127.0.0.1:{sentinel[1]}",
        redis_sentinel_master=MASTER,
        data_dir=settings.data_dir,
        llm_provider="offline",
    )


@contextlib.asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                yield client
        finally:
            server.should_exit = True
            await task


async def test_a_job_runs_end_to_end_through_sentinel(
    sentinel_settings: Settings, sentinel: tuple[int, int]
) -> None:
    assert not sentinel_settings.uses_embedded_redis
    async with serve(sentinel_settings) as http, run_worker(sentinel_settings):
        await make_story(http, "US-1")
        job = await queue(http, "US-1", num_test_cases=2, scenarios_per_test_case=2)
        async with asyncio.timeout(30):
            events = await read_events(http, job["events_url"])
        assert events[-1].event == "completed"
        assert len(events[-1].data["result"]["test_cases"]) == 2
        ready = await http.get("/ready")
    assert ready.json()["checks"]["redis"] == "ok"
    master = Redis(host="127.0.0.1", port=sentinel[0])
    try:  # the job's state really went to the master the sentinel named
        assert await master.exists(f"testgen:job:{job['task_id']}:events")
    finally:
        await master.aclose()


def test_sentinel_addresses_are_parsed_strictly() -> None:
    settings = Settings(_env_file=None, redis_sentinels="10.0.0.1:26379, sentinel-b:26380")  # type: ignore[call-arg]
    assert settings.redis_sentinel is not None
    assert settings.redis_sentinel.sentinels == (("10.0.0.1", 26379), ("sentinel-b", 26380))
    assert settings.effective_redis_url == "redis+sentinel://10.0.0.1:26379,sentinel-b:26380/mymaster"
    for bad in ("sentinel-a", "host:port", "host:70000", ":26379"):
        with pytest.raises(ValidationError, match="REDIS_SENTINELS"):
            Settings(_env_file=None, redis_sentinels=bad)  # type: ignore[call-arg]
