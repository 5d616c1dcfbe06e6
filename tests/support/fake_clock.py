"""A clock for the model-call loop that never waits: a test sees every backoff and RPM wait (how many,
how long) and the time the RPM budget counts in, without waiting for any of them."""

from __future__ import annotations

import asyncio

from testgen.generation.llm.clock import Clock


class FakeClock:
    """`sleep` records the delay and moves the time (`ms`, from 0) to the sleeper's wake-up time; the
    sleepers of one moment all wake at the latest of their times, as on a real clock. After `hold()`,
    sleeps wait until cancelled."""

    def __init__(self) -> None:
        self.ms = 0
        self.sleeps: list[float] = []
        self._held = False
        self.sleeping = 0

    @property
    def clock(self) -> Clock:
        return Clock(sleep=self.sleep, now_ms=self.now_ms)

    def now_ms(self) -> int:
        return self.ms

    def hold(self) -> None:
        self._held = True

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        wake = self.ms + round(seconds * 1000)
        self.sleeping += 1
        try:
            if self._held:
                await asyncio.Event().wait()
            await asyncio.sleep(0)
        finally:
            self.sleeping -= 1
        self.ms = max(self.ms, wake)
