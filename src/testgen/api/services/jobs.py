"""Jobs as the API sees them: enqueue, status, cancel, forget."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any, NamedTuple, cast

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.rate_limits import JobSlot
from testgen.api.schemas.jobs import GenerateOptions
from testgen.api.services.job_queue import JobQueue
from testgen.core import messages
from testgen.core.config import Settings
from testgen.core.errors import ConflictError, RateLimitedError
from testgen.core.presence import live_workers_in, with_warning
from testgen.core.redis_keys import GENERATE_JOB, cancel_key, events_key, state_key
from testgen.data import repository, usage
from testgen.data.job_states import CANCEL, TERMINAL, JobKind, JobStatus
from testgen.data.models import GenerationJob, UserStory, utcnow
from testgen.domain.job_errors import JobError
from testgen.domain.job_options import GenerateJobOptions, JobOptions, LLMChoice
from testgen.domain.job_snapshots import JobSnapshot
from testgen.generation.llm.checks import check_provider_config, job_choice
from testgen.streaming.progress_store import ProgressStore, decode_state
from testgen.streaming.snapshots import job_snapshot

logger = logging.getLogger(__name__)


class Queued(NamedTuple):
    job: GenerationJob
    created: bool  # False: the story's live job, reused
    warning: str | None  # set when the job cannot progress now (no worker runs)


def new_job(
    story_id: str | None,
    kind: JobKind,
    options: JobOptions,
    parent_id: str | None = None,
    *,
    project_id: int | None = None,
    created_by: int | None = None,
) -> GenerationJob:
    """A queued job with every column set, so that it needs no re-read after the INSERT (`created_by`:
    the user who queued it; None for an API key or the local admin)."""
    return GenerationJob(
        id=str(uuid.uuid4()),
        story_id=story_id,
        project_id=project_id,
        created_by=created_by,
        review_state=None,
        kind=kind.value,
        parent_id=parent_id,
        options=options.model_dump(mode="json"),
        status=JobStatus.queued.value,
        progress=0,
        message=messages.WAITING_FOR_WORKER,
        error=None,
        result=None,
        attempts=0,
        created_at=utcnow(),
        started_at=None,
        finished_at=None,
        saved_at=None,
    )


_JOB_COLUMNS = [column.key for column in GenerationJob.__table__.columns]
# On the table, not the class: a Core INSERT skips the ORM's unit of work and its bulk-insert path.
INSERT_JOBS = insert(cast(Table, GenerationJob.__table__))


def job_row(job: GenerationJob) -> dict[str, Any]:
    """A new job's column values, for INSERT_JOBS."""
    return {column: getattr(job, column) for column in _JOB_COLUMNS}


async def llm_choice(session: AsyncSession, settings: Settings, story_id: str) -> LLMChoice:
    """The provider and model a job for the story is queued with (its project's choice, else the
    server's default); ConfigurationError when that provider cannot work."""
    return (await queue_choice(session, settings, story_id))[0]


async def queue_choice(
    session: AsyncSession, settings: Settings, story_id: str
) -> tuple[LLMChoice, int | None]:
    """`llm_choice`, and the daily token budget of the story's project (None: none), in one query."""
    provider, model, budget = await repository.project_llm(session, story_id)
    choice = job_choice(settings, provider, model)
    check_provider_config(settings, choice.llm_provider)
    return choice, budget


async def check_budget(session: AsyncSession, project_id: int) -> None:
    """RateLimitedError (429) naming the budget when the project has spent its daily tokens already."""
    project = await repository.get_project(session, project_id)
    if project is not None and project.token_budget_daily is not None:
        await check_spent(session, project_id, project.token_budget_daily)


async def check_spent(session: AsyncSession, project_id: int, budget: int) -> None:
    spent = await usage.spent_today(session, project_id)
    if spent >= budget:
        now = utcnow()
        midnight = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        raise RateLimitedError(
            messages.budget_spent(project_id, budget, spent),
            retry_after_s=max(1, int((midnight - now).total_seconds())),
        )


