"""Jobs whose worker vanished (SIGKILL, lost host): found by their lapsed lease, re-queued or failed;
and jobs arq gave up on while their row stayed active: failed.

A running job renews `testgen:job:<id>:lease` every LEASE_RENEW_S; the key lives LEASE_TTL_S. Every
worker looks for running jobs without a lease every REAP_INTERVAL_S, so a dead worker's job is back
on the queue within LEASE_TTL_S + REAP_INTERVAL_S (about 15 s), instead of arq's job timeout + 10 s.

A run that could not write its row (its database failed, or its pool timed out) ends in arq with the
row still queued or running, and nothing would ever run it again: the same pass fails such a row
(GIVE_UP) once arq has the job's result, or once arq holds nothing of it past QUEUEING_GRACE_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.arq_adapter import ArqJob, arq_jobs, in_progress_key, requeue_now
from testgen.core.redis import cancel_and_wait
from testgen.core.redis_keys import CLAIMED_KEY, FINISHING_KEY, WAKE_CHANNEL, lease_key, reap_key
from testgen.data import repository
from testgen.data.job_states import (
    ACTIVE,
    QUEUEING_GRACE_S,
    REAP_REQUEUE,
    RUNNING,
    TERMINAL,
    WORKER_LOST,
    JobStatus,
)
from testgen.data.models import GenerationJob, utcnow
from testgen.domain.job_errors import ErrorType, JobError, given_up_error
from testgen.streaming.progress_store import ProgressStore
from testgen.streaming.snapshots import job_snapshot

logger = logging.getLogger(__name__)

LEASE_TTL_S = 10
LEASE_RENEW_S = 3
REAP_INTERVAL_S = 5
MAX_ATTEMPTS = 3
GIVEN_UP_BATCH = 1000  # active rows compared with arq per pass, oldest first

Now = Callable[[], dt.datetime]


@contextlib.asynccontextmanager
async def lease(redis: Redis, task_id: str) -> AsyncIterator[None]:
    """Hold the job's lease while the block runs; a failed renewal is retried, never fatal. The claim
    took the lease (WakeableWorker.claim_marks), so the first renewal comes LEASE_RENEW_S after the start."""

    async def renew() -> None:
        while True:
            await asyncio.sleep(LEASE_RENEW_S)
            with contextlib.suppress(RedisError, OSError):
                await redis.set(lease_key(task_id), b"1", ex=LEASE_TTL_S)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        await cancel_and_wait(task)
        with contextlib.suppress(RedisError, OSError):
            async with redis.pipeline(transaction=False) as pipe:
                pipe.delete(lease_key(task_id))
                pipe.zrem(CLAIMED_KEY, task_id)
                await pipe.execute()


async def reap_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: ProgressStore,
    *,
    grace_s: float = LEASE_TTL_S,
    now: Now = utcnow,
) -> list[str]:
    """Re-queue (or fail, after MAX_ATTEMPTS or when arq gave up on them) running jobs whose lease
    lapsed; return their ids."""
    redis = store.redis
    cutoff = now() - dt.timedelta(seconds=grace_s)
    async with sessionmaker() as session:
        rows = await repository.running_job_ids(session, started_before=cutoff)
    if not rows:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for task_id in rows:
            pipe.exists(lease_key(task_id))
        alive = await pipe.execute()
    reaped = []
    for task_id, has_lease in zip(rows, alive, strict=True):
        if has_lease or not await redis.set(reap_key(task_id), b"1", nx=True, ex=30):
            continue
        if await _recover(sessionmaker, store, task_id):
            reaped.append(task_id)
    return reaped


async def reap_claims(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: ProgressStore,
    *,
    grace_s: float = LEASE_TTL_S,
    now: Now = utcnow,
) -> list[str]:
    """Re-queue jobs claimed by a worker that died, whatever it had written: a claim older than
    the lease's life with no lease left. Returns their ids."""
    redis = store.redis
    cutoff_ms = (now().timestamp() - grace_s) * 1000
    claims = [
        member.decode() if isinstance(member, bytes) else str(member)
        for member in await redis.zrangebyscore(CLAIMED_KEY, "-inf", cutoff_ms)
    ]
    if not claims:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for task_id in claims:
            pipe.exists(lease_key(task_id))
            pipe.exists(in_progress_key(task_id))
        found = await pipe.execute()
    reaped = []
    for i, task_id in enumerate(claims):
        has_lease, in_progress = found[2 * i], found[2 * i + 1]
        if has_lease:
            continue
        if not in_progress:  # back on the queue already (recovered by its row): nothing to do
            await redis.zrem(CLAIMED_KEY, task_id)
            continue
        if not await redis.set(reap_key(task_id), b"1", nx=True, ex=30):
            continue
        if await _recover(sessionmaker, store, task_id, claimed=True):
            reaped.append(task_id)
        await redis.zrem(CLAIMED_KEY, task_id)
    return reaped


