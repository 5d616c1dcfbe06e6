"""The worker's progress publishes, coalesced (worker/coalescer.py): the publishes of every job that
reports while one is in flight go to Redis in one pipeline, one round trip for them all.

Each job awaits its publish before its next one, so a job's events keep their order.
"""

from __future__ import annotations

from dataclasses import dataclass

from testgen.core.redis_keys import FINISHING_KEY
from testgen.domain.job_snapshots import JobSnapshot
from testgen.streaming.progress_store import ProgressStore
from testgen.worker.coalescer import Coalescer


@dataclass(frozen=True)
class Publish:
    snapshot: JobSnapshot
    event: str
    settled: bool  # a final state the database has: the job leaves FINISHING_KEY with it


class Publisher:
    def __init__(self, store: ProgressStore) -> None:
        self._store = store
        self._rounds: Coalescer[Publish, str | None] = Coalescer(self._publish_many)

    async def publish(self, snapshot: JobSnapshot, event: str, *, settled: bool = False) -> str | None:
        """`ProgressStore.publish`, coalesced with the publishes of other jobs. With `settled`, the
        job also leaves FINISHING_KEY (runner.py), in the same round trip."""
        return await self._rounds.submit(Publish(snapshot, event, settled))

    async def _publish_many(self, items: list[Publish]) -> list[str | Exception | None]:
        if len(items) == 1 and not items[0].settled:  # alone, as EVALSHA (a shorter request than EVAL)
            return [await self._store.publish(items[0].snapshot, items[0].event)]
        async with self._store.redis.pipeline(transaction=False) as pipe:
            for item in items:
                await self._store.publish_in(pipe, item.snapshot, item.event)
                if item.settled:
                    pipe.zrem(FINISHING_KEY, item.snapshot["task_id"])
            replies = iter(await pipe.execute(raise_on_error=False))
        outcomes: list[str | Exception | None] = []
        for item in items:
            reply = next(replies)
            if item.settled:
                next(replies)  # ZREM's count: whether it was there does not matter
            outcomes.append(
                reply
                if isinstance(reply, Exception)
                else reply.decode()
                if isinstance(reply, bytes)
                else None
            )
        return outcomes
