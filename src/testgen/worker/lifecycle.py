"""A worker process's start-up and shutdown: the resources its jobs share, and its background tasks
(lost-job recovery, the heartbeat and pruning the audit trail).

They use a Redis client of their own, not arq's pool (`ctx["redis"]`): arq's pool waits out a Redis
outage (core/redis.py `arq_settings`), ours fails fast, so that a job skips the progress it cannot
publish and the heartbeat file is touched while Redis is away."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

from testgen.core import heap, metrics, shared_redis, tracing
from testgen.core.config import Settings
from testgen.core.database import create_engine, create_sessionmaker
from testgen.core.logs import configure_logging
from testgen.core.presence import beat_forever
from testgen.core.redis import cancel_and_wait, create_redis
from testgen.generation.llm.factory import ProviderSet, check_provider_config
from testgen.jira.client import JiraClient, configuration_problem
from testgen.streaming.progress_store import ProgressStore
from testgen.worker.audit_pruning import prune_forever
from testgen.worker.job_rows import JobRows
from testgen.worker.reaper import reap_forever
from testgen.worker.resources import WorkerResources

logger = logging.getLogger(__name__)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or Settings()
    if "settings" not in ctx:  # started by `arq workers.WorkerSettings`: the process is ours
        configure_logging(settings.log_level, settings.log_format)
        ctx["own_process"] = True
        # `testgen worker` attaches before arq connects; here arq found the embedded Redis running:
        # count this process among its users, so that it outlives the others while we need it.
        ctx["shared_redis"] = await asyncio.to_thread(shared_redis.attach, settings)
    check_provider_config(settings)
    tracing.start_tracing(settings, "testgen-worker")
    engine = create_engine(settings.database_url)
    ctx["engine"] = engine
    # As many connections as jobs may run: as many as arq's own pool would open for them.
    redis = create_redis(
        settings.effective_redis_url,
        max_connections=settings.worker_max_jobs,
        sentinel=settings.redis_sentinel,
    )
    ctx["jobs_redis"] = redis
    jira_problem = configuration_problem(settings)
    ctx["resources"] = WorkerResources(
        settings=settings,
        sessionmaker=create_sessionmaker(engine),
        store=ProgressStore(redis, settings.keep_result_s),
        providers=ProviderSet.build(settings, redis),
        rows=JobRows(engine),
        jira=JiraClient(settings) if jira_problem is None else None,
        jira_problem=jira_problem,
    )
    ctx["reaper"] = asyncio.create_task(reap_forever(ctx["resources"].sessionmaker, ctx["resources"].store))
    ctx["audit_pruner"] = asyncio.create_task(
        prune_forever(ctx["resources"].sessionmaker, settings.audit_retention_days)
    )
    resources: WorkerResources = ctx["resources"]
    ctx["heartbeat"] = asyncio.create_task(
        beat_forever(
            redis,
            uuid.uuid4().hex,
            settings.worker_heartbeat_file,
            running=lambda: resources.running,
            changed=resources.running_changed,
        )
    )
    if settings.worker_metrics_port is not None and not metrics.multiprocess_mode():
        # With `testgen worker --processes N`, the supervisor serves the metrics of all N.
        ctx["metrics_server"] = metrics.serve(settings.worker_metrics_host, settings.worker_metrics_port)
        logger.info(
            "Serving Prometheus metrics on %s:%d", settings.worker_metrics_host, settings.worker_metrics_port
        )
    if ctx.get("own_process"):  # not a worker inside the tests' process
        heap.settle()
    logger.info(
        "Worker ready: providers %s (default %s), up to %d jobs at once",
        ", ".join(ctx["resources"].providers.names),
        settings.provider,
        settings.worker_max_jobs,
    )


async def shutdown(ctx: dict[str, Any]) -> None:
    for name in ("reaper", "audit_pruner", "heartbeat"):
        if name in ctx:
            await cancel_and_wait(ctx[name])
    resources: WorkerResources | None = ctx.get("resources")
    if resources is not None:
        await resources.providers.aclose()
        if resources.jira is not None:
            await resources.jira.aclose()
    if "jobs_redis" in ctx:
        await ctx["jobs_redis"].aclose()
    if "engine" in ctx:
        await ctx["engine"].dispose()
    if ctx.get("metrics_server") is not None:
        await asyncio.to_thread(ctx["metrics_server"].shutdown)
        ctx["metrics_server"].server_close()
    await asyncio.to_thread(tracing.flush)
    if ctx.get("shared_redis") is not None:
        await asyncio.to_thread(ctx["shared_redis"].close)
    logger.info("Worker stopped")
