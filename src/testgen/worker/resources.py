"""What every job of a worker process shares, built at start-up (worker/lifecycle.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from testgen.generation.llm.factory import ProviderSet
from testgen.jira.client import JiraClient
from testgen.streaming.progress_store import ProgressStore
from testgen.worker.budget_holds import BudgetHolds
from testgen.worker.job_rows import JobRows
from testgen.worker.publisher import Publisher


@dataclass
class WorkerResources:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    store: ProgressStore
    providers: ProviderSet
    rows: JobRows
    jira: JiraClient | None = None  # None when Jira is not configured (see jira_problem)
    jira_problem: str | None = None
    running: int = 0  # jobs this worker runs now (reported with its heartbeat)
    running_changed: asyncio.Event = field(default_factory=asyncio.Event)
    publisher: Publisher = field(init=False)  # the store's publishes, coalesced across jobs
    holds: BudgetHolds = field(init=False)  # tokens running jobs hold against their project's budget

    def __post_init__(self) -> None:
        self.publisher = Publisher(self.store)
        self.holds = BudgetHolds(self.store.redis)
