"""What a generation job reads besides its story (its project's instructions and budget, the story's
saved test cases) and what it records when done (its usage)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from testgen.core import messages
from testgen.data import usage
from testgen.data.models import TestCase, UserStory
from testgen.data.repository import ProjectSettings, StoryExtras
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_results import CallSummary, InstructionsUsed
from testgen.domain.techniques import Technique
from testgen.domain.test_cases import Scenario
from testgen.generation.budget import estimate_tokens
from testgen.generation.llm.base import BatchRequest, CoveredTest
from testgen.generation.similarity import SavedScenario
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFailed


@dataclass
class StoryContext:
    project_id: int | None = None
    instructions: str = ""
    budget: int | None = None
    project_language: str | None = None
    saved: Sequence[TestCase] = field(default_factory=list)
    techniques: list[Technique] = field(default_factory=list)  # the project's default techniques

    def covered_tests(self) -> list[CoveredTest]:
        return [
            CoveredTest(id=case.id, title=case.title, scenario_titles=[s["title"] for s in case.scenarios])
            for case in self.saved
        ]

    def saved_scenarios(self) -> list[SavedScenario]:
        return [
            SavedScenario(case.id, case.title, Scenario.model_validate(s))
            for case in self.saved
            for s in case.scenarios
        ]

    async def hold_budget(self, res: WorkerResources, task_id: str, batches: Sequence[BatchRequest]) -> None:
        """Hold the job's estimated tokens against its project's daily budget (worker/budget_holds.py),
        or fail the job before any model call when they would take the project past it, with what the
        project recorded today and what its other running jobs hold."""
        if self.budget is None or self.project_id is None:
            return
        needed, day = estimate_tokens(batches), usage.today()
        held = await res.holds.hold(self.project_id, task_id, needed, day)
        spent = await res.rows.spent_today(self.project_id)  # after the hold: see budget_holds
        if spent + held + needed > self.budget:
            await res.holds.release(self.project_id, task_id, day)
            raise JobFailed(
                ErrorType.budget, messages.budget_too_small(self.project_id, self.budget, spent, held, needed)
            )

    def ledger_row(
        self,
        task_id: str,
        provider: str,
        model: str,
        summary: CallSummary,
        batch: CallSummary | None = None,
    ) -> dict[str, Any] | None:
        """The job's row of the usage ledger (None when it has no project or made no call); `batch`:
        the part of `summary` answered through the provider's Batch API."""
        if self.project_id is None or not summary.llm_calls:
            return None
        return usage.usage_row(
            project_id=self.project_id,
            task_id=task_id,
            provider=provider,
            model=model,
            summary=summary,
            batch=batch,
        )

    def instructions_used(self) -> InstructionsUsed | None:
        """What a result records of the instructions it was written with: a hash and the first line."""
        text = self.instructions.strip()
        if not text:
            return None
        return InstructionsUsed(
            sha256=hashlib.sha256(text.encode()).hexdigest(), first_line=text.splitlines()[0][:200]
        )


async def load_context(res: WorkerResources, story: UserStory, extras: StoryExtras | None) -> StoryContext:
    """The story's context. `extras` (read with the job) spare the read when the story has no saved
    test cases, as for most stories."""
    if extras is not None and not extras.has_saved_tests:
        project = extras.project
        return _with_project(StoryContext(), story, project) if project is not None else StoryContext()
    project, saved = await res.rows.context(story.id, story.project_id)
    context = StoryContext(saved=saved)
    return _with_project(context, story, project) if project is not None else context


def _with_project(context: StoryContext, story: UserStory, project: ProjectSettings) -> StoryContext:
    context.project_id = story.project_id
    context.instructions, context.budget, context.project_language = project[:3]
    context.techniques = [Technique(t) for t in project.techniques or () if t in Technique.__members__]
    return context
