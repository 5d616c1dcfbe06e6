"""The worker's reads and writes of job rows, coalesced: one transaction serves every request that
is waiting when the database is free.

A worker runs hundreds of jobs at once, and each one reads its row when it starts and writes it at
the start and at the end. One transaction per request costs the pool checkout, SQLite's single
write lock and several thread hops each, which capped a worker at about 250 row operations a second
(the 1,000-job benchmark spent most of its time queued for the connection). Batched
(worker/coalescer.py), the cost is per round, not per job.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.core.database import standalone
from testgen.data import repository, usage
from testgen.data.job_states import Transition
from testgen.data.models import TestCase
from testgen.data.repository import Loaded
from testgen.worker.coalescer import Coalescer

Change = tuple[str, Transition, dict[str, Any], dict[str, Any] | None]  # the last: a usage ledger row
ContextKey = tuple[str, int | None]  # a story and its project
# The project's settings (None without a project) and the story's saved test cases.
Context = tuple[repository.ProjectSettings | None, list[TestCase]]


class JobRows:
    """Coalesced `load` (a job with its story) and conditional `change` of job rows; and, as coalesced,
    what a generation job reads besides (`context`, `spent_today`); a change may add a row to the usage
    ledger."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._standalone = standalone(engine)
        self._loads: Coalescer[str, Loaded | None] = Coalescer(self._load_many)
        self._changes: Coalescer[Change, bool] = Coalescer(self._change_many)
        self._contexts: Coalescer[ContextKey, Context] = Coalescer(self._context_many)
        self._spent: Coalescer[int, int] = Coalescer(self._spent_many)

    async def context(self, story_id: str, project_id: int | None) -> Context:
        return await self._contexts.submit((story_id, project_id))

    async def _context_many(self, keys: list[ContextKey]) -> list[Context]:
        story_ids = list(dict.fromkeys(story for story, _ in keys))
        project_ids = list({project for _, project in keys if project is not None})
        async with self._standalone.connect() as connection:
            projects, cases = await repository.load_story_contexts(connection, story_ids, project_ids)
        return [
            (projects.get(project) if project is not None else None, cases[story]) for story, project in keys
        ]

    async def spent_today(self, project_id: int) -> int:
        """The tokens the project's jobs recorded today (UTC), read after the call."""
        return await self._spent.submit(project_id)

    async def _spent_many(self, project_ids: list[int]) -> list[int]:
        async with self._standalone.connect() as connection:
            spent = await usage.spent_today_many(connection, list(dict.fromkeys(project_ids)))
        return [spent.get(project, 0) for project in project_ids]

    async def load(self, task_id: str) -> Loaded | None:
        """The job, its story and what generation reads besides (None, None for a project's job), or
        None when the job or its story is gone."""
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
        async with self._standalone.connect() as connection:
            found = await repository.load_jobs_with_stories(connection, task_ids)
        return [found.get(task_id) for task_id in task_ids]

    async def _change_many(self, changes: list[Change]) -> list[bool]:
        if len(changes) == 1 and changes[0][3] is None:  # one UPDATE: no transaction needed around it
            task_id, transition, values, _ = changes[0]
            async with self._standalone.connect() as connection:
                return [task_id in await repository.change_jobs(connection, transition, [(task_id, values)])]
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
