"""Coalesced requests: one round serves every request that is waiting when the resource is free.

A worker runs hundreds of jobs at once. Served one by one, their database reads and writes and their
Redis publishes each pay a round trip (and, on the database, a pool checkout and a transaction);
coalesced, the cost is per round, not per request. A lone request is not delayed: its round starts at
once, in its caller's task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
MAX_BATCH = 200


class Coalescer(Generic[Item, Result]):
    """Runs `run_batch` over the requests that arrive while a batch is running, one batch at a time.

    A request that finds nothing running is served at once, in its caller's task. `run_batch`
    returns one outcome per item, in order: a result, or an exception its caller gets raised. If a
    batch fails as a whole, its items are retried one by one, so one bad request fails only its own
    caller.
    """

    def __init__(self, run_batch: Callable[[list[Item]], Awaitable[Sequence[Result | Exception]]]) -> None:
        self._run_batch = run_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._busy = False
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        if not self._busy:  # nothing running: serve this one in the caller's task, at no extra cost
            self._busy = True
            try:
                outcome = (await self._outcomes([item]))[0]
            finally:
                self._busy = False
                self._flush_soon()
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        return await future

    def _flush_soon(self) -> None:
        if self._pending and not self._busy:
            self._busy = True
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
                try:
                    outcomes = await self._outcomes([item for item, _ in batch])
                except BaseException:  # the flusher itself was cancelled: so are its callers
                    for _, future in batch:
                        future.cancel()
                    raise
                for (_, future), outcome in zip(batch, outcomes, strict=True):
                    if future.done():  # its caller was cancelled
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
        finally:
            self._busy = False

    async def _outcomes(self, items: list[Item]) -> list[Result | Exception]:
        try:
            return list(await self._run_batch(items))
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            logger.warning("A batch of %d failed (%s); retrying one by one", len(items), exc)
            return [(await self._outcomes([item]))[0] for item in items]
