"""An arq Worker that is woken when a job is enqueued instead of waiting for its next poll.

arq looks at its queue on a timer (`poll_delay`). The API publishes on WAKE_CHANNEL after each
enqueue; this worker waits for that message (or for `poll_delay` as a fallback) between polls, so a
job is picked up in about a millisecond. Missing a message costs at most one `poll_delay`.
It also rides out a Redis outage instead of exiting, so running jobs can finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from signal import Signals
from typing import Any

from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from testgen.core.redis_keys import CLAIMED_KEY, WAKE_CHANNEL, lease_key
from testgen.worker.reaper import LEASE_TTL_S

logger = logging.getLogger(__name__)

# arq's start_jobs checks, atomically: not running, still queued, due. Marks it in progress, and
# takes the job's lease and records the claim, so that a worker dying before the job's run has
# written anything still leaves a lapsed lease behind (see reaper.reap_claims).
CLAIM_JOB = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
redis.call('SET', KEYS[3], '1', 'EX', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return score
"""


class WakeableWorker(Worker):
    def __init__(self, *args: Any, poll_delay: float = 0.05, **kwargs: Any) -> None:
        super().__init__(*args, poll_delay=0, **kwargs)
        self.idle_wait_s = poll_delay
        self._wake = asyncio.Event()
        self._listener: asyncio.Task[None] | None = None
        self._redis_backoff = 0.1
        self._claim: AsyncScript | None = None
        self._stopping = False

    def handle_sig_wait_for_completion(self, signum: Signals) -> None:
        """The first signal lets running jobs finish (up to job_completion_wait) and says so; a second
        one stops at once: the jobs are cancelled and go back on the queue (none is lost)."""
        if self._stopping:
            logger.warning("Stopping now: %d running jobs go back on the queue", len(self.tasks))
            self.handle_sig(signum)
            return
        self._stopping = True
        running = sum(not t.done() for t in self.tasks.values())
        if running:
            logger.warning(
                "Stopping: waiting up to %d s for %d running job%s; press Ctrl-C again to stop now "
                "(they go back on the queue)",
                self._job_completion_wait,
                running,
                "" if running == 1 else "s",
            )
        super().handle_sig_wait_for_completion(signum)

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
            self._redis_backoff = 0.1
        except (RedisError, OSError) as exc:
            # arq would let this end the worker; keep running jobs alive and retry until Redis is back
            logger.warning(
                "Redis unavailable (%s); retrying in %.1fs", type(exc).__name__, self._redis_backoff
            )
            await asyncio.sleep(self._redis_backoff)
            self._redis_backoff = min(self._redis_backoff * 2, 5.0)
            return
        if self._listener is None:
            self._listener = asyncio.create_task(self._listen(), name="arq-wake-listener")
        with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancellation
            async with asyncio.timeout(self.idle_wait_s):
                await self._wake.wait()
        self._wake.clear()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq's start_jobs, with one Redis round trip per job instead of four (WATCH, EXISTS,
        ZSCORE, MULTI/EXEC): the same checks, made atomic by a Lua script. It also skips the jobs
        this worker already runs: they stay in arq's queue until they finish, and arq checks each
        one on every poll, which with hundreds of jobs in flight and a poll per enqueue would make
        the worker's work grow with the square of the load."""
        for raw_id in job_ids:
            job_id = raw_id.decode()
            if job_id in self.tasks:
                continue
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            timeout_ms = int(self.in_progress_timeout_s * 1000)
            score = await self._claim_script(
                keys=[in_progress_key_prefix + job_id, self.queue_name, lease_key(job_id), CLAIMED_KEY],
                args=[job_id, timestamp_ms(), timeout_ms, LEASE_TTL_S],
            )
            if not score:  # running elsewhere, finished, or re-queued for later
                self.job_counter -= 1
                self.sem.release()
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    @property
    def _claim_script(self) -> AsyncScript:
        if self._claim is None:
            self._claim = self.pool.register_script(CLAIM_JOB)
        return self._claim

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
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await super().close()
