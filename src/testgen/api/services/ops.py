"""Liveness, readiness and Prometheus metrics, derived at request time from the database and Redis.

Worker liveness comes from the workers' heartbeats (services/presence.py); job counts, durations
and LLM usage are aggregated from the generation_jobs rows on every scrape: cheap up to some 100k
jobs; past that, keep counters instead. Because deleting a story deletes its jobs, the aggregates
can go down: they are gauges, not counters.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from testgen.core.config import Settings
from testgen.core.errors import DatabaseUnavailableError
from testgen.core.presence import WORKER_FRESH_S, live_workers, streams_elsewhere
from testgen.core.redis import redact_url
from testgen.core.redis_keys import QUEUE_NAME
from testgen.data.job_states import RUNNING, TERMINAL, JobStatus
from testgen.data.models import GenerationJob
from testgen.generation.llm.checks import provider_problem

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0
LLM_PROBE_TIMEOUT_S = 2.0
WARNING = "warning: "
NO_WORKER = f"none seen: no worker heartbeat in the last {WORKER_FRESH_S} s"

# Job run times span seconds to the job timeout (10 minutes by default).
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
RUNNING_GROUP = "running"  # the metrics count started and generating jobs together
STATUS_GROUPS = {s.value: RUNNING_GROUP if s in RUNNING else s.value for s in JobStatus}
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def health() -> dict[str, str]:
    return {"status": "ok"}


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]  # "ok", or what is wrong

    @property
    def ready(self) -> bool:
        """Every check is "ok" or only a warning (a secondary provider, an unreachable local model)."""
        return all(v == "ok" or v.startswith(WARNING) for v in self.checks.values())


def _secrets(settings: Settings) -> list[str]:
    """The passwords in the database and Redis URLs, as written and decoded: never shown in a check."""
    found: set[str] = set()
    for url in (settings.database_url, settings.effective_redis_url):
        password = urlsplit(url).password
        if password:
            found |= {password, unquote(password)}
    return sorted(found, key=len, reverse=True)


def _describe(exc: BaseException, secrets: Iterable[str]) -> str:
    if isinstance(exc, TimeoutError):
        return f"down: no answer within {CHECK_TIMEOUT_S:g} s"
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    message = str(cause).strip().splitlines()[0][:200] if str(cause).strip() else ""
    for secret in secrets:
        message = message.replace(secret, "***")
    return f"down: {type(cause).__name__}" + (f": {message}" if message else "")


async def _check_database(engine: AsyncEngine) -> None:
    async with asyncio.timeout(CHECK_TIMEOUT_S), engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check(probe: Awaitable[None], secrets: list[str]) -> str:
    try:
        await probe
    except Exception as exc:  # a probe reports whatever went wrong; it never fails the request
        return _describe(exc, secrets)
    return "ok"


async def _probe_model_server(settings: Settings) -> str:
    """Whether the OpenAI-compatible server at OPENAI_BASE_URL answers (GET /models); only a warning
    when it does not: a local model server may start after testgen, and only its jobs fail meanwhile."""
    url = settings.openai_endpoint.rstrip("/") + "/models"
    key = settings.openai_api_key.get_secret_value().strip() if settings.openai_api_key else ""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    where = redact_url(settings.openai_endpoint)
    try:
        async with httpx.AsyncClient(timeout=LLM_PROBE_TIMEOUT_S) as http:
            response = await http.get(url, headers=headers)
    except httpx.HTTPError as exc:
        what = type(exc).__name__
        return f"{WARNING}cannot reach the model server at {where} ({what}); its jobs fail until it answers"
    if response.status_code in (401, 403):
        return f"{WARNING}the model server at {where} rejected OPENAI_API_KEY ({response.status_code})"
    return "ok"


async def _llm_checks(settings: Settings) -> dict[str, str]:
    """One check per configured provider but offline: its configuration problem, or (for a local
    OpenAI-compatible server) whether it answers. A problem of the default provider makes /ready fail."""
    checks: dict[str, str] = {}
    for name in settings.configured_providers:
        if name == "offline":
            continue
        problem = provider_problem(settings, name)
        if problem is not None:
            checks[f"llm:{name}"] = (
                "" if name == settings.provider else WARNING
            ) + f"misconfigured: {problem}"
        elif name == "openai" and settings.openai_base_url and not settings.openai_is_azure:
            checks[f"llm:{name}"] = await _probe_model_server(settings)
        else:
            checks[f"llm:{name}"] = "ok"
    return checks


async def readiness(engine: AsyncEngine, redis: Redis, settings: Settings) -> Readiness:
    """Ready when the database and Redis answer, some worker's heartbeat is alive and the default LLM
    provider is configured; other providers' problems and an unreachable local model are warnings."""
    secrets = _secrets(settings)
    heartbeat = False

    async def redis_probe() -> None:
        nonlocal heartbeat
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await redis.ping()
            heartbeat = await live_workers(redis) > 0

    database, redis_state, llm = await asyncio.gather(
        _check(_check_database(engine), secrets), _check(redis_probe(), secrets), _llm_checks(settings)
    )
    workers = "ok" if heartbeat else NO_WORKER
    if redis_state != "ok":
        workers = "unknown: Redis is down"
    if not (database == redis_state == workers == "ok"):
        logger.info("Not ready: database %s; redis %s; workers %s", database, redis_state, workers)
    return Readiness({"database": database, "redis": redis_state, "workers": workers, **llm})