async def enqueue(
    session: AsyncSession,
    queue: JobQueue,
    story: UserStory,
    options: GenerateOptions,
    slot: JobSlot | None = None,
    *,
    created_by: int | None = None,
) -> Queued:
    """Queue a generation job for `story`. A live job for the story is reused; an active job arq gave
    up on (its worker could not record how it ended) is failed and replaced.

    `slot` (the client's limit of jobs in flight) is taken just before a new job is created (it may
    refuse), and given the job once it is queued. `created_by`: the user queueing it (its author in
    review).
    """
    if story.project_id is None:
        raise ConflictError(messages.story_without_project(story.id))
    # One transaction: the reads, then the INSERT (on SQLite it holds the write lock from its start,
    # which costs less than a read transaction of its own). If Redis is down, `dispatch` undoes the row.
    story_id, project_id = story.id, story.project_id
    existing = await repository.get_active_job(session, story_id)
    choice, budget = await queue_choice(session, queue.settings, story_id)
    given_up: GenerationJob | None = None
    if existing is not None and (error := await queue.given_up(existing)) is not None:
        if await fail_given_up(session, existing, error):
            given_up = existing
        existing = await repository.get_active_job(session, story_id)  # another request's, if any
    if existing is not None:
        await session.commit()
        if given_up is not None:
            await queue.publish_final(given_up)
        return await reused(queue, existing)
    if budget is not None:
        await check_spent(session, project_id, budget)
    if slot is not None:
        await slot.take()
    job = new_job(
        story_id,
        JobKind.generate,
        GenerateJobOptions(**options.model_dump(), **choice.model_dump()),
        created_by=created_by,
    )
    try:
        await session.execute(INSERT_JOBS, job_row(job))
        await session.commit()
    except IntegrityError:  # another request queued a job for this story a moment ago
        await session.rollback()
        existing = await repository.get_active_job(session, story_id)
        if existing is None:
            raise
        return await reused(queue, existing)

    if given_up is not None:
        await queue.publish_final(given_up)
    workers = await queue.dispatch(session, job, GENERATE_JOB)
    logger.info("Queued test generation task %s for story %s", job.id, story_id)
    return await confirm_created(job, workers, slot)


async def fail_given_up(session: AsyncSession, job: GenerationJob, error: JobError) -> bool:
    """Fail an active job arq gave up on, in the session's transaction (conditional: False when another
    request or a worker's reaper settled it first)."""
    won = await repository.give_up_job(session, job.id, error)
    if won:
        await session.refresh(job)
    return won


async def confirm_created(job: GenerationJob, workers: int, slot: JobSlot | None) -> Queued:
    """A new job, handed to `workers` live workers: recorded in the client's `slot`."""
    if slot is not None:
        await slot.confirm([job.id])
    return Queued(job, True, None if workers else messages.NO_WORKER_RUNNING)


async def reused(queue: JobQueue, job: GenerationJob) -> Queued:
    """A live job given back instead of a new one (with the warning when it waits and no worker runs)."""
    return Queued(job, False, await queue.no_worker_warning() if job.status == JobStatus.queued else None)


async def status(store: ProgressStore, job: GenerationJob) -> JobSnapshot:
    """Live state from Redis while the job runs; the database row once it is final or Redis forgot it.
    A queued job says so when no worker is running (and stops saying it once one is)."""
    if job.status in TERMINAL:
        return job_snapshot(job)
    try:
        async with store.redis.pipeline(transaction=False) as pipe:  # one round trip
            store.get_in(pipe, job.id)
            live_workers_in(pipe)
            raw, workers = await pipe.execute()
        live = decode_state(raw)
    except (RedisError, OSError):
        live, workers = None, None
    snapshot = live or job_snapshot(job)
    if snapshot["status"] == JobStatus.queued and workers == 0:
        warning = messages.NO_WORKER_RUNNING
        snapshot = {**snapshot, "message": with_warning(snapshot["message"], warning), "warning": warning}
    return snapshot


async def cancel(session: AsyncSession, queue: JobQueue, job: GenerationJob) -> JobSnapshot:
    if job.status in TERMINAL:
        raise ConflictError(messages.not_cancellable(job.id, job.status))
    won = await repository.change_job(
        session, CANCEL, job.id, message=messages.CANCELLED_BY_REQUEST, finished_at=utcnow()
    )
    await session.commit()
    await session.refresh(job)
    if not won:
        raise ConflictError(messages.not_cancellable(job.id, job.status))
    snapshot = job_snapshot(job)
    live = await queue.store.get(job.id)
    if live is not None:
        snapshot["progress"] = live["progress"]
    await queue.store.request_cancel(job.id)
    await queue.store.publish(snapshot, JobStatus.cancelled)
    await queue.abort(job.id)
    logger.info("Cancelled task %s for story %s", job.id, job.story_id)
    return snapshot


async def forget(redis: ArqRedis, task_id: str) -> None:
    await redis.delete(state_key(task_id), events_key(task_id), cancel_key(task_id))
