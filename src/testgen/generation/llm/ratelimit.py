"""A requests-per-minute budget shared by every worker process through Redis.

A sliding-window log in a sorted set, updated atomically by a Lua script that reads Redis's own
clock, so workers on different hosts agree on the window. A caller over budget waits for the
oldest call in the window to age out instead of failing. A `Clock` with its own `now_ms` (a test's)
replaces Redis's clock.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from redis.asyncio import Redis

from testgen.generation.llm.clock import SYSTEM_CLOCK, Clock

logger = logging.getLogger(__name__)

# KEYS[1] the log, KEYS[2] a sequence for unique members; ARGV[1] limit, ARGV[2] window in ms,
# ARGV[3] (optional) the time in ms, else Redis's TIME.
# Returns 0 when a slot was taken, else the ms to wait before trying again.
_ACQUIRE = """
local now
if ARGV[3] then
  now = tonumber(ARGV[3])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  local seq = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], window * 2)
  redis.call('ZADD', KEYS[1], now, now .. '-' .. seq)
  redis.call('PEXPIRE', KEYS[1], window * 2)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RateLimiter:
    def __init__(
        self, redis: Redis, key: str, limit: int, *, window_s: float = 60.0, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._redis = redis
        self._keys = [key, f"{key}:seq"]
        self._limit = limit
        self._window_ms = max(1, round(window_s * 1000))
        self._script: Any = redis.register_script(_ACQUIRE)
        self._clock = clock

    async def acquire(self, label: str = "") -> float:
        """Take one call from the budget, waiting as long as needed; returns the seconds waited."""
        waited = 0.0
        while True:
            args = [self._limit, self._window_ms]
            if self._clock.now_ms is not None:
                args.append(self._clock.now_ms())
            wait_ms = int(await self._script(keys=self._keys, args=args))
            if wait_ms == 0:
                return waited
            # A little jitter keeps waiting workers from all retrying in the same millisecond.
            delay = wait_ms / 1000 + random.uniform(0, 0.05)
            if waited == 0.0:
                logger.info(
                    "%sLLM budget of %d calls per %.0fs used up, waiting %.1fs",
                    f"{label}: " if label else "",
                    self._limit,
                    self._window_ms / 1000,
                    delay,
                )
            await self._clock.sleep(delay)
            waited += delay
