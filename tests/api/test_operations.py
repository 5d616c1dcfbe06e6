from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from arq.constants import health_check_key_suffix
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient, Response
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import event

from testgen.api.app import create_app
from testgen.api.services import ops
from testgen.core.config import Settings
from testgen.core.redis_keys import QUEUE_NAME
from tests.support.fake_services import LeakyPostgres, LeakyRedis
from tests.support.harness import ROOT, run_worker, wait_for
from tests.support.helpers import make_story, queue, read_events

ARQ_HEALTH_KEY = QUEUE_NAME + health_check_key_suffix
SERVICE_KEY = "a-service-key-for-the-monitoring"

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
        family = re.sub(r"_(bucket|sum|count|total|created)$", "", name)
        assert name in typed or family in typed, f"{name} has no TYPE line before it"
        pairs = frozenset(_LABEL.findall(labels or ""))
        assert (name, pairs) not in samples, f"duplicate sample {line!r}"
        samples[(name, pairs)] = float(value)
    return samples


def metric(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    """How much a sample grew (a sample not there before counts from 0): metrics are per process
    and cumulative, and other tests of this process count too."""
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def families(body: str) -> set[str]:
    return {line.split()[2] for line in body.splitlines() if line.startswith("# TYPE ")}


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
            r = await client.get("/ready")
            await make_story(client, "US-1")
            queued = await client.post("/generate-test-cases/US-1/queue")
            scraped = await client.get("/metrics")
    assert any("hunter2secret" in e for e in leaky.errors)  # the error Redis sent carried it
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert "hunter2secret" not in r.text
    # Redis's refusal is reported, not waited out ("down: no answer within 3 s").
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
    """With API_KEYS (as a monitored server runs) a key is checked without the database."""
    settings.api_keys = SecretStr(SERVICE_KEY)
    with LeakyPostgres() as leaky:
        settings.database_url = leaky.url("pa55word-xyz")
        async with app_client(settings) as client:
            client.headers["Authorization"] = f"Bearer {SERVICE_KEY}"
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
    # The metrics need no database: they go on while it is down.
    assert scraped.status_code == 200 and "pa55word-xyz" not in scraped.text
    assert metric(parse_metrics(scraped.text), "testgen_redis_up") == 1


async def test_metrics_count_jobs_model_calls_and_streams(
    http: AsyncClient, settings: Settings, redis: Redis
) -> None:
    before = parse_metrics((await http.get("/metrics")).text)
    await make_story(http, "US-001")
    await make_story(http, "US-002")
    async with run_worker(settings):
        done = await queue(http, "US-001", num_test_cases=4, scenarios_per_test_case=2)
        events = await read_events(http, done["events_url"])
        read = len(events)
    assert events[-1].event == "completed"
    stats = events[-1].data["result"]["stats"]
    # A job that times out: one second of a model that takes three.
    slow = settings.model_copy(update={"job_timeout_s": 1, "offline_llm_delay_s": 3.0})
    async with run_worker(slow):
        failed = await queue(http, "US-002")
        events = await read_events(http, failed["events_url"])
        read += len(events)
    assert events[-1].event == "failed" and events[-1].data["error"]["type"] == "timeout"
    waiting = await queue(http, "US-001")  # no worker now: it stays queued

    async with http.stream("GET", waiting["events_url"]) as stream:
        chunks = stream.aiter_text()  # held: a dropped iterator is closed, and closes the connection
        await anext(chunks)  # subscribed: the stream is open
        r = await http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    after = parse_metrics(r.text)

    assert delta(before, after, "testgen_jobs_queued_total", kind="generate") == 3
    assert delta(before, after, "testgen_jobs_total", kind="generate", outcome="completed") == 1
    assert delta(before, after, "testgen_jobs_total", kind="generate", outcome="failed") == 1
    assert delta(before, after, "testgen_job_errors_total", kind="generate", error_type="timeout") == 1
    assert delta(before, after, "testgen_job_pickup_seconds_count", kind="generate") == 2

    failed_runs = dict(kind="generate", outcome="failed")
    assert delta(before, after, "testgen_job_duration_seconds_count", **failed_runs) == 1
    # Its one run lasted the time limit at least; how much more depends on the machine's load.
    took = delta(before, after, "testgen_job_duration_seconds_sum", **failed_runs)
    assert took >= 1.0
    assert delta(before, after, "testgen_job_duration_seconds_bucket", le="0.5", **failed_runs) == 0
    assert delta(before, after, "testgen_job_duration_seconds_bucket", le="+Inf", **failed_runs) == 1
    buckets = {
        dict(labels)["le"]: value
        for (name, labels), value in after.items()
        if name == "testgen_job_duration_seconds_bucket" and {*failed_runs.items()} <= labels
    }
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative
    for le in buckets:  # the run is counted in every bucket that holds its duration, and in no other
        counted = delta(before, after, "testgen_job_duration_seconds_bucket", le=le, **failed_runs)
        assert counted == (1 if took <= float(le) else 0), (le, took)

    offline = dict(provider="offline", model="offline-v1", outcome="ok")
    assert stats["llm_calls"] >= 1
    assert delta(before, after, "testgen_model_calls_total", **offline) == stats["llm_calls"]
    assert delta(before, after, "testgen_model_call_duration_seconds_count", **offline) == stats["llm_calls"]
    # The events the two jobs published while their streams were open reached this process's event
    # hub live, each once: some, and never more than the streams read (replayed ones included).
    assert 1 <= delta(before, after, "testgen_sse_delivery_lag_seconds_count") <= read

    assert metric(after, "testgen_sse_streams_open") == 1
    assert metric(after, "testgen_queue_depth") == 1 == await redis.zcard("testgen:queue")
    assert metric(after, "testgen_redis_up") == 1
    assert metric(after, "testgen_workers_live") == 0
    assert metric(after, "testgen_jobs_running") == 0
    assert not any(dict(labels).keys() & {"task_id", "story_id"} for _, labels in after)

    again = parse_metrics((await http.get("/metrics")).text)
    assert metric(again, "testgen_sse_streams_open") == 0


async def test_running_jobs_and_live_workers_are_gauges(http: AsyncClient, settings: Settings) -> None:
    await make_story(http, "US-001")
    slow = settings.model_copy(update={"offline_llm_delay_s": 30.0})
    async with run_worker(slow):

        async def running() -> Samples | None:
            samples = parse_metrics((await http.get("/metrics")).text)
            return samples if metric(samples, "testgen_jobs_running") == 1 else None

        job = await queue(http, "US-001", num_test_cases=1, scenarios_per_test_case=1)
        samples = await wait_for(running, what="testgen_jobs_running 1 while the job runs")
        assert metric(samples, "testgen_workers_live") == 1
        assert (await http.post(f"/generate-test-cases/{job['task_id']}/cancel")).status_code == 202

        async def idle() -> bool:
            return metric(parse_metrics((await http.get("/metrics")).text), "testgen_jobs_running") == 0

        await wait_for(idle, what="testgen_jobs_running back to 0 once the job is cancelled")


async def test_a_scrape_runs_no_database_query(settings: Settings) -> None:
    """The cost of a scrape does not grow with the job table: it reads no table at all (with a key of
    API_KEYS, as Prometheus scrapes; in keyless mode, whether a user exists is read once a second)."""
    settings.api_keys = SecretStr(SERVICE_KEY)
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    async with app_client(settings) as client:
        client.headers["Authorization"] = f"Bearer {SERVICE_KEY}"
        engine = client._transport.app.state.engine.sync_engine  # type: ignore[attr-defined]
        event.listen(engine, "before_cursor_execute", record)
        try:
            assert (await client.get("/metrics")).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert statements == []


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


@pytest.mark.slow
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
