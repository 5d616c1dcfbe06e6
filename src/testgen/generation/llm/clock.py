"""The time the model-call loop waits on: the backoff between attempts and the RPM budget's wait
sleep on `sleep`, and the budget's window counts in `now_ms` (None: Redis's own clock, which every
worker shares). Tests pass a fake clock to see the waits without waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    now_ms: Callable[[], int] | None = None


SYSTEM_CLOCK = Clock()
