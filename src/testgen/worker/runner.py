"""One run of one job, whatever its kind: loading, the `started` step, progress reports, the time limit,
cancellation and worker shutdown, and errors turned into a failed state that says what to do next.

The database row is the arbiter of a job's state (conditional changes, see data/job_states.py);
Redis carries the live progress. A job may run more than once (worker crash, re-delivery): every
step is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry import trace
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from testgen.core import tracing
from testgen.core.logs import task_context
from testgen.core.metrics import FINISHED_ELSEWHERE, REQUEUED, service_metrics
from testgen.core.redis_keys import FINISHING_KEY
from testgen.data.job_states import ACTIVE, PROGRESS_EVENT, REPORTED, TERMINAL, JobStatus
from testgen.data.models import GenerationJob, UserStory, utcnow
from testgen.data.repository import StoryExtras
from testgen.domain.job_errors import ErrorType, JobError, JobRowLost
from testgen.generation.llm.base import LLMError
from testgen.streaming.snapshots import job_snapshot
from testgen.worker.resources import WorkerResources

logger = logging.getLogger(__name__)

PUBLISH_ATTEMPTS = 10  # about 30 s of retries for a state change while Redis is away
PROGRESS_LOADED = 5
# What a run returns to arq when it did not move the job to a status of its own.
MISSING = "missing"
FINISHED_ELSEWHERE_RUN = "finished-elsewhere"
UNPUBLISHED = "unpublished"  # Redis stayed away: the database has the state, Redis does not
# A run's final state that is its metrics outcome (core/metrics.py); any other finished elsewhere.
OUTCOMES = frozenset(s.value for s in TERMINAL)
FAILED, CANCELLED = JobStatus.failed.value, JobStatus.cancelled.value


class JobFinished(Exception):
    """The job reached a final state elsewhere (cancelled, or finished by another run)."""


class JobRun:
    """One run of one job: moves the row and the Redis state forward together."""

    def __init__(self, res: WorkerResources, job: GenerationJob, extras: StoryExtras | None = None) -> None:
        self.res = res
        self.job = job
        self.extras = extras  # what the load read besides the story (story_context.load_context)
        self.last_status = job.status

    async def _write_row(
        self, status: JobStatus, values: dict[str, Any], usage: dict[str, Any] | None = None
    ) -> None:
        if not await self.res.rows.change(self.job.id, REPORTED[status], values, usage):
            raise JobFinished

    async def report(
        self,
        status: JobStatus,
        progress: int,
        message: str,
        *,
        persist: bool = False,
        usage: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        """Publish a change; `persist` also writes it to the database. Only the start and the final
        state are persisted: the row says "started" while Redis carries the live progress. `usage`
        (a row of the usage ledger) is recorded with a persisted change, in its transaction.

        A final state goes to the database first, so a client that sees the event can act on it
        (save); other changes are published first, so the live view does not wait for the database.
        """
        values = {"progress": progress, "message": message, **extra}
        final = status in TERMINAL
        if persist and final:
            await self._finishing()
            await self._write_row(status, values, usage)
        self._apply({"status": status.value, **values})
        event = status.value if status != self.last_status else PROGRESS_EVENT
        self.last_status = status.value
        # A final state leaves FINISHING_KEY with its publish (one round trip; UNPUBLISHED: it stays).
        published = await self._publish(event, retry=persist, settled=persist and final)
        if published is None:
            raise JobFinished
        if persist and not final:
            await self._write_row(status, values, usage)

    async def _finishing(self) -> None:
        """Mark the job as having a final state in the database that Redis may not have yet: if this
        worker dies before its publish (which unmarks it), the reaper publishes it (FINISHING_KEY)."""
        try:
            await self.res.store.redis.zadd(FINISHING_KEY, {self.job.id: time.time()})
        except (RedisError, OSError) as exc:
            logger.warning("Task %s: could not mark its final state (%s)", self.job.id, type(exc).__name__)

    def _apply(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            setattr(self.job, key, value)

    async def _publish(self, event: str, *, retry: bool, settled: bool = False) -> str | None:
        """Publish to Redis. During an outage, progress is skipped (the next change supersedes it);
        a persisted change is retried for a while, and the database keeps it regardless."""
        delay = 0.2
        for _ in range(PUBLISH_ATTEMPTS if retry else 1):
            try:
                return await self.res.publisher.publish(job_snapshot(self.job), event, settled=settled)
            except (RedisError, OSError) as exc:
                logger.warning("Task %s: could not publish %s (%s)", self.job.id, event, type(exc).__name__)
                if retry:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        return UNPUBLISHED


class JobDeferred(Exception):
    """The job waits for work done elsewhere (its provider batch): its run ends with the job queued,
    and arq runs it again after `delay_s`."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(f"deferred by {delay_s:g} s")
        self.delay_s = delay_s


