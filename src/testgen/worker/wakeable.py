"""An arq Worker that is woken when a job is enqueued instead of waiting for its next poll.

arq looks at its queue on a timer (`poll_delay`). The API publishes on WAKE_CHANNEL after each
enqueue; this worker waits for that message (or for `poll_delay` as a fallback) between polls, so a
job is picked up in about a millisecond. Missing a message costs at most one `poll_delay`.
It also rides out a Redis outage instead of exiting, so running jobs can finish, and its claim of a
job takes the job's lease. What it changes in arq's Worker goes through core.arq_adapter.ArqWorker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from redis.exceptions import RedisError

from testgen.core.arq_adapter import ArqWorker, ClaimMarks
from testgen.core.redis import cancel_and_wait
from testgen.core.redis_keys import CLAIMED_KEY, WAKE_CHANNEL, lease_key
from testgen.worker.reaper import LEASE_TTL_S

logger = logging.getLogger(__name__)


class WakeableWorker(ArqWorker):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._redis_backoff = 0.1

    def claim_marks(self, job_id: str) -> ClaimMarks:
        """The claim takes the job's lease and records the claim, so that a worker dying before the
        job's run has written anything still leaves a lapsed lease behind (see reaper.reap_claims)."""
        return ClaimMarks(lease_key=lease_key(job_id), lease_ttl_s=LEASE_TTL_S, claims_key=CLAIMED_KEY)

    async def on_redis_error(self, exc: RedisError | OSError) -> None:
        """Keep running jobs alive and retry until Redis is back."""
        logger.warning("Redis unavailable (%s); retrying in %.1fs", type(exc).__name__, self._redis_backoff)
        await asyncio.sleep(self._redis_backoff)
        self._redis_backoff = min(self._redis_backoff * 2, 5.0)

    async def between_polls(self) -> None:
        self._redis_backoff = 0.1
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="arq-wake-listener")
        with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancellation
            async with asyncio.timeout(self.idle_wait_s):
                await self._wake.wait()
        self._wake.clear()

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            try:
                async with self.pool.pubsub() as pubsub:
                    await pubsub.subscribe(WAKE_CHANNEL)
                    backoff = 0.1
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self._wake.set()
            except (RedisError, OSError) as exc:
                logger.warning("Wake-up channel lost (%s); polling until it is back", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        if self._listener is not None:
            await cancel_and_wait(self._listener)
        await super().close()
