"""core.redis.cancel_and_wait: a background task that uses Redis is stopped even when redis-py
swallows the cancellation (it does when one lands while it checks a pooled connection)."""

from __future__ import annotations

import asyncio

import pytest

from testgen.core.redis import cancel_and_wait


async def test_a_task_that_swallows_a_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def beat() -> None:  # as redis-py's can_read_destructive does with an unlucky cancel
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1

    task = asyncio.create_task(beat())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_and_wait(task))
    await asyncio.wait([stopping], timeout=5)
    try:
        assert stopping.done(), "the task is still running"
        assert task.cancelled() and swallowed == 1
    finally:
        task.cancel()
        stopping.cancel()


async def test_the_error_a_task_ended_with_is_raised() -> None:
    async def broken() -> None:
        raise ValueError("boom")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with pytest.raises(ValueError, match="boom"):
        await cancel_and_wait(task)
