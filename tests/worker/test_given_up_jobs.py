"""Jobs arq gave up on while their row stayed active: a worker whose database connection died mid-job
cannot write the row, arq records the job failed, and the reaper or the next enqueue of the story
fails the row (it would otherwise say "queued" or "started" forever and hold the story's place)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.core.arq_adapter import job_key, result_key
from testgen.core.redis_keys import QUEUE_NAME, events_key
from testgen.data import repository
from testgen.data.job_states import ACTIVE, QUEUEING_GRACE_S, JobStatus
from testgen.data.models import GenerationJob, utcnow
from testgen.domain.job_errors import ErrorType, JobRowLost, given_up_error
from testgen.generation.llm.offline import OfflineProvider
from testgen.worker import reaper
from tests.support.harness import wait_for
from tests.support.helpers import is_status, make_story, queue, wait_for_job


class Gate:
    """Holds every offline model call until released: the job stays `generating` meanwhile."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gate]:
    gate = Gate()
    original = OfflineProvider.generate_batch

    async def gated(self: OfflineProvider, request: Any, model: str | None = None) -> Any:
        gate.entered.set()
        await gate.release.wait()
        return await original(self, request, model)

    monkeypatch.setattr(OfflineProvider, "generate_batch", gated)
    yield gate
    gate.release.set()


async def kill_database(engine: AsyncEngine) -> Callable[[], None]:
    """Cut `engine` off its database: its pooled connections are closed and every new one is refused
    (OperationalError, as from a database that went away). Returns what gives the database back."""
    dbapi = engine.dialect.loaded_dbapi

    def refuse(*args: Any) -> None:
        raise dbapi.OperationalError("connection refused: the database went away")

    event.listen(engine.sync_engine, "do_connect", refuse)
    await engine.dispose()
    return lambda: event.remove(engine.sync_engine, "do_connect", refuse)


def later(seconds: float) -> Callable[[], dt.datetime]:
    """The reaper's clock, `seconds` ahead: its grace periods pass without a wait."""
    return lambda: utcnow() + dt.timedelta(seconds=seconds)


async def row(app: FastAPI, task_id: str) -> GenerationJob:
    async with app.state.sessionmaker() as session:
        job = await repository.get_job(session, task_id)
    assert job is not None
    return job


async def events(redis: Redis, task_id: str) -> list[str]:
    return [fields[b"event"].decode() for _, fields in await redis.xrange(events_key(task_id))]


@pytest.mark.parametrize("reconciled_by", ["reaper", "enqueue"])
@pytest.mark.parametrize("dies", ["before the job starts", "while the job generates"])
async def test_a_job_whose_worker_lost_its_database_does_not_stay_active(
    app: FastAPI,
    client: AsyncClient,
    worker: Any,
    redis: Redis,
    gate: Gate,
    dies: str,
    reconciled_by: str,
) -> None:
    await make_story(client, "US-001")
    await wait_for(lambda: "resources" in worker.ctx, what="the worker's start-up")
    engine: AsyncEngine = worker.ctx["engine"]
    if dies == "before the job starts":
        restore = await kill_database(engine)
        job = await queue(client, "US-001", num_test_cases=1)
    else:
        job = await queue(client, "US-001", num_test_cases=1)
        await asyncio.wait_for(gate.entered.wait(), 20)
        restore = await kill_database(engine)
        gate.release.set()
    task_id = job["task_id"]

    await wait_for(lambda: redis.exists(result_key(task_id)), what="arq to record the job failed")
    restore()  # the database is back; the worker could not tell the row that arq gave up
    assert (await row(app, task_id)).status in ACTIVE
    expected = given_up_error(finished=True, failure=JobRowLost.__name__)

    if reconciled_by == "reaper":
        await reaper.reap_pass(app.state.sessionmaker, app.state.store, now=later(2 * reaper.LEASE_TTL_S))
        failed = await row(app, task_id)
        assert failed.status == JobStatus.failed
        again = await client.post("/generate-test-cases/US-001/queue")
    else:
        again = await client.post("/generate-test-cases/US-001/queue")
        failed = await row(app, task_id)

    assert failed.status == JobStatus.failed
    assert failed.error == expected.model_dump(mode="json") and failed.finished_at is not None
    assert expected.type is ErrorType.internal and "database connection" in expected.message
    published = await events(redis, task_id)
    assert published[-1] == JobStatus.failed  # live clients see it end
    assert JobStatus.queued not in published[1:]  # never back on a queue that would not run it
    status = (await client.get(job["status_url"])).json()
    assert (status["status"], status["error"]) == (JobStatus.failed, failed.error)

    assert again.status_code == 202, again.text  # a new job, not the dead one
    new = again.json()
    assert new["task_id"] != task_id
    gate.release.set()
    await wait_for_job(client, new["status_url"], is_status(JobStatus.completed), what="the new job")
    assert (await row(app, task_id)).status == JobStatus.failed


async def test_the_reaper_fails_only_jobs_arq_will_never_run(
    app: FastAPI, client: AsyncClient, redis: Redis
) -> None:
    """No worker runs: arq holds both jobs. One is then lost from Redis (its definition and its place
    in the queue): it fails once QUEUEING_GRACE_S has passed; the other stays queued however late."""
    await make_story(client, "US-001")
    await make_story(client, "US-002")
    lost = (await queue(client, "US-001", num_test_cases=1))["task_id"]
    waiting = (await queue(client, "US-002", num_test_cases=1))["task_id"]
    await redis.delete(job_key(lost))
    await redis.zrem(QUEUE_NAME, lost)
    args = (app.state.sessionmaker, app.state.store)

    assert await reaper.reap_given_up(*args) == []  # just queued
    assert await reaper.reap_given_up(*args, now=later(QUEUEING_GRACE_S - 1)) == []  # within the grace
    assert (await row(app, lost)).status == JobStatus.queued

    # Every worker's reaper looks at once: the conditional change lets exactly one fail the job.
    passes = await asyncio.gather(
        *(reaper.reap_given_up(*args, now=later(QUEUEING_GRACE_S + 1)) for _ in range(3))
    )
    assert sorted(passes) == [[], [], [lost]]
    assert await reaper.reap_given_up(*args, now=later(10 * QUEUEING_GRACE_S)) == []

    failed = await row(app, lost)
    expected = given_up_error(finished=False, failure=None)
    assert (failed.status, failed.message, failed.error) == (
        JobStatus.failed,
        expected.message,
        expected.model_dump(mode="json"),
    )
    assert await events(redis, lost) == [JobStatus.queued, JobStatus.failed]
    assert (await row(app, waiting)).status == JobStatus.queued
    assert await events(redis, waiting) == [JobStatus.queued]


async def test_queueing_a_story_again_reuses_its_job_while_arq_may_run_it(
    client: AsyncClient, redis: Redis
) -> None:
    """Queued and not run (no worker), or lost from Redis a moment after it was queued: the same job."""
    await make_story(client, "US-001")
    job = await queue(client, "US-001", num_test_cases=1)
    again = await client.post("/generate-test-cases/US-001/queue")
    assert (again.status_code, again.json()["task_id"]) == (200, job["task_id"])
    await redis.delete(job_key(job["task_id"]))
    again = await client.post("/generate-test-cases/US-001/queue")
    assert (again.status_code, again.json()["task_id"]) == (200, job["task_id"])
