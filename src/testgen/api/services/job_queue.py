"""The job queue as the request side sees it: what handing jobs to the workers needs (arq's pool, the
progress store, the settings), built once in the app's lifespan and given to the services that queue
or cancel jobs."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from arq.connections import ArqRedis
from opentelemetry.trace import SpanKind
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.core import messages, tracing
from testgen.core.arq_adapter import enqueue_many, request_abort
from testgen.core.config import Settings
from testgen.core.errors import QueueUnavailableError
from testgen.core.metrics import service_metrics
from testgen.core.presence import live_workers_in, no_worker_warning
from testgen.core.redis import redact_url
from testgen.core.redis_keys import WAKE_CHANNEL
from testgen.data import repository
from testgen.data.job_states import UNDO_ENQUEUE, JobStatus
from testgen.data.models import GenerationJob
from testgen.streaming.progress_store import ProgressStore
from testgen.streaming.snapshots import job_snapshot


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
