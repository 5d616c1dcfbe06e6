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

from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.core.database import SINGLE_READ
from testgen.data import repository, usage
from testgen.data.job_states import Transition
from testgen.data.models import GenerationJob, TestCase, UserStory

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")
MAX_BATCH = 200


class Coalescer(Generic[Item, Result]):
    """Runs `run_batch` over the requests that arrive while a batch is running, one batch at a time.

    A request that finds nothing running is served at once, in its caller's task. `run_batch`
    returns one result per item, in order. If a batch fails, its items are retried one by one, so
    one bad request fails only its own caller.
    """

    def __init__(self, run_batch: Callable[[list[Item]], Awaitable[list[Result]]]) -> None:
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


Change = tuple[str, Transition, dict[str, Any], dict[str, Any] | None]  # the last: a usage ledger row
Loaded = tuple[GenerationJob, UserStory | None]
ContextKey = tuple[str, int | None]  # a story and its project
# The project's instructions and daily budget (None without a project), the tokens it spent today,
# the story's saved test cases.
Context = tuple[tuple[str, int | None] | None, int, list[TestCase]]


class JobRows:
    """Coalesced `load` (a job with its story) and conditional `change` of job rows; and, as coalesced,
    what a generation job reads besides (`context`); a change may add a row to the usage ledger."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._reader = engine.execution_options(**SINGLE_READ)
        self._loads: Coalescer[str, Loaded | None] = Coalescer(self._load_many)
        self._changes: Coalescer[Change, bool] = Coalescer(self._change_many)
        self._contexts: Coalescer[ContextKey, Context] = Coalescer(self._context_many)

    async def context(self, story_id: str, project_id: int | None) -> Context:
        return await self._contexts.submit((story_id, project_id))

    async def _context_many(self, keys: list[ContextKey]) -> list[Context]:
        story_ids = list(dict.fromkeys(story for story, _ in keys))
        project_ids = list({project for _, project in keys if project is not None})
        async with self._reader.connect() as connection:
            projects, cases = await repository.load_story_contexts(connection, story_ids, project_ids)
            budgeted = [pid for pid, (_, budget) in projects.items() if budget is not None]
            spent = await usage.spent_today_many(connection, budgeted) if budgeted else {}
        return [
            (projects.get(project) if project is not None else None, spent.get(project or 0, 0), cases[story])
            for story, project in keys
        ]

    async def load(self, task_id: str) -> Loaded | None:
        """The job and its story (None for a project's job), or None when the job or its story is gone."""
        return await self._loads.submit(task_id)

    async def change(
        self,
        task_id: str,
        transition: Transition,
        values: dict[str, Any],
        usage_row: dict[str, Any] | None = None,
    ) -> bool:
        """Apply `transition` (with `values`) to the job's row; False if the row did not allow it. A
        `usage_row` is added to the usage ledger in the same transaction when the change is made."""
        return await self._changes.submit((task_id, transition, values, usage_row))

    async def _load_many(self, task_ids: list[str]) -> list[Loaded | None]:
        async with self._reader.connect() as connection:
            found = await repository.load_jobs_with_stories(connection, task_ids)
        return [found.get(task_id) for task_id in task_ids]

    async def _change_many(self, changes: list[Change]) -> list[bool]:
        by_transition: dict[Transition, list[tuple[str, dict[str, Any]]]] = {}
        for task_id, transition, values, _ in changes:
            by_transition.setdefault(transition, []).append((task_id, values))
        won: set[tuple[str, Transition]] = set()
        async with self._engine.begin() as connection:
            for transition, group in by_transition.items():
                applied = await repository.change_jobs(connection, transition, group)
                won |= {(task_id, transition) for task_id in applied}
            ledger = [row for task_id, t, _, row in changes if row is not None and (task_id, t) in won]
            if ledger:
                await usage.record_many(connection, ledger)
        return [(task_id, transition) in won for task_id, transition, _, _ in changes]
