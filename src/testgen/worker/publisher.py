"""The worker's progress publishes, coalesced (worker/coalescer.py): the publishes of every job that
reports while one is in flight go to Redis in one pipeline, one round trip for them all.

Each job awaits its publish before its next one, so a job's events keep their order.
"""

from __future__ import annotations

from typing import Any

from testgen.streaming.progress_store import ProgressStore
from testgen.worker.coalescer import Coalescer

Publish = tuple[dict[str, Any], str]  # a snapshot and its event


class Publisher:
    def __init__(self, store: ProgressStore) -> None:
        self._store = store
        self._rounds: Coalescer[Publish, str | None] = Coalescer(self._publish_many)

    async def publish(self, snapshot: dict[str, Any], event: str) -> str | None:
        """`ProgressStore.publish`, coalesced with the publishes of other jobs."""
        return await self._rounds.submit((snapshot, event))

    async def _publish_many(self, items: list[Publish]) -> list[str | Exception | None]:
        if len(items) == 1:  # a lone publish goes as EVALSHA (a shorter request than a pipeline's EVAL)
            return [await self._store.publish(*items[0])]
        async with self._store.redis.pipeline(transaction=False) as pipe:
            for snapshot, event in items:
                await self._store.publish_in(pipe, snapshot, event)
            replies = await pipe.execute(raise_on_error=False)
        return [
            reply if isinstance(reply, Exception) else reply.decode() if isinstance(reply, bytes) else None
            for reply in replies
        ]
