"""Worker heartbeats: each worker scores itself in one sorted set every HEARTBEAT_S seconds.

arq's own health-check key is shared by all workers and deleted by the first that stops cleanly;
this set says "some worker beat in the last WORKER_FRESH_S seconds" whatever the others do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError

from testgen.core.redis_keys import WORKERS_KEY

logger = logging.getLogger(__name__)

HEARTBEAT_S = 10
WORKER_FRESH_S = 30


async def beat_forever(redis: Redis, worker_id: str, heartbeat_file: Path | None = None) -> None:
    """Beat until cancelled. `heartbeat_file` is touched on every beat, Redis or not, so that a
    liveness probe (`testgen worker --check`) sees the event loop alive."""
    try:
        while True:
            now = time.time()
            if heartbeat_file is not None:
                await asyncio.to_thread(heartbeat_file.touch)
            with contextlib.suppress(RedisError, OSError):
                async with redis.pipeline(transaction=True) as pipe:
                    pipe.zadd(WORKERS_KEY, {worker_id: now})
                    pipe.zremrangebyscore(WORKERS_KEY, 0, now - 24 * 3600)
                    await pipe.execute()
            await asyncio.sleep(HEARTBEAT_S)
    finally:
        with contextlib.suppress(RedisError, OSError):
            await redis.zrem(WORKERS_KEY, worker_id)


def beat_age_s(heartbeat_file: Path) -> float | None:
    """Seconds since this process's worker last beat, from its heartbeat file; None if it never did."""
    try:
        return time.time() - heartbeat_file.stat().st_mtime
    except FileNotFoundError:
        return None


async def live_workers(redis: Redis) -> int:
    return int(await redis.zcount(WORKERS_KEY, time.time() - WORKER_FRESH_S, "+inf"))
