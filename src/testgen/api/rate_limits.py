"""Per-client limits: requests per minute, failed authentications per minute and jobs in flight
(shared through Redis by every API process), and open event streams (counted by each process's event
hub).

A client is an API key (by its key id) or, with API_KEYS unset, a client address; failed
authentications are counted per client address. Over a limit the answer is 429 with `Retry-After`
and a message naming the setting. The per-minute limits count in the windows of a wall clock
(`WallClock`, seconds since the epoch: `time.time` unless the app is given another).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Receive, Scope, Send

from testgen.api.security import send_error, set_principal
from testgen.core.errors import RateLimitedError
from testgen.core.redis_keys import limit_auth_failures_key, limit_jobs_key, limit_requests_key, state_key
from testgen.data.job_states import TERMINAL

logger = logging.getLogger(__name__)

EXEMPT_PATHS = ("/health",)
WINDOW_S = 60
RESERVATION = "r:"  # a slot taken while a job is being queued, before it has a task id
RESERVATION_TTL_S = 60

WallClock = Callable[[], float]

# Take `count` slots: at once when they are free; else first drop the jobs that ended (or that
# Redis forgot) and the lapsed reservations, then take them if they are free now. Only this
# client's jobs are looked at: the set never holds more than the limit.
_RESERVE_JOB = """
local limit, count = tonumber(ARGV[1]), tonumber(ARGV[7])
if redis.call('ZCARD', KEYS[1]) + count > limit then
  local terminal = {}
  for i = 8, #ARGV do terminal[ARGV[i]] = true end
  local members = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #members, 2 do
    local member = members[i]
    if string.sub(member, 1, 2) == ARGV[5] then
      if tonumber(members[i + 1]) < tonumber(ARGV[2]) - tonumber(ARGV[6]) then
        redis.call('ZREM', KEYS[1], member)
      end
    else
      local state = redis.call('GET', ARGV[4] .. member)
      local status = state and cjson.decode(state)['status']
      if not status or terminal[status] then
        redis.call('ZREM', KEYS[1], member)
      end
    end
  end
  if redis.call('ZCARD', KEYS[1]) + count > limit then
    return 0
  end
