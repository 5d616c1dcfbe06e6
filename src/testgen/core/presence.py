"""Who is alive: worker heartbeats, and each API process's count of open event streams.

Each worker scores itself in one sorted set every HEARTBEAT_S seconds. arq's own health-check key is
shared by all workers and deleted by the first that stops cleanly; this set says "some worker beat
in the last WORKER_FRESH_S seconds" whatever the others do. Each API process reports its open event
streams every STREAMS_REPORT_S seconds, so that any of them can give the total.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from testgen.core import messages
from testgen.core.redis_keys import API_PROCESSES_KEY, API_STREAMS_KEY, WORKERS_KEY, WORKERS_RUNNING_KEY

logger = logging.getLogger(__name__)

HEARTBEAT_S = 10
# A change of the running count is reported this long after it at most, with the changes that follow
# it meanwhile: a busy worker starts and ends hundreds of jobs a second, and one beat covers them all.
RUNNING_REPORT_S = 0.25
WORKER_FRESH_S = 30
STREAMS_REPORT_S = 5


async def beat_forever(
    redis: Redis,
    worker_id: str,
    heartbeat_file: Path | None = None,
    running: Callable[[], int] = lambda: 0,
    changed: asyncio.Event | None = None,
) -> None:
    """Beat until cancelled, with the worker's count of running jobs (`running()`): every HEARTBEAT_S
    seconds, and RUNNING_REPORT_S after `changed` is set (a job started or ended). `heartbeat_file` is touched
    on every beat, Redis or not, so that a liveness probe (`testgen worker --check`) sees the event
    loop alive."""
    touched = 0.0
    try:
        while True:
            now = time.time()
            if heartbeat_file is not None and now - touched >= 1.0:
                await asyncio.to_thread(heartbeat_file.touch)
                touched = now
            with contextlib.suppress(RedisError, OSError):
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.zadd(WORKERS_KEY, {worker_id: now})
                    pipe.hset(WORKERS_RUNNING_KEY, worker_id, str(running()))
                    pipe.zremrangebyscore(WORKERS_KEY, 0, now - 24 * 3600)
                    await pipe.execute()
            if changed is None:
                await asyncio.sleep(HEARTBEAT_S)
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(HEARTBEAT_S):
                    await changed.wait()
                    await asyncio.sleep(RUNNING_REPORT_S)
            changed.clear()
    finally:
        with contextlib.suppress(RedisError, OSError):
            async with redis.pipeline(transaction=True) as pipe:
                pipe.zrem(WORKERS_KEY, worker_id)
                pipe.hdel(WORKERS_RUNNING_KEY, worker_id)
                await pipe.execute()


def beat_age_s(heartbeat_file: Path) -> float | None:
    """Seconds since this process's worker last beat, from its heartbeat file; None if it never did."""
    try:
        return time.time() - heartbeat_file.stat().st_mtime
    except FileNotFoundError:
        return None


async def report_streams_forever(redis: Redis, process_id: str, count: Callable[[], int]) -> None:
    """Report this API process's open streams (`count()`) until cancelled (then `forget_streams`)."""
    while True:
        with contextlib.suppress(RedisError, OSError):
            async with redis.pipeline(transaction=True) as pipe:
                pipe.zadd(API_PROCESSES_KEY, {process_id: time.time()})
                pipe.hset(API_STREAMS_KEY, process_id, str(count()))
                await pipe.execute()
        await asyncio.sleep(STREAMS_REPORT_S)


async def forget_streams(redis: Redis, process_id: str) -> None:
    async with redis.pipeline(transaction=True) as pipe:
        pipe.zrem(API_PROCESSES_KEY, process_id)
        pipe.hdel(API_STREAMS_KEY, process_id)
        await pipe.execute()


async def streams_elsewhere(redis: Redis, process_id: str) -> int:
    """Open event streams of the other live API processes, as of their last report."""
    cutoff = time.time() - 3 * STREAMS_REPORT_S
    gone = await redis.zrangebyscore(API_PROCESSES_KEY, "-inf", cutoff)
    if gone:  # stopped without saying so (killed): drop their figures
        async with redis.pipeline(transaction=True) as pipe:
            pipe.zrem(API_PROCESSES_KEY, *gone)
            pipe.hdel(API_STREAMS_KEY, *gone)
            await pipe.execute()
    live = await redis.zrangebyscore(API_PROCESSES_KEY, cutoff, "+inf")
    others = [p for p in live if p != process_id.encode()]
    if not others:
        return 0
    counts: list[bytes | None] = await redis.hmget(API_STREAMS_KEY, others)  # type: ignore[misc]
    return sum(int(c or 0) for c in counts)


async def live_workers(redis: Redis) -> int:
    return int(await redis.zcount(WORKERS_KEY, time.time() - WORKER_FRESH_S, "+inf"))


def live_workers_in(pipe: Pipeline) -> None:
    """`live_workers`, queued on a pipeline (its reply is the count)."""
    pipe.zcount(WORKERS_KEY, time.time() - WORKER_FRESH_S, "+inf")


async def workers_and_running_jobs(redis: Redis) -> tuple[int, int]:
    """Live workers, and the jobs they run as of their last report (at most HEARTBEAT_S old;
    RUNNING_REPORT_S after a job starts or ends)."""
    live = await redis.zrangebyscore(WORKERS_KEY, time.time() - WORKER_FRESH_S, "+inf")
    if not live:
        return 0, 0
    counts: list[bytes | None] = await redis.hmget(WORKERS_RUNNING_KEY, live)  # type: ignore[misc]
    return len(live), sum(int(c or 0) for c in counts)


async def no_worker_warning(redis: Redis) -> str | None:
    """messages.NO_WORKER_RUNNING when no worker heartbeat is alive; None when one is, or Redis cannot say."""
    try:
        alive = await live_workers(redis)
    except (RedisError, OSError):
        return None
    return None if alive else messages.NO_WORKER_RUNNING


def with_warning(message: str, warning: str) -> str:
    """A queued job's message with the warning: instead of the default one, after any other."""
    return warning if message in ("", messages.WAITING_FOR_WORKER) else f"{message.rstrip('.')}. {warning}"
