"""ARQ job functions and worker lifecycle. `workers.WorkerSettings` wires them into arq."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from arq.connections import RedisSettings
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from testgen.core import heap
from testgen.core.config import Settings
from testgen.core.database import create_engine, create_sessionmaker
from testgen.core.logs import configure_logging
from testgen.core.presence import beat_forever
from testgen.core.redis import QUEUE_NAME, deserialize_job, reconnect_retry, serialize_job
from testgen.generation.llm.factory import check_provider_config, create_provider
from testgen.streaming.progress_store import ProgressStore
from testgen.worker.job_rows import JobRows
from testgen.worker.reaper import lease, reap_forever
from testgen.worker.regenerate import run_regeneration
from testgen.worker.runner import WorkerResources, run_generation

logger = logging.getLogger(__name__)


async def generate_test_cases(ctx: dict[str, Any], task_id: str) -> str:
    async with lease(ctx["redis"], task_id):
        return await run_generation(ctx["resources"], task_id)


async def regenerate_test_case(ctx: dict[str, Any], task_id: str) -> str:
    async with lease(ctx["redis"], task_id):
        return await run_regeneration(ctx["resources"], task_id)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or Settings()
    if "settings" not in ctx:  # started by `arq workers.WorkerSettings`: the process is ours
        configure_logging(settings.log_level, settings.log_format)
        ctx["own_process"] = True
    check_provider_config(settings)
    engine = create_engine(settings.database_url)
    ctx["engine"] = engine
    ctx["resources"] = WorkerResources(
        settings=settings,
        sessionmaker=create_sessionmaker(engine),
        store=ProgressStore(ctx["redis"], settings.keep_result_s),
        provider=create_provider(settings, ctx["redis"]),
        rows=JobRows(engine),
    )
    ctx["reaper"] = asyncio.create_task(reap_forever(ctx["resources"].sessionmaker, ctx["resources"].store))
    ctx["heartbeat"] = asyncio.create_task(beat_forever(ctx["redis"], uuid.uuid4().hex))
    if ctx.get("own_process"):  # not a worker inside the tests' process
        heap.settle()
    logger.info(
        "Worker ready: provider %s, up to %d jobs at once", settings.provider, settings.worker_max_jobs
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    for name in ("reaper", "heartbeat"):
        if name in ctx:
            ctx[name].cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ctx[name]
    resources: WorkerResources | None = ctx.get("resources")
    if resources is not None:
        await resources.provider.aclose()
    if "engine" in ctx:
        await ctx["engine"].dispose()
    logger.info("Worker stopped")


def _redis_settings(settings: Settings) -> RedisSettings:
    redis_settings = RedisSettings.from_dsn(settings.effective_redis_url)
    redis_settings.retry = reconnect_retry()
    redis_settings.retry_on_error = [RedisConnectionError, RedisTimeoutError]
    return redis_settings


def worker_options(settings: Settings) -> dict[str, Any]:
    """Everything arq's Worker needs, derived from our settings (JSON jobs, fast polling)."""
    return {
        "functions": [generate_test_cases, regenerate_test_case],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": _redis_settings(settings),
        "queue_name": QUEUE_NAME,
        "job_serializer": serialize_job,
        "job_deserializer": deserialize_job,
        "poll_delay": settings.worker_poll_delay_s,
        "max_jobs": settings.worker_max_jobs,
        "queue_read_limit": max(settings.worker_max_jobs * 5, 200),
        "job_timeout": settings.job_timeout_s + 30,
        "keep_result": settings.keep_result_s,
        "max_tries": 5,
        "allow_abort_jobs": True,
        "job_completion_wait": int(settings.worker_shutdown_wait_s),
        "health_check_interval": 10,
    }
