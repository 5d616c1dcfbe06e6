"""The RPM budget's sliding window on a real Redis: on a fake clock (the time passed to the script), and
on Redis's own clock."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from testgen.generation.llm.clock import Clock
from testgen.generation.llm.ratelimit import RateLimiter
from tests.support.fake_clock import FakeClock

KEY = "testgen:llm:test:model"


async def test_two_limiters_on_one_key_share_the_window(redis: Redis) -> None:
    """6 calls through two limiters (two workers) with a budget of 3 a minute: 3 go at t=0, the other 3
    once the first ones have left the window."""
    clock = FakeClock()
    limiters = [RateLimiter(redis, KEY, 3, window_s=60.0, clock=clock.clock) for _ in range(2)]
    went_at: dict[int, int] = {}
    waited: dict[int, float] = {}

    async def call(n: int) -> None:
        waited[n] = await limiters[n % 2].acquire(f"call {n}")
        went_at[n] = clock.ms

    await asyncio.gather(*(call(n) for n in range(6)))

    times = sorted(went_at.values())
    assert times[:3] == [0, 0, 0]
    assert all(t >= 60_000 for t in times[3:])
    assert [waited[n] for n in went_at if went_at[n] == 0] == [0.0, 0.0, 0.0]
    assert len(clock.sleeps) == 3 and all(60.0 <= s <= 60.05 for s in clock.sleeps)  # with jitter
    assert sorted(w for w in waited.values() if w) == sorted(clock.sleeps)  # each waited once


async def test_a_call_in_a_later_window_does_not_wait(redis: Redis) -> None:
    clock = FakeClock()
    limiter = RateLimiter(redis, KEY, 1, window_s=60.0, clock=clock.clock)
    assert await limiter.acquire() == 0.0
    clock.ms = 59_999
    assert await limiter.acquire() > 0  # the first call is still in the window: it waited ~1 ms
    clock.ms += 60_000
    assert await limiter.acquire() == 0.0
    assert len(clock.sleeps) == 1


class _Waited(Exception):
    pass


async def test_without_a_clock_the_window_counts_in_redis_time(redis: Redis) -> None:
    """No `now_ms`: the script reads Redis's TIME. A second call in the same minute is told to wait
    for about the whole window (the first call was just made)."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        raise _Waited

    limiter = RateLimiter(redis, KEY, 1, window_s=60.0, clock=Clock(sleep=sleep))
    assert await limiter.acquire() == 0.0
    with pytest.raises(_Waited):
        await limiter.acquire()
    (delay,) = delays
    assert 1.0 < delay <= 60.05  # in seconds, most of the minute: the first call was just made