class JobFailed(Exception):
    """A failure the job reports as `error: {type, message}` (besides LLMError)."""

    def __init__(self, type_: ErrorType, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


JobWork = Callable[[JobRun, UserStory], Awaitable[None]]
ProjectJobWork = Callable[[JobRun], Awaitable[None]]


async def execute(res: WorkerResources, task_id: str, work: JobWork, *, what: str = "Generation") -> str:
    """Run story job `task_id` to a final state with `work` (which reports completion); return that state."""

    async def with_story(run: JobRun, story: UserStory | None) -> None:
        if story is None:
            raise JobFailed(ErrorType.internal, f"Task {task_id} names no user story; queue the story again")
        await work(run, story)

    return await _execute(res, task_id, with_story, what=what)


async def execute_project_job(res: WorkerResources, task_id: str, work: ProjectJobWork, *, what: str) -> str:
    """`execute` for a job that belongs to a project rather than to a story (a Jira import)."""

    async def without_story(run: JobRun, story: UserStory | None) -> None:
        await work(run)

    return await _execute(res, task_id, without_story, what=what)


async def _execute(
    res: WorkerResources,
    task_id: str,
    work: Callable[[JobRun, UserStory | None], Awaitable[None]],
    *,
    what: str,
) -> str:
    """Shared by every job kind: loading, the `started` step, the time limit, cancellation and
    worker shutdown, and turning errors into a failed state that says what to do next.
    """
    try:
        loaded = await res.rows.load(task_id)
    except SQLAlchemyError as exc:
        raise _row_lost(task_id, "read", exc) from exc
    if loaded is None:
        logger.warning("Task %s has no job record or story any more; nothing to do", task_id)
        return MISSING
    job, story, extras = loaded
    if job.status not in ACTIVE:
        logger.info("Task %s is already %s; nothing to do", task_id, job.status)
        return job.status

    owner = {"story_id": job.story_id} if job.story_id else {"project_id": str(job.project_id)}
    token = task_context.set({"task_id": task_id, **owner})
    run = JobRun(res, job, extras)
    span = trace.get_current_span()
    span.set_attribute("testgen.job.kind", job.kind)
    if job.attempts == 0:  # a re-run's wait includes the first run: not a pickup
        service_metrics().pickup.labels(job.kind).observe(
            max(0.0, (utcnow() - job.created_at).total_seconds())
        )
    started = time.monotonic()
    outcome = FAILED
    res.running += 1
    res.running_changed.set()
    try:
        result = await _run(res, run, story, work, what=what)
        outcome = result if result in OUTCOMES else FINISHED_ELSEWHERE
        return result
    except asyncio.CancelledError:
        outcome = REQUEUED if run.job.status == JobStatus.queued else CANCELLED
        raise
    except JobDeferred:
        outcome = REQUEUED
        raise
    finally:
        res.running -= 1
        res.running_changed.set()
        error = run.job.error if outcome == FAILED else None
        error_type = JobError.model_validate(error).type if isinstance(error, dict) else None
        service_metrics().job_ended(job.kind, outcome, time.monotonic() - started, error_type)
        span.set_attribute("testgen.outcome", outcome)
        if error_type is not None:
            tracing.fail(span, f"{error_type}: {run.job.message}")
        task_context.reset(token)


async def _run(
    res: WorkerResources,
    run: JobRun,
    story: UserStory | None,
    work: Callable[[JobRun, UserStory | None], Awaitable[None]],
    *,
    what: str,
) -> str:
    task_id, job = run.job.id, run.job
    try:
        await run.report(
            JobStatus.started,
            PROGRESS_LOADED,
            f"Story {story.id} loaded" if story is not None else f"{what} started",
            persist=True,
            started_at=utcnow(),
            attempts=job.attempts + 1,
        )
        async with asyncio.timeout(res.settings.job_timeout_s):
            await work(run, story)
        return run.job.status
    except JobFinished:
        logger.info("Task %s was finished elsewhere (cancelled?); stopping", task_id)
        return FINISHED_ELSEWHERE_RUN
    except asyncio.CancelledError:
        # Cancelled by the user (the API wrote that state), or by a worker shutting down: then arq
        # puts the job back on the queue, and so do we, so that nobody sees it stuck "generating".
        await asyncio.shield(_after_cancel(run))
        raise
    except (LLMError, JobFailed) as exc:
        return await fail_job(run, exc.type, exc.message)
    except JobDeferred:
        raise
    except TimeoutError:
        limit = res.settings.job_timeout_s
        return await fail_job(
            run, ErrorType.timeout, f"{what} took longer than {limit} s; ask for less or raise JOB_TIMEOUT_S"
        )
    except Exception as exc:
        logger.exception("Task %s failed unexpectedly", task_id)
        return await fail_job(
            run,
            ErrorType.internal,
            f"{what} failed unexpectedly ({type(exc).__name__}); see the worker log and try again",
        )


async def _after_cancel(run: JobRun) -> None:
    task_id = run.job.id
    try:
        if await run.res.store.cancel_requested(task_id):
            logger.info("Task %s cancelled", task_id)
            return
        await run.report(
            JobStatus.queued, run.job.progress, "Worker stopped; waiting for another worker", persist=True
        )
        logger.info("Task %s interrupted by worker shutdown; back on the queue", task_id)
    except (JobFinished, RedisError, OSError, SQLAlchemyError) as exc:
        logger.warning("Task %s: could not record the interruption (%s)", task_id, type(exc).__name__)


async def fail_job(run: JobRun, error_type: ErrorType, message: str) -> str:
    """Record the failure; when the database cannot take it either, raise JobRowLost to arq, whose
    result then tells the reaper (or the next enqueue) why the row it finds still active failed."""
    logger.warning("Task %s failed: %s: %s", run.job.id, error_type, message)
    try:
        await run.report(
            JobStatus.failed,
            run.job.progress,
            message,
            persist=True,
            error=JobError(type=error_type, message=message).model_dump(mode="json"),
            finished_at=utcnow(),
        )
    except JobFinished:
        return FINISHED_ELSEWHERE_RUN
    except SQLAlchemyError as exc:
        raise _row_lost(run.job.id, "write", exc) from exc
    return JobStatus.failed


def _row_lost(task_id: str, what: str, exc: SQLAlchemyError) -> JobRowLost:
    logger.error(
        "Task %s: could not %s its row (%s); arq records it failed", task_id, what, type(exc).__name__
    )
    return JobRowLost(f"could not {what} the row of task {task_id} ({type(exc).__name__})")
