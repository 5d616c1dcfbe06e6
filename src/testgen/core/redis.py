"""The Redis client (an arq pool) that the API and workers share a configuration for."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from arq.connections import ArqRedis
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError, TimeoutError

from testgen.core.redis_keys import QUEUE_NAME


def serialize_job(data: dict[str, Any]) -> bytes:
    """JSON for arq's jobs and results. A failed job's result is an exception: it is stored as
    "Type: message" (arq would otherwise log a traceback and store a placeholder)."""
    return json.dumps(data, separators=(",", ":"), default=_exception_text).encode()


def _exception_text(value: object) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def deserialize_job(data: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(data)
    return result


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def create_redis(url: str, *, max_connections: int = 8) -> ArqRedis:
    """An arq-capable client that connects lazily, so a Redis outage at start-up is not fatal.

    The pool is small and blocking: requests wait briefly for a free connection instead of opening
    one each, so thousands of SSE clients cost a handful of Redis connections. Jobs are serialised
    as JSON: nothing read back from Redis is ever unpickled.
    """
    pool = BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=5,
        socket_connect_timeout=2,
        socket_timeout=10,
        health_check_interval=30,
        retry=reconnect_retry(),
        retry_on_error=[ConnectionError, TimeoutError],
    )
    return ArqRedis(
        connection_pool=pool,
        job_serializer=serialize_job,
        job_deserializer=deserialize_job,
        default_queue_name=QUEUE_NAME,
    )


def reconnect_retry() -> Retry:
    """Retry a command once or twice on a fresh connection: a restarted Redis leaves stale ones."""
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2)


def create_blocking_reader(url: str) -> Redis:
    """A client for one long blocking read (XREAD BLOCK): no socket timeout shorter than the block."""
    client: Redis = Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=None, health_check_interval=30
    )
    return client