end
for i = 1, count do
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3] .. ':' .. i)
end
redis.call('EXPIRE', KEYS[1], 86400)
return 1
"""


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


def principal_of(scope: Scope) -> str:
    """The client a request counts against: set by the API key check, else the client address."""
    state = scope.setdefault("state", {})
    principal = state.get("principal")
    if principal is None:
        principal = client_address(scope)
        set_principal(scope, principal)
    return str(principal)


def retry_after_s(now: float) -> int:
    return max(1, math.ceil(WINDOW_S - now % WINDOW_S))


class WindowCounter:
    """Counters of one-minute windows in Redis, shared by every process. If Redis cannot be reached
    nothing is counted (0), with a warning once a minute."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._warned_at = 0.0

    async def add(self, scope: Scope, key_of: Callable[[int], str], now: float) -> int:
        """Count one in the window of `now`; the window's count so far. `key_of(window)`: its key."""
        redis: Redis | None = getattr(scope["app"].state, "redis", None)
        if redis is None:
            return 0
        key = key_of(int(now // WINDOW_S))
        try:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, WINDOW_S * 2)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:
            if now - self._warned_at > WINDOW_S:  # once a minute, not once per request
                self._warned_at = now
                logger.warning("%s not checked, Redis unavailable (%s)", self.what, type(exc).__name__)
            return 0
        return int(count)


class RequestRateMiddleware:
    """RATE_LIMIT_PER_MINUTE: one counter per client and minute in Redis, shared by every process.

    If Redis cannot be reached the request goes through (the routes that need Redis answer 503).
    """

    def __init__(self, app: ASGIApp, per_minute: int, clock: WallClock = time.time) -> None:
        self.app = app
        self.per_minute = per_minute
        self.clock = clock
        self.counter = WindowCounter("Rate limit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        principal = principal_of(scope)
        now = self.clock()
        count = await self.counter.add(scope, lambda window: limit_requests_key(principal, window), now)
        if count > self.per_minute:
            wait = retry_after_s(now)
            error = RateLimitedError(
                f"Too many requests: RATE_LIMIT_PER_MINUTE allows {self.per_minute} per minute "
                f"for each client; retry in {wait} s",
                wait,
            )
            await send_error(send, 429, error.message, (b"retry-after", str(wait).encode()))
            return
        await self.app(scope, receive, send)


class AuthFailureLimiter:
    """AUTH_FAILURES_PER_MINUTE: failed authentications per client address and minute, counted in
    Redis like the request rate. Once an address has used them up, its requests get 429 until the
    minute ends without their key being checked, so that a right guess then answers no differently.
    Each process remembers the addresses it saw reach the limit; another process checks one more
    request of such an address, whose failure then tells it."""

    def __init__(self, per_minute: int, clock: WallClock = time.time) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.counter = WindowCounter("Failed authentications")
        self._refused_until: dict[str, float] = {}

    def refusal(self, scope: Scope) -> RateLimitedError | None:
        now = self.clock()
        until = self._refused_until.get(client_address(scope))
        return self._error(now) if until is not None and now < until else None

    async def failed(self, scope: Scope) -> RateLimitedError | None:
        address = client_address(scope)
        now = self.clock()
        count = await self.counter.add(scope, lambda window: limit_auth_failures_key(address, window), now)
        if count < self.per_minute:
            return None
        self._refused_until = {a: t for a, t in self._refused_until.items() if t > now}  # the past ones go
        self._refused_until[address] = now + retry_after_s(now)
        return self._error(now) if count > self.per_minute else None

    def _error(self, now: float) -> RateLimitedError:
        wait = retry_after_s(now)
        return RateLimitedError(
            f"Too many failed authentications from this address: AUTH_FAILURES_PER_MINUTE allows "
            f"{self.per_minute} per minute; check the API key, then retry in {wait} s",
            wait,
        )


class JobSlot:
    """A client's places among its jobs in flight: taken just before new jobs are created (`take`,
    429 when there are not enough), then given the jobs' task ids (`confirm`), or freed."""

    def __init__(self, limiter: JobLimiter, key: str) -> None:
        self.limiter = limiter
        self.key = key
        self.reservations: list[str] = []

    async def take(self, count: int = 1) -> None:
        reservation = await self.limiter.reserve(self.key, count)
        if reservation is not None:
            self.reservations = [f"{reservation}:{i}" for i in range(1, count + 1)]

    async def confirm(self, task_ids: Sequence[str] = ()) -> None:
        """`task_ids`: the jobs queued in these slots (none: free them all)."""
        if not self.reservations:
            return
        reservations, self.reservations = self.reservations, []
        try:
            async with self.limiter.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(self.key, *reservations)
                if task_ids:
                    now = time.time()
                    pipe.zadd(self.key, dict.fromkeys(task_ids, now))
                await pipe.execute()
        except (RedisError, OSError) as exc:  # the reservations expire by themselves
            logger.warning("Job slots not recorded, Redis unavailable (%s)", type(exc).__name__)


class JobLimiter:
    """MAX_JOBS_IN_FLIGHT_PER_KEY: jobs queued or running at once, per client, across processes."""

    def __init__(self, redis: Redis, limit: int) -> None:
        self.redis = redis
        self.limit = limit
        self._reserve = redis.register_script(_RESERVE_JOB)

    @asynccontextmanager
    async def slot(self, principal: str) -> AsyncIterator[JobSlot]:
        """A slot for one request; freed at the end unless a job was confirmed in it."""
        slot = JobSlot(self, limit_jobs_key(principal))
        try:
            yield slot
        finally:
            await slot.confirm()

    async def reserve(self, key: str, count: int = 1) -> str | None:
        """`count` places in `key` under one reservation prefix, or RateLimitedError; None when there
        is nothing to count."""
        if self.limit == 0:
            return None
        reservation = RESERVATION + uuid.uuid4().hex
        try:
            taken = await self._reserve(
                keys=[key],
                args=[
                    self.limit,
                    time.time(),
                    reservation,
                    state_key(""),
                    RESERVATION,
                    RESERVATION_TTL_S,
                    count,
                    *(str(status) for status in TERMINAL),
                ],
            )
        except (RedisError, OSError):
            return None  # queueing needs Redis too, and will say that it is down
        if not taken:
            asked = "" if count == 1 else f" ({count} more were asked for)"
            raise RateLimitedError(
                f"Too many jobs in flight: MAX_JOBS_IN_FLIGHT_PER_KEY allows {self.limit} queued or "
                f"running jobs for each client{asked}; wait for some to finish or cancel some",
                5,
            )
        return reservation


def stream_limit_error(limit: int) -> RateLimitedError:
    return RateLimitedError(
        f"Too many event streams: MAX_STREAMS_PER_KEY allows {limit} open streams for each client; "
        "close one (one multiplexed stream can follow many jobs)",
        5,
    )
