"""The Redis clients: the one (an arq pool) that the API and our worker code share a configuration
for, and arq's own, which its worker builds from `arq_settings`; `cancel_and_wait` stops a task
that uses one."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from arq.connections import ArqRedis, RedisSettings
from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, ConnectionError, TimeoutError

from testgen.core.arq_adapter import JsonArqRedis
from testgen.core.config import SentinelAddress


def redact_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


class _BlockingSentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """Sentinel's pool (it asks the sentinels where the master is, and follows a failover) with the
    blocking pool's bounded wait for a free connection."""


def _password_and_database(url: str) -> tuple[str | None, int]:
    """Behind Sentinel, REDIS_URL gives only the master's password and database number (if any)."""
    parts = urlsplit(url)
    database = parts.path.strip("/")
    return (unquote(parts.password) if parts.password else None), int(database) if database.isdigit() else 0


def _sentinel(address: SentinelAddress, url: str) -> Sentinel:
    password, database = _password_and_database(url)
    return Sentinel(  # type: ignore[no-untyped-call]
        list(address.sentinels), socket_connect_timeout=2, db=database, password=password
    )


def create_redis(url: str, *, max_connections: int = 8, sentinel: SentinelAddress | None = None) -> ArqRedis:
    """An arq-capable client that connects lazily, so a Redis outage at start-up is not fatal.

    The pool is small and blocking: requests wait briefly for a free connection instead of opening
    one each, so thousands of SSE clients cost a handful of Redis connections. Jobs are serialised
    as JSON: nothing read back from Redis is ever unpickled. With `sentinel`, the master is found
    (and followed) through Redis Sentinel.
    """
    options: dict[str, Any] = {
        "max_connections": max_connections,
        "timeout": 5,
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        "health_check_interval": 30,
        "retry": reconnect_retry(),
        "retry_on_error": [ConnectionError, TimeoutError],
    }
    if sentinel is not None:
        client: ArqRedis = _sentinel(sentinel, url).master_for(
            sentinel.master,
            redis_class=JsonArqRedis,
            connection_pool_class=_BlockingSentinelPool,
            **options,
        )
        return client
    pool = BlockingConnectionPool.from_url(url, **options)
    return JsonArqRedis(connection_pool=pool)


def reconnect_retry() -> Retry:
    """Retry a command once or twice on a fresh connection: a restarted Redis leaves stale ones."""
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2)


def create_blocking_reader(url: str, *, sentinel: SentinelAddress | None = None) -> Redis:
    """A client for one long blocking read (XREAD BLOCK): no socket timeout shorter than the block."""
    options: dict[str, Any] = {
        "socket_connect_timeout": 2,
        "socket_timeout": None,
        "health_check_interval": 30,
    }
    if sentinel is not None:
        reader: Redis = _sentinel(sentinel, url).master_for(sentinel.master, **options)
        return reader
    client: Redis = Redis.from_url(url, **options)
    return client


def outage_retry() -> Retry:
    """Retry a command for about 35 s while Redis is away (waits of 0.2, 0.4, 0.8, 1.6, then 2 s)."""
    return Retry(ExponentialBackoff(cap=2.0, base=0.1), retries=20)


# A refused or timed-out connect is an OSError (redis-py's pool connects outside the command's retry
# and retries only these); BusyLoadingError is a restarted Redis still reading its files.
OUTAGE_ERRORS = (ConnectionError, TimeoutError, BusyLoadingError, OSError)


def arq_settings(url: str, *, sentinel: SentinelAddress | None = None) -> RedisSettings:
    """arq's connection settings for a worker, through Sentinel when configured.

    arq's worker ends on the first Redis error its loop sees, so its pool waits for Redis instead:
    each command retries (`outage_retry`) across a restart. Our job code has its own client
    (`create_redis`), which fails fast: it skips what it cannot publish and retries what matters.
    arq builds a Sentinel pool without these options.
    """
    if sentinel is not None:
        password, database = _password_and_database(url)
        settings = RedisSettings(
            host=list(sentinel.sentinels),
            sentinel=True,
            sentinel_master=sentinel.master,
            password=password,
            database=database,
        )
    else:
        settings = RedisSettings.from_dsn(url)
    settings.retry = outage_retry()
    settings.retry_on_error = list(OUTAGE_ERRORS)
    return settings


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel a task that uses Redis and wait for it to end. redis-py 5 can swallow a cancellation
    that lands while it checks a connection taken from its pool (a read under a zero timeout), and the
    task goes on: it is cancelled again until it ends."""
    while not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=0.1)
    with contextlib.suppress(asyncio.CancelledError):
        await task
