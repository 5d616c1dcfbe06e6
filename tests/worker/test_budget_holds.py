"""Tokens held against a project's budget by its running jobs (worker/budget_holds.py), on real Redis."""

from __future__ import annotations

import datetime as dt

from redis.asyncio import Redis

from testgen.core.redis_keys import budget_holds_key, lease_key
from testgen.worker.budget_holds import HOLD_TTL_S, BudgetHolds
from testgen.worker.reaper import LEASE_TTL_S

DAY = dt.date(2026, 12, 1)


async def running(redis: Redis, *task_ids: str) -> None:
    for task_id in task_ids:
        await redis.set(lease_key(task_id), b"1", ex=60)


async def test_a_hold_counts_for_the_other_jobs_while_its_lease_lives(redis: Redis) -> None:
    holds = BudgetHolds(redis)
    await running(redis, "a", "b")
    assert await holds.hold(7, "a", 100, DAY) == 0
    assert await holds.hold(7, "b", 50, DAY) == 100
    assert await holds.hold(7, "a", 120, DAY) == 50, "a job run again replaces its own hold"
    assert await holds.hold(8, "c", 10, DAY) == 0, "another project's holds are its own"
    assert await holds.hold(7, "c", 10, DAY + dt.timedelta(days=1)) == 0, "and so are another day's"

    await redis.delete(lease_key("b"))  # b ended, or its worker died
    assert await holds.hold(7, "a", 120, DAY) == 0
    key = budget_holds_key(7, DAY)
    assert await redis.hgetall(key) == {b"a": b"120"}, "the hold without a lease is gone"
    assert 0 < await redis.ttl(key) <= HOLD_TTL_S

    await holds.release(7, "a", DAY)
    assert await redis.hgetall(key) == {}


async def test_a_job_without_a_lease_takes_it_with_its_hold(redis: Redis) -> None:
    """arq's own worker does not take the lease when it claims a job: the hold does, so that it counts."""
    holds = BudgetHolds(redis)
    assert await holds.hold(7, "d", 100, DAY) == 0
    assert 0 < await redis.ttl(lease_key("d")) <= LEASE_TTL_S
    assert await holds.hold(7, "e", 10, DAY) == 100
