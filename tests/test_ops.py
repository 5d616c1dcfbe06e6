from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from arq.constants import health_check_key_suffix
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from pydantic import SecretStr
from redis.asyncio import Redis

from testgen.api.app import create_app
from testgen.api.services import ops
from testgen.core.config import Settings
from testgen.core.database import create_engine, create_sessionmaker
from testgen.core.redis_keys import QUEUE_NAME
from testgen.data.models import GenerationJob
from tests.conftest import ROOT, run_worker
from tests.fake_services import LeakyPostgres, LeakyRedis
from tests.helpers import make_story, queue, read_events, wait_for

ARQ_HEALTH_KEY = QUEUE_NAME + health_check_key_suffix

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse_metrics(body: str) -> Samples:
    """A strict-enough reader of the Prometheus text format: every line is a comment or a sample."""
    samples: Samples = {}
    typed: set[str] = set()
    for line in body.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"{name} has no TYPE line before it"
        pairs = frozenset(_LABEL.findall(labels or ""))
        assert (name, pairs) not in samples, f"duplicate sample {line!r}"
        samples[(name, pairs)] = float(value)
    return samples


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def _ready(client: AsyncClient) -> Response | None:
    r = await client.get("/ready")
    return r if r.status_code == 200 else None


@asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[AsyncClient]:
    app: FastAPI = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as client,
    ):
        yield client


async def test_health_is_ok(client: AsyncClient) -> None:
    r = await client.get("/health")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


async def test_ready_with_a_worker(client: AsyncClient, settings: Settings) -> None:
    async with run_worker(settings):
        r = await wait_for(
            lambda: _ready(client), what="/ready to answer 200 (the worker beats once started)"
        )
        assert r.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "workers": "ok"}}
    # A worker that stops cleanly removes the heartbeat at once.
    r = await client.get("/ready")
    assert r.status_code == 503 and r.json()["checks"]["workers"].startswith("none seen")


async def test_ready_without_a_worker_names_workers(client: AsyncClient) -> None:
    r = await client.get("/ready")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"] == "ok"
    assert body["checks"]["workers"].startswith("none seen")


async def test_ready_when_redis_is_down_names_redis_without_its_password(settings: Settings) -> None:
    with LeakyRedis() as leaky:
        settings.redis_url = SecretStr(leaky.url("hunter2secret"))
        async with app_client(settings) as client:
            t0 = time.monotonic()
            r = await client.get("/ready")
            assert time.monotonic() - t0 < 10  # a refusal, not the 3 s check timeout per probe
            await make_story(client, "US-1")
            queued = await client.post("/generate-test-cases/US-1/queue")
            scraped = await client.get("/metrics")
    assert any("hunter2secret" in e for e in leaky.errors)  # the error Redis sent carried it
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert "hunter2secret" not in r.text
    assert checks["redis"].startswith("down: ResponseError: ") and checks["database"] == "ok"
    assert "***" in checks["redis"]
    assert checks["workers"] != "ok"
    assert queued.status_code == 503 and "hunter2secret" not in queued.text
    # Metrics still come from the database; the Redis figures are left out.
    assert scraped.status_code == 200
    samples = parse_metrics(scraped.text)
    assert metric(samples, "testgen_redis_up") == 0
    assert not any(name == "testgen_queue_depth" for name, _ in samples)


async def test_ready_when_the_database_is_down_names_it_without_its_password(settings: Settings) -> None:
    with LeakyPostgres() as leaky:
        settings.database_url = leaky.url("pa55word-xyz")
        async with app_client(settings) as client:
            r = await client.get("/ready")
            scraped = await client.get("/metrics")
            listed = await client.get("/user-stories")
    assert any("pa55word-xyz" in e for e in leaky.errors)  # the error the server sent carried it
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert "pa55word-xyz" not in r.text
    assert checks["database"].startswith("down: ") and checks["redis"] == "ok"
    assert "***" in checks["database"]
    assert listed.status_code == 503 and listed.json()["detail"].startswith("database unavailable")
    assert scraped.status_code == 503 and scraped.json()["detail"].startswith("database unavailable")


async def _insert_failed_job(database_url: str, story_id: str, seconds: float, error_type: str) -> None:
    engine = create_engine(database_url)
    started = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    async with create_sessionmaker(engine)() as session:
        session.add(
            GenerationJob(
                id=str(uuid.uuid4()),
                story_id=story_id,
                status="failed",
                error={"type": error_type, "message": "it broke"},
                started_at=started,
                finished_at=started + dt.timedelta(seconds=seconds),
            )
        )
        await session.commit()
    await engine.dispose()


