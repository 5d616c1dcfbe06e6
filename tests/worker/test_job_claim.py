"""WakeableWorker's one-round-trip claim keeps arq's rules for which queued jobs may start."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from arq.utils import timestamp_ms
from arq.worker import JobExecutionFailed
from redis.asyncio import Redis

from testgen.core.arq_adapter import deserialize_job, in_progress_key, serialize_job
from testgen.core.config import Settings
from testgen.core.redis import create_redis
from testgen.core.redis_keys import QUEUE_NAME
from testgen.worker.options import worker_options
from testgen.worker.wakeable import WakeableWorker


@pytest.fixture
async def idle_workers(settings: Settings) -> AsyncIterator[list[WakeableWorker]]:
    """Two workers whose start_jobs is called by hand (their poll loops never run)."""
    pools = [create_redis(settings.effective_redis_url) for _ in range(2)]
    options = {**worker_options(settings), "max_jobs": 100}
    workers = [
        WakeableWorker(**options, redis_pool=pool, ctx={"settings": settings}, handle_signals=False)
        for pool in pools
    ]
    yield workers
    for worker in workers:
        if worker.tasks:
            await asyncio.wait(list(worker.tasks.values()), timeout=2)
    for pool in pools:
        await pool.aclose()


async def test_only_due_jobs_that_nobody_runs_are_claimed(
    idle_workers: list[WakeableWorker], redis: Redis
) -> None:
    worker = idle_workers[0]
    now = timestamp_ms()
    await redis.zadd(QUEUE_NAME, {"due": now - 10, "running": now - 10, "later": now + 60_000})
    await redis.set(in_progress_key("running"), b"1", px=60_000)

    await worker.start_jobs([b"due", b"running", b"later", b"not-queued"])

    assert set(worker.tasks) == {"due"}
    worker.tasks["due"].cancel()  # before its first step: the claim stays as start_jobs left it
    ttl = await redis.pttl(in_progress_key("due"))
    assert 0 < ttl <= worker.in_progress_timeout_s * 1000
    assert await redis.pttl(in_progress_key("later")) == -2  # untouched


async def test_racing_workers_never_claim_the_same_job(
    idle_workers: list[WakeableWorker], redis: Redis
) -> None:
    now = timestamp_ms()
    ids = [f"job-{i}" for i in range(40)]
    await redis.zadd(QUEUE_NAME, {job_id: now - 10 for job_id in ids})
    forward = [job_id.encode() for job_id in ids]
    await asyncio.gather(idle_workers[0].start_jobs(forward), idle_workers[1].start_jobs(forward[::-1]))
    first, second = (set(w.tasks) for w in idle_workers)
    assert not first & second
    assert first | second == set(ids)


def test_a_failed_jobs_result_is_stored_as_text() -> None:
    result = {"r": JobExecutionFailed("job expired"), "s": False}
    assert deserialize_job(serialize_job(result)) == {"r": "JobExecutionFailed: job expired", "s": False}
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        serialize_job({"r": object()})
