"""Liveness, readiness and Prometheus metrics.

Worker liveness comes from the workers' heartbeats (core/presence.py). The metrics are
prometheus-client's (core/metrics.py), counted where things happen, plus a few service-wide gauges
read from Redis at scrape time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import httpx
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.core import metrics as m
from testgen.core.config import Settings
from testgen.core.metrics import gauge
from testgen.core.presence import WORKER_FRESH_S, live_workers, streams_elsewhere, workers_and_running_jobs
from testgen.core.redis import redact_url
from testgen.core.redis_keys import QUEUE_NAME
from testgen.generation.llm.checks import provider_problem

logger = logging.getLogger(__name__)

CHECK_TIMEOUT_S = 3.0
LLM_PROBE_TIMEOUT_S = 2.0
WARNING = "warning: "
NO_WORKER = f"none seen: no worker heartbeat in the last {WORKER_FRESH_S} s"

CONTENT_TYPE = m.CONTENT_TYPE


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


async def _redis_figures(redis: Redis, process_id: str) -> dict[str, int] | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            depth = await redis.zcard(QUEUE_NAME)
            workers, running = await workers_and_running_jobs(redis)
            streams = await streams_elsewhere(redis, process_id)
    except (RedisError, OSError, TimeoutError) as exc:
        logger.warning("Metrics without Redis figures: %s", type(exc).__name__)
        return None
    return {"depth": int(depth), "workers": workers, "running": running, "streams_elsewhere": streams}


async def metrics(redis: Redis, *, local_streams: int, process_id: str) -> bytes:
    """This process's metrics (with `testgen api --workers N`, those of all N) and the service-wide
    gauges, read from Redis: a few Redis commands per scrape and no database query, so a scrape costs
    the same however many jobs there are."""
    figures = await _redis_figures(redis, process_id)
    families = [
        gauge(m.REDIS_UP, "1 if Redis answered this scrape.", 0 if figures is None else 1),
        gauge(
            m.SSE_STREAMS_OPEN,
            "Open Server-Sent Events streams of all API processes (the others as of their last report, "
            "at most 5 s old; this process's alone while Redis is down).",
            local_streams + (figures or {}).get("streams_elsewhere", 0),
        ),
    ]
    if figures is not None:
        families += [
            gauge(
                m.QUEUE_DEPTH,
                "Jobs in the arq queue, waiting or running (ZCARD testgen:queue).",
                figures["depth"],
            ),
            gauge(m.WORKERS_LIVE, "Workers whose heartbeat is alive.", figures["workers"]),
            gauge(
                m.JOBS_RUNNING,
                "Jobs the live workers run, as of their last report (sent when a job starts or ends).",
                figures["running"],
            ),
        ]
    return await asyncio.to_thread(m.exposition, families)