async def test_metrics_after_a_completed_job(
    http: AsyncClient, settings: Settings, database_url: str, redis: Redis
) -> None:
    await make_story(http, "US-001")
    await make_story(http, "US-002")
    async with run_worker(settings):
        done = await queue(http, "US-001", num_test_cases=4, scenarios_per_test_case=2)
        events = await read_events(http, done["events_url"])
    assert events[-1].event == "completed"
    stats = events[-1].data["result"]["stats"]
    await _insert_failed_job(database_url, "US-001", 42.0, "timeout")
    await _insert_failed_job(database_url, "US-002", 0.2, 'rate "limit"')
    waiting = await queue(http, "US-002")  # no worker now: it stays queued

    async with http.stream("GET", waiting["events_url"]) as stream:
        chunks = stream.aiter_text()  # held: a dropped iterator is closed, and closes the connection
        await anext(chunks)  # subscribed: the stream is open
        r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    samples = parse_metrics(r.text)

    assert metric(samples, "testgen_jobs", status="completed") == 1
    assert metric(samples, "testgen_jobs", status="failed") == 2
    assert metric(samples, "testgen_jobs", status="queued") == 1
    assert metric(samples, "testgen_jobs", status="running") == 0
    assert metric(samples, "testgen_jobs", status="cancelled") == 0
    assert 'testgen_jobs{status="completed"} 1\n' in r.text

    buckets = {
        dict(labels)["le"]: value
        for (name, labels), value in samples.items()
        if name == "testgen_job_duration_seconds_bucket" and dict(labels)["status"] == "failed"
    }
    assert buckets["0.5"] == 1 and buckets["30.0"] == 1 and buckets["60.0"] == 2 and buckets["+Inf"] == 2
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative
    assert metric(samples, "testgen_job_duration_seconds_count", status="failed") == 2
    assert metric(samples, "testgen_job_duration_seconds_sum", status="failed") == 42.2
    assert metric(samples, "testgen_job_duration_seconds_count", status="completed") == 1
    assert metric(samples, "testgen_job_duration_seconds_bucket", status="completed", le="+Inf") == 1
    assert metric(samples, "testgen_job_duration_seconds_bucket", status="completed", le="10.0") == 1

    assert stats["llm_calls"] >= 1
    assert metric(samples, "testgen_llm_calls") == stats["llm_calls"]
    assert metric(samples, "testgen_llm_retries") == stats["retries"]
    assert metric(samples, "testgen_job_errors", type="timeout") == 1
    assert metric(samples, "testgen_job_errors", type='rate \\"limit\\"') == 1

    assert metric(samples, "testgen_sse_connections") == 1
    assert metric(samples, "testgen_queue_depth") == 1 == await redis.zcard("testgen:queue")
    assert metric(samples, "testgen_redis_up") == 1
    assert metric(samples, "testgen_workers_up") == 0

    after = parse_metrics((await http.get("/metrics")).text)
    assert metric(after, "testgen_sse_connections") == 0


async def _arq_check(redis_url: str) -> int:
    env = {**os.environ, "REDIS_URL": redis_url, "LLM_PROVIDER": "offline"}
    arq = Path(sys.executable).with_name("arq")
    proc = await asyncio.create_subprocess_exec(
        str(arq),
        "--check",
        "workers.WorkerSettings",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await proc.wait()


async def test_arq_check_follows_the_worker_heartbeat(
    settings: Settings, redis: Redis, redis_url: str
) -> None:
    """`arq --check workers.WorkerSettings` (the compose healthcheck) follows arq's heartbeat key."""
    assert await _arq_check(redis_url) == 1
    async with run_worker(settings):
        await wait_for(lambda: redis.exists(ARQ_HEALTH_KEY), what="arq's heartbeat key")
        assert await _arq_check(redis_url) == 0
        # A worker that dies without cleaning up stops counting when the key expires: well within 60 s.
        assert 0 < await redis.pttl(ARQ_HEALTH_KEY) <= 31_000
    assert await _arq_check(redis_url) == 1


def test_check_messages_never_show_passwords(settings: Settings) -> None:
    settings.redis_url = SecretStr("redis://default:p%40ss-1@redis.internal:6379/0")
    settings.database_url = "postgresql+asyncpg://qa:db-secret-2@db.internal/testgen"
    secrets = ops._secrets(settings)
    message = ops._describe(OSError("login p@ss-1 / p%40ss-1 / db-secret-2 refused\nmore"), secrets)
    assert message == "down: OSError: login *** / *** / *** refused"
    assert ops._describe(TimeoutError(), secrets) == "down: no answer within 3 s"


async def test_ready_survives_one_of_two_workers_stopping(client: AsyncClient, settings: Settings) -> None:
    """Each worker has its own heartbeat: one stopping cleanly does not make /ready flap."""
    async with run_worker(settings):
        async with run_worker(settings):
            await wait_for(lambda: _ready(client), what="/ready to answer 200")
        r = await client.get("/ready")
        assert r.status_code == 200, r.json()
    r = await client.get("/ready")
    assert r.status_code == 503 and "workers" in r.json()["checks"]
    assert r.json()["checks"]["workers"].startswith("none seen")
