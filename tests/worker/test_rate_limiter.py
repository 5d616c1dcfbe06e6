"""The model-call pacing's sliding windows on a real Redis: requests and tokens a minute, requests a
day, and what a 429 taught; on a fake clock (the time passed to the script), and on Redis's own clock.
The times a call was charged are read back from Redis (the window's log), never from a wall clock."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from testgen.generation.llm.clock import Clock
from testgen.generation.llm.quota import Quota
from testgen.generation.llm.ratelimit import Limits, RateLimiter
from tests.support.fake_clock import FakeClock
from tests.support.harness import wait_for

KEY = "testgen:llm:test:model"
GUARD_MS = 1200  # 2% of the 60 s window: a call stays counted that much longer


async def charged_at(redis: Redis, log: str = f"{KEY}:day") -> list[int]:
    """When each call in a window's log was charged (ms on the limiter's clock), in order; the day's
    log (with an LLM_RPD) keeps every call of a test."""
    return sorted(int(score) for _, score in await redis.zrange(log, 0, -1, withscores=True))


async def test_two_limiters_on_one_key_share_the_window(redis: Redis) -> None:
    """6 calls through two limiters (two workers) with a budget of 3 a minute: 3 go at t=0, the other 3
    once the first ones have left the window (and its guard)."""
    clock = FakeClock()
    limits = Limits(rpm=3, rpd=100)
    limiters = [RateLimiter(redis, KEY, limits, window_s=60.0, clock=clock.clock) for _ in range(2)]

    ids = await asyncio.gather(*(limiters[n % 2].acquire(f"call {n}") for n in range(6)))

    assert len(set(ids)) == 6 and all(ids)
    times = await charged_at(redis)
    assert times[:3] == [0, 0, 0] and all(t >= 60_000 + GUARD_MS for t in times[3:])
    assert len(clock.sleeps) >= 3 and all(61.2 <= s <= 61.25 for s in clock.sleeps[:3])  # with jitter


async def test_calls_leave_at_an_even_pace_after_a_first_few(redis: Redis) -> None:
    """100 calls a minute, 15 at once: the first 11 go together (10 calls' share of the window ahead
    of the pace), the others one each 612 ms (the window and its guard over 100), long before the
    window is used up."""
    clock = FakeClock()
    limiter = RateLimiter(redis, KEY, Limits(rpm=100, rpd=1000), window_s=60.0, clock=clock.clock)

    await asyncio.gather(*(limiter.acquire(f"call {n}") for n in range(15)))

    times = await charged_at(redis)
    assert times[:11] == [0] * 11
    paced = times[11:]
    assert all(t >= 612 * (n + 1) for n, t in enumerate(paced)) and paced == sorted(set(paced))
    assert paced[-1] < 10_000


async def test_a_call_in_a_later_window_does_not_wait(redis: Redis) -> None:
    clock = FakeClock()
    limiter = RateLimiter(redis, KEY, Limits(rpm=1), window_s=60.0, clock=clock.clock)
    await limiter.acquire()
    clock.ms = 60_000 + GUARD_MS - 1
    await limiter.acquire()  # the first call is still in the window with its guard: it waited ~1 ms
    assert len(clock.sleeps) == 1 and clock.sleeps[0] < 0.06
    clock.ms += 60_000 + GUARD_MS
    await limiter.acquire()
    assert len(clock.sleeps) == 1


async def test_tokens_a_minute_are_charged_before_and_corrected_after(redis: Redis) -> None:
    """1,000 tokens a minute, calls estimated at 400: two go at once, the third waits for the first to
    leave the window; once the first is settled at its real 100 tokens, the third goes at once."""
    clock = FakeClock()
    limiter = RateLimiter(redis, KEY, Limits(tpm=1000), window_s=60.0, clock=clock.clock)
    first = await limiter.acquire("a", 400)
    await limiter.acquire("b", 400)
    assert clock.sleeps == []

    clock.hold()  # the wait lasts until cancelled
    waiting = asyncio.ensure_future(limiter.acquire("c", 400))
    await wait_for(lambda: clock.sleeping == 1, what="the third call to wait")
    assert 61.2 <= clock.sleeps[0] <= 61.25  # for the first call to leave
    waiting.cancel()  # its charge is given back: a call not made uses no tokens
    with pytest.raises(asyncio.CancelledError):
        await waiting

    clock.sleeps.clear()
    clock.ms = 1_000
    await limiter.settle(first, 100)
    await limiter.acquire("c", 400)
    assert clock.sleeps == []
    assert int(await redis.get(f"{KEY}:total") or 0) == 900


async def test_a_call_larger_than_the_minute_goes_alone(redis: Redis) -> None:
    clock = FakeClock()
    limiter = RateLimiter(redis, KEY, Limits(tpm=1000), window_s=60.0, clock=clock.clock)
    await limiter.acquire("big", 5000)  # an empty window: it goes
    await limiter.acquire("small", 10)  # it waits for the big one to leave
    assert len(clock.sleeps) == 1 and clock.sleeps[0] >= 61.2
    big, small = await charged_at(redis, KEY)
    assert big == 0
    assert small == 60_000 + GUARD_MS  # charged for the time the big one leaves


async def test_requests_a_day_count_over_the_day(redis: Redis) -> None:
    """2 calls a day with a 1 s window (a day of 1,440 windows): the third waits the day."""
    clock = FakeClock()
    limiter = RateLimiter(redis, KEY, Limits(rpd=2), window_s=1.0, clock=clock.clock)
    await limiter.acquire()
    clock.ms = 5_000
    await limiter.acquire()
    await limiter.acquire()
    (waited,) = clock.sleeps
    assert 1435.02 <= waited <= 1435.07  # the first call leaves the day at 1,440 s (+20 ms guard)


async def test_a_429_teaches_every_worker(redis: Redis) -> None:
    """What one worker's 429 said paces another: its pause holds every call until the reset, and the
    limit it named replaces a higher configured one."""
    clock = FakeClock()
    first, second = (
        RateLimiter(redis, KEY, Limits(tpm=10_000), window_s=60.0, clock=clock.clock) for _ in range(2)
    )
    await first.learn(Quota(tpm=500, pause_s=5.0))
    await second.acquire("after the 429", 300)
    (paused,) = clock.sleeps
    assert 5.0 <= paused <= 5.05 and clock.ms >= 5_000
    await second.acquire("over the learned limit", 300)  # 600 > 500 tokens a minute
    assert len(clock.sleeps) == 2 and clock.ms >= 60_000 + GUARD_MS  # once the first left the window


async def test_without_limits_nothing_is_written_until_a_429(redis: Redis) -> None:
    clock = FakeClock()
    limiter = RateLimiter(redis, KEY, Limits(), window_s=60.0, clock=clock.clock)
    assert await limiter.acquire("free", 100) == ""
    assert await redis.keys("testgen:llm:*") == []
    await limiter.learn(Quota(pause_s=2.0))
    await limiter.acquire("paused", 100)
    assert len(clock.sleeps) == 1 and 2.0 <= clock.sleeps[0] <= 2.05


class _Waited(Exception):
    pass


async def test_without_a_clock_the_window_counts_in_redis_time(redis: Redis) -> None:
    """No `now_ms`: the script reads Redis's TIME. A second call in the same minute is told to wait
    for about the whole window (the first call was just made)."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        raise _Waited

    limiter = RateLimiter(redis, KEY, Limits(rpm=1), window_s=60.0, clock=Clock(sleep=sleep))
    await limiter.acquire()
    with pytest.raises(_Waited):
        await limiter.acquire()
    (delay,) = delays
    assert 1.0 < delay <= 61.25  # in seconds, most of the minute: the first call was just made