# --- metrics ---------------------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))


class _Exposition:
    """Prometheus text format (version 0.0.4), written by hand."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, name: str, value: float, **labels: str) -> None:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items())
        self.lines.append(f"{name}{{{inner}}} {_number(value)}" if inner else f"{name} {_number(value)}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


async def _job_counts(session: AsyncSession) -> dict[str, int]:
    counts = dict.fromkeys(STATUS_GROUPS.values(), 0)
    rows = await session.execute(select(GenerationJob.status, func.count()).group_by(GenerationJob.status))
    for status, count in rows:
        group = STATUS_GROUPS.get(status, status)
        counts[group] = counts.get(group, 0) + count
    return counts


async def _durations(session: AsyncSession) -> dict[str, list[float]]:
    query = select(GenerationJob.status, GenerationJob.started_at, GenerationJob.finished_at).where(
        GenerationJob.status.in_([s.value for s in TERMINAL]),
        GenerationJob.started_at.is_not(None),
        GenerationJob.finished_at.is_not(None),
    )
    durations: dict[str, list[float]] = {s.value: [] for s in JobStatus if s in TERMINAL}
    for status, started, finished in await session.execute(query):
        if started is not None and finished is not None:
            durations[status].append(max(0.0, (finished - started).total_seconds()))
    return durations


async def _llm_usage(session: AsyncSession) -> dict[str, int]:
    keys = ("llm_calls", "retries", "reasks")
    stats = [func.sum(GenerationJob.result[("stats", key)].as_integer()) for key in keys]
    row = (await session.execute(select(*stats).where(GenerationJob.result.is_not(None)))).one()
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}


async def _error_types(session: AsyncSession) -> dict[str, int]:
    kind = GenerationJob.error["type"].as_string()
    query = (
        select(kind, func.count())
        .where(GenerationJob.status == JobStatus.failed, GenerationJob.error.is_not(None))
        .group_by(kind)
    )
    return {str(t or "unknown"): n for t, n in await session.execute(query)}


async def _redis_state(redis: Redis, process_id: str) -> dict[str, Any] | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            depth = await redis.zcard(QUEUE_NAME)
            alive = await live_workers(redis)
            streams = await streams_elsewhere(redis, process_id)
    except (RedisError, OSError, TimeoutError) as exc:
        logger.warning("Metrics without Redis figures: %s", type(exc).__name__)
        return None
    return {"depth": int(depth), "workers": int(bool(alive)), "streams_elsewhere": streams}


async def metrics(session: AsyncSession, redis: Redis, *, local_streams: int, process_id: str) -> str:
    """The metrics of the whole service, whichever API process answers the scrape."""
    try:
        counts = await _job_counts(session)
        durations = await _durations(session)
        usage = await _llm_usage(session)
        errors = await _error_types(session)
        await session.commit()  # end the read: on SQLite an open transaction holds the write lock
    except OSError as exc:  # e.g. PostgreSQL refusing connections: the driver's error is not wrapped
        raise DatabaseUnavailableError("database unavailable: cannot connect; no metrics") from exc
    queue = await _redis_state(redis, process_id)

    out = _Exposition()
    out.family("testgen_jobs", "gauge", "Generation jobs in the database by status.")
    for status, count in counts.items():
        out.sample("testgen_jobs", count, status=status)

    out.family(
        "testgen_job_duration_seconds",
        "histogram",
        "Run time (finished_at - started_at) of the finished jobs in the database, by final status.",
    )
    for status, values in durations.items():
        for bound in DURATION_BUCKETS:
            below = sum(1 for v in values if v <= bound)
            out.sample("testgen_job_duration_seconds_bucket", below, status=status, le=repr(bound))
        out.sample("testgen_job_duration_seconds_bucket", len(values), status=status, le="+Inf")
        out.sample("testgen_job_duration_seconds_sum", float(sum(values)), status=status)
        out.sample("testgen_job_duration_seconds_count", len(values), status=status)

    for key, name, what in (
        ("llm_calls", "testgen_llm_calls", "LLM calls"),
        ("retries", "testgen_llm_retries", "LLM call retries (rate limits, server errors, timeouts)"),
        ("reasks", "testgen_llm_reasks", "LLM re-asks after malformed or short answers"),
    ):
        out.family(name, "gauge", f"{what} made by the completed jobs in the database.")
        out.sample(name, usage[key])

    out.family("testgen_job_errors", "gauge", "Failed jobs in the database by error type.")
    for kind, count in sorted(errors.items()):
        out.sample("testgen_job_errors", count, type=kind)

    out.family(
        "testgen_sse_connections",
        "gauge",
        "Open Server-Sent Events connections to all API processes (the others as of their last report, "
        "at most 5 s old; this process's alone while Redis is down).",
    )
    out.sample("testgen_sse_connections", local_streams + (queue or {}).get("streams_elsewhere", 0))

    out.family("testgen_redis_up", "gauge", "1 if Redis answered this scrape.")
    out.sample("testgen_redis_up", 0 if queue is None else 1)
    if queue is not None:
        out.family(
            "testgen_queue_depth", "gauge", "Jobs in the arq queue, waiting or running (ZCARD testgen:queue)."
        )
        out.sample("testgen_queue_depth", queue["depth"])
        out.family("testgen_workers_up", "gauge", "1 if some worker's heartbeat is alive.")
        out.sample("testgen_workers_up", queue["workers"])
    return out.render()
