"""The worker half of the model pass over a story's playwright-bdd skeleton: the story's distinct steps
(as the skeleton defines them), asked in batches for a TypeScript body each from the step text alone,
each answer checked (automation/fill.py); the job's result lists every proposal, and the skeleton
download with the job's task_id puts them in place (the API half is api/services/automation_fill.py).

The calls hold the project's daily budget before the first one and are recorded in the usage ledger
with the job's completion, as a generation's are."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from testgen.automation import fill
from testgen.automation.fill import (
    SYSTEM_RULES,
    FillStep,
    fill_prompt,
    fill_steps,
    parse_answer,
)
from testgen.data import repository
from testgen.data.job_states import JobStatus
from testgen.data.models import TestCase, UserStory, utcnow
from testgen.data.story_language import language_in_project
from testgen.domain.automation import FILL_BATCH_STEPS
from testgen.domain.gherkin_feature import feature
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_options import AutomationFillOptions
from testgen.domain.job_results import AutomationFillResult, StepProposal
from testgen.domain.test_cases import Scenario
from testgen.generation.budget import CHARS_PER_TOKEN
from testgen.generation.llm.base import CallStats
from testgen.generation.llm.factory import BoundProvider
from testgen.worker.json_calls import ask_json, hold_budget
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFailed, JobRun, execute
from testgen.worker.story_context import load_context

logger = logging.getLogger(__name__)

PROGRESS_READY, PROGRESS_BATCHES_START, PROGRESS_BATCHES_END = 10, 20, 95
OUTPUT_TOKENS_PER_STEP = 80  # a body of a few statements, as JSON
ANSWER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "bodies": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"index": {"type": "integer"}, "body": {"type": "string"}},
                "required": ["index", "body"],
            },
        }
    },
    "required": ["bodies"],
}


@dataclass(frozen=True)
class _CaseView:
    id: int
    title: str
    preconditions: list[str]
    test_type: str
    priority: str
    covered_criteria: list[int]
    scenarios: list[Scenario]


def story_feature(story: UserStory, cases: Sequence[TestCase], language: str) -> str:
    """The story's saved test cases as the Gherkin export writes them."""
    views = [
        _CaseView(
            id=case.id,
            title=case.title,
            preconditions=list(case.preconditions),
            test_type=case.test_type,
            priority=case.priority,
            covered_criteria=list(case.covered_criteria),
            scenarios=[Scenario.model_validate(s) for s in case.scenarios],
        )
        for case in cases
    ]
    return feature(story, views, language)


async def run_fill(res: WorkerResources, task_id: str) -> str:
    """Run fill job `task_id` to a final state; return that state's name."""

    async def work(run: JobRun, story: UserStory) -> None:
        await _fill(res, run, story)

    return await execute(res, task_id, work, what="Proposing step bodies")


def _batches(steps: Sequence[FillStep]) -> list[Sequence[FillStep]]:
    return [steps[i : i + FILL_BATCH_STEPS] for i in range(0, len(steps), FILL_BATCH_STEPS)]


def estimate_fill_tokens(batches: Sequence[Sequence[FillStep]], base_url: str) -> int:
    """The tokens of the job's calls, as the budget counts them: prompts and answers."""
    return sum(
        (len(SYSTEM_RULES) + len(fill_prompt(batch, base_url))) // CHARS_PER_TOKEN
        + len(batch) * OUTPUT_TOKENS_PER_STEP
        for batch in batches
    )


async def _ask(
    provider: BoundProvider, batch: Sequence[FillStep], base_url: str, label: str, stats: CallStats
) -> list[tuple[str | None, str | None]]:
    """(body, error) per step of the batch."""
    return await ask_json(
        provider,
        (SYSTEM_RULES, fill_prompt(batch, base_url), ANSWER_SCHEMA),
        lambda answer: parse_answer(answer, len(batch)),
        lambda: fill.offline_answer(batch, base_url),  # the offline model: deterministic
        label=label,
        stats=stats,
        what="propose step bodies",
    )


async def _fill(res: WorkerResources, run: JobRun, story: UserStory) -> None:
    started = time.monotonic()
    options = AutomationFillOptions.model_validate(run.job.options)
    provider = res.providers.for_job(options)
    context = await load_context(res, story, run.extras)
    async with res.sessionmaker() as session:
        cases = await repository.list_test_cases(session, story.id)
        await session.commit()
    language = await language_in_project(story, context.project_language)
    steps = fill_steps([story_feature(story, cases, language)]) if cases else []
    if not steps:
        raise JobFailed(
            ErrorType.conflict, f"Story {story.id} has no saved test case: no step to propose for"
        )
    batches = _batches(steps)
    await run.report(JobStatus.generating, PROGRESS_READY, f"Model ready ({provider.name}: {provider.model})")
    await hold_budget(
        res, run, context.project_id, context.budget, estimate_fill_tokens(batches, options.base_url)
    )
    stats = CallStats()
    proposals: list[StepProposal] = []
    span = PROGRESS_BATCHES_END - PROGRESS_BATCHES_START
    for i, batch in enumerate(batches):
        label = f"Batch {i + 1}/{len(batches)}"
        answers = await _ask(provider, batch, options.base_url, label, stats)
        proposals += [
            StepProposal(expression=step.expression, step=step.step, body=body, error=error)
            for step, (body, error) in zip(batch, answers, strict=True)
        ]
        await run.report(
            JobStatus.generating,
            PROGRESS_BATCHES_START + span * (i + 1) // len(batches),
            f"Proposed bodies for {len(proposals)}/{len(steps)} steps ({label})",
        )
    summary = stats.summary()
    proposed = sum(1 for p in proposals if p.body is not None)
    result = AutomationFillResult(
        framework=options.framework.value,
        base_url=options.base_url,
        provider=provider.name,
        model=provider.model,
        steps=len(steps),
        proposed=proposed,
        failed=len(steps) - proposed,
        proposals=proposals,
        stats=summary,
        duration_s=round(time.monotonic() - started, 3),
    )
    message = f"Proposed bodies for {proposed} of {len(steps)} steps; review each before use"
    await run.report(
        JobStatus.completed,
        100,
        message,
        persist=True,
        result=result.model_dump(mode="json"),
        error=None,
        finished_at=utcnow(),
        usage=context.ledger_row(run.job.id, provider.name, provider.model, summary),
    )
    logger.info("Task %s proposed %d of %d step bodies", run.job.id, proposed, len(steps))
