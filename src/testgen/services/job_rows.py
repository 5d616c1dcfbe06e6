"""The worker's reads and writes of job rows, coalesced: one transaction serves every request that
is waiting when the database is free.

A worker runs hundreds of jobs at once, and each one reads its row when it starts and writes it at
the start and at the end. One transaction per request costs the pool checkout, SQLite's single
write lock and several thread hops each, which capped a worker at about 250 row operations a second
(the 1,000-job benchmark spent most of its time queued for the connection). Batched, the cost is
per round, not per job. A lone request is not delayed: its round starts at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen import repository
from testgen.db import READ_ONLY
from testgen.models import GenerationJob, UserStory

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
MAX_BATCH = 200


class Coalescer(Generic[Item, Result]):
    """Runs `run_batch` over the requests pending when it gets its turn, one batch at a time.

    `run_batch` returns one result per item, in order. If a batch fails, its items are retried one
    by one, so one bad request fails only its own caller.
    """

    def __init__(self, run_batch: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
        self._run_batch = run_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
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

    async def _outcomes(self, items: list[Item]) -> list[Result | Exception]:
        try:
            return list(await self._run_batch(items))
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            logger.warning("A batch of %d failed (%s); retrying one by one", len(items), exc)
            return [(await self._outcomes([item]))[0] for item in items]


class JobRows:
    """Coalesced `load` (a job with its story) and conditional `update` of active job rows."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker
        self._loads: Coalescer[str, tuple[GenerationJob, UserStory] | None] = Coalescer(self._load_many)
        self._updates: Coalescer[tuple[str, dict[str, Any]], bool] = Coalescer(self._update_many)

    async def load(self, task_id: str) -> tuple[GenerationJob, UserStory] | None:
        """The job and its story, or None when either is gone."""
        return await self._loads.submit(task_id)

    async def update(self, task_id: str, values: dict[str, Any]) -> bool:
        """Write `values` to the job's row if it is still active; False if it is not (any more)."""
        return await self._updates.submit((task_id, values))

    async def _load_many(self, task_ids: list[str]) -> list[tuple[GenerationJob, UserStory] | None]:
        async with self._sessionmaker() as session:
            await session.connection(execution_options=READ_ONLY)
            found = await repository.get_jobs_with_stories(session, task_ids)
        return [found.get(task_id) for task_id in task_ids]

    async def _update_many(self, updates: list[tuple[str, dict[str, Any]]]) -> list[bool]:
        async with self._sessionmaker() as session:
            applied = await repository.update_active_jobs(session, updates)
            await session.commit()
        return [task_id in applied for task_id, _ in updates]
