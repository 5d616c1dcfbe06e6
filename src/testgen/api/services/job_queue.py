"""The job queue as the request side sees it: what handing jobs to the workers needs (arq's pool, the
progress store, the settings), built once in the app's lifespan and given to the services that queue
or cancel jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from arq.connections import ArqRedis
from opentelemetry.trace import SpanKind
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.core import messages, tracing
from testgen.core.arq_adapter import arq_jobs, enqueue_many, request_abort
from testgen.core.config import Settings
from testgen.core.errors import QueueUnavailableError
from testgen.core.metrics import service_metrics
from testgen.core.presence import live_workers_in, no_worker_warning
from testgen.core.redis import redact_url
from testgen.core.redis_keys import WAKE_CHANNEL
from testgen.data import repository
from testgen.data.job_states import QUEUEING_GRACE_S, UNDO_ENQUEUE, JobStatus
from testgen.data.models import GenerationJob, utcnow
from testgen.domain.job_errors import JobError, given_up_error
from testgen.streaming.progress_store import ProgressStore
from testgen.streaming.snapshots import job_snapshot

logger = logging.getLogger(__name__)


class JobQueue:
    def __init__(self, redis: ArqRedis, store: ProgressStore, settings: Settings) -> None:
        self.redis = redis
        self.store = store
        self.settings = settings

    def unavailable(self) -> QueueUnavailableError:
        url = redact_url(self.settings.effective_redis_url)
        return QueueUnavailableError(messages.queue_unavailable(url))

    async def require(self) -> None:
        """Fail fast, before anything is written, when Redis cannot be reached."""
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            raise self.unavailable() from exc

    async def no_worker_warning(self) -> str | None:
        """messages.NO_WORKER_RUNNING when no worker runs (None when one does, or Redis cannot say)."""
        return await no_worker_warning(self.redis)

    async def given_up(self, job: GenerationJob) -> JobError | None:
        """Why an active job will never run, when arq gave up on it (its run ended without writing the
        row: its database failed) or holds nothing of it past QUEUEING_GRACE_S; None while arq may
        still run it, or when Redis cannot say."""
        try:
            arq = (await arq_jobs(self.redis, [job.id]))[job.id]
        except (RedisError, OSError):
            return None
        if not arq.given_up(age_s=(utcnow() - job.created_at).total_seconds(), grace_s=QUEUEING_GRACE_S):
            return None
        return given_up_error(finished=arq.finished, failure=arq.failure)

    async def publish_final(self, job: GenerationJob) -> None:
        """Publish a final state the database has (the stream publishes it from the row anyway, if
        Redis fails here)."""
        try:
            await self.store.publish(job_snapshot(job), job.status)
        except (RedisError, OSError) as exc:
            logger.warning("Task %s: could not publish %s (%s)", job.id, job.status, type(exc).__name__)

    async def abort(self, task_id: str) -> None:
        """Ask the worker running the job (if any) to cancel it."""
        await request_abort(self.redis, task_id)

    async def dispatch(self, session: AsyncSession, job: GenerationJob, function: str) -> int:
        """`dispatch_all` for one job; returns the number of live workers."""
        return await self.dispatch_all(session, [job], function, {"testgen.task_id": job.id})

    async def dispatch_all(
        self,
        session: AsyncSession,
        jobs: Sequence[GenerationJob],
        function: str,
        span_attributes: Mapping[str, str | int],
        also: Callable[[Pipeline], None] | None = None,
    ) -> int:
        """Publish each job's `queued` state and hand them all to the workers, with `also`'s commands,
        in one round trip; undo the rows if Redis fails. Returns the number of live workers, read in
        the same round trip. The trace context (when tracing is on) travels in every job, so the
        worker continues the request's trace."""
        with tracing.tracer().start_as_current_span(
            f"enqueue {function}", kind=SpanKind.PRODUCER, attributes=dict(span_attributes)
        ):
            carrier = tracing.inject()
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for job in jobs:
                        await self.store.publish_in(pipe, job_snapshot(job), JobStatus.queued, force=True)
                    if jobs:
                        enqueue_many(
                            pipe,
                            self.redis,
                            function,
                            [job.id for job in jobs],
                            {"trace": carrier} if carrier else None,
                        )
                        pipe.publish(WAKE_CHANNEL, b"1")
                    if also is not None:
                        also(pipe)
                    live_workers_in(pipe)
                    *_, workers = await pipe.execute()
            except (RedisError, OSError) as exc:
                if jobs:
                    await repository.change_jobs(
                        await session.connection(), UNDO_ENQUEUE, [(job.id, {}) for job in jobs]
                    )
                    await session.commit()
                raise self.unavailable() from exc
        if jobs:
            service_metrics().jobs_queued.labels(jobs[0].kind).inc(len(jobs))
        return int(workers)