async def _recover(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: ProgressStore,
    task_id: str,
    *,
    claimed: bool = False,
) -> bool:
    """Put a job its worker lost back on the queue (or fail it after MAX_ATTEMPTS). A `claimed` job
    may still be queued in the database (its worker died before starting it): it only goes back on
    arq's queue, and its state is published again (Redis may say `started`)."""
    async with sessionmaker() as session:
        job = await session.get(GenerationJob, task_id)
        if job is None or job.status not in (ACTIVE if claimed else RUNNING):
            return False
        if job.status == JobStatus.queued:
            logger.warning(
                "Task %s was claimed by a worker that stopped before starting it; re-queued", task_id
            )
            await store.publish(job_snapshot(job), job.status)
            await _requeue(store.redis, task_id)
            return True
        arq = (await arq_jobs(store.redis, [task_id]))[task_id]
        if not arq.pending:  # arq ended the job (or lost it): re-queued, it would never run
            return await _give_up(session, store, job, arq)
        if job.attempts >= MAX_ATTEMPTS:
            message = (
                f"The worker running this job stopped responding {job.attempts} times; "
                "check the workers' logs, then queue the story again"
            )
            transition = WORKER_LOST
            values: dict[str, object] = {
                "message": message,
                "finished_at": utcnow(),
                "error": JobError(type=ErrorType.worker_lost, message=message).model_dump(mode="json"),
            }
        else:
            message = f"Worker lost; re-queued (attempt {job.attempts + 1} of {MAX_ATTEMPTS})"
            transition, values = REAP_REQUEUE, {"message": message}
        won = await repository.change_job(session, transition, task_id, **values)
        await session.commit()
        if not won:
            return False
        await session.refresh(job)
    logger.warning("Task %s lost its worker: %s", task_id, message)
    await store.publish(job_snapshot(job), job.status)
    if job.status == JobStatus.queued:
        await _requeue(store.redis, task_id)
    return True


async def reap_given_up(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: ProgressStore,
    *,
    grace_s: float = QUEUEING_GRACE_S,
    now: Now = utcnow,
) -> list[str]:
    """Fail the queued or running jobs arq will never run: it has their result (their run ended
    without writing its row: its database failed), or it holds nothing of them although they were
    created more than `grace_s` ago (Redis lost them, or the API stopped before queueing them).
    Returns their ids."""
    at = now()
    # A job younger than a lease has just been queued or is starting: the next passes look at it.
    async with sessionmaker() as session:
        rows = await repository.active_jobs_created_before(
            session, at - dt.timedelta(seconds=LEASE_TTL_S), limit=GIVEN_UP_BATCH
        )
    if not rows:
        return []
    found = await arq_jobs(store.redis, [task_id for task_id, _ in rows])
    failed = []
    for task_id, created_at in rows:
        arq = found[task_id]
        if not arq.given_up(age_s=(at - created_at).total_seconds(), grace_s=grace_s):
            continue
        async with sessionmaker() as session:
            job = await session.get(GenerationJob, task_id)
            if job is not None and await _give_up(session, store, job, arq):
                failed.append(task_id)
    return failed


async def _give_up(session: AsyncSession, store: ProgressStore, job: GenerationJob, arq: ArqJob) -> bool:
    """Fail an active job arq ended or lost (conditional: a job another worker or request settled
    meanwhile is left alone), then publish its final state. Whether this call failed it."""
    error, was = given_up_error(finished=arq.finished, failure=arq.failure), job.status
    won = await repository.give_up_job(session, job.id, error)
    await session.commit()
    if not won:
        return False
    await session.refresh(job)
    logger.warning("Task %s: arq gave up on it while its row said %s; failed: %s", job.id, was, error.message)
    await store.publish(job_snapshot(job), job.status)
    return True


async def _requeue(redis: Redis, task_id: str) -> None:
    """Back on arq's queue: no longer in progress, due now (if arq still has the job)."""
    if await requeue_now(redis, task_id):
        await redis.publish(WAKE_CHANNEL, b"1")


async def publish_lost_finals(
    sessionmaker: async_sessionmaker[AsyncSession],
    store: ProgressStore,
    *,
    grace_s: float = LEASE_TTL_S,
    now: Now = utcnow,
) -> list[str]:
    """Publish the final state of jobs whose worker wrote it to the database and died before Redis
    had it (they stay in FINISHING_KEY); return their ids. Publishing is idempotent: a job whose
    final state Redis already has gets no second final event."""
    redis = store.redis
    stale = [
        member.decode() if isinstance(member, bytes) else str(member)
        for member in await redis.zrangebyscore(FINISHING_KEY, "-inf", now().timestamp() - grace_s)
    ]
    if not stale:
        return []
    async with sessionmaker() as session:
        jobs = await repository.get_jobs(session, stale)
    published = []
    for job in jobs:
        if job.status in TERMINAL and await store.publish(job_snapshot(job), job.status) is not None:
            logger.warning(
                "Task %s: its worker stopped before publishing %s; published now", job.id, job.status
            )
            published.append(job.id)
    await redis.zrem(FINISHING_KEY, *stale)  # a job still running is the lease's business
    return published


async def reap_pass(
    sessionmaker: async_sessionmaker[AsyncSession], store: ProgressStore, *, now: Now = utcnow
) -> None:
    """One look for lost jobs (what every worker does every REAP_INTERVAL_S)."""
    await reap_once(sessionmaker, store, now=now)
    await reap_claims(sessionmaker, store, now=now)
    await reap_given_up(sessionmaker, store, now=now)
    await publish_lost_finals(sessionmaker, store, now=now)


async def reap_forever(sessionmaker: async_sessionmaker[AsyncSession], store: ProgressStore) -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL_S)
        try:
            await reap_pass(sessionmaker, store)
        except (RedisError, OSError, SQLAlchemyError) as exc:
            logger.warning("Lost-job check failed (%s); will try again", type(exc).__name__)
