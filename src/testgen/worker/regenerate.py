"""The worker half of regenerating one test case of a draft: a job of its own that replaces that test
case in its parent (the API half, the enqueue, is in api/services/review.py).

The parent's draft is updated in the same transaction that completes the regeneration job, with the
parent row locked and still completed and unsaved: a save, a discard or another regeneration of the
same draft cannot interleave, and nothing is applied if this job was cancelled meanwhile.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter
from typing import Any

from testgen.core import messages
from testgen.core.tracing import batch_span
from testgen.data import repository, usage
from testgen.data.drafts import draft_cases, is_open_draft
from testgen.data.job_states import COMPLETE, EDIT_DRAFT, JobStatus
from testgen.data.models import GenerationJob, UserStory, utcnow
from testgen.data.story_language import language_in_project
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_options import GenerateJobOptions, RegenerateJobOptions
from testgen.domain.job_results import DraftResult, QualityReport, RegenerationResult, RunStats
from testgen.domain.techniques import Technique, technique_of
from testgen.domain.test_cases import TestCaseDraft
from testgen.generation.duplicates import DedupeOutcome, replace_duplicates
from testgen.generation.llm.base import (
    BadOutputError,
    BatchRequest,
    CallStats,
    StoryText,
    TestCaseSlot,
    story_text,
)
from testgen.generation.planning import TYPE_CYCLE, plan_batches, technique_for
from testgen.generation.quality import coverage, quality_report
from testgen.generation.similarity import Duplicate, SavedIndex, find_duplicates
from testgen.worker.generate import (
    PROGRESS_BATCHES_START,
    PROGRESS_BUILDING,
    PROGRESS_DEDUPE,
    PROGRESS_MODEL_READY,
)
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFailed, JobFinished, JobRun, execute
from testgen.worker.story_context import load_context
from testgen.worker.story_files import load_story_files

logger = logging.getLogger(__name__)


class DraftClosed(JobFailed):
    """The parent draft was saved or discarded before the new test case could replace the old one."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorType.conflict, message)


async def run_regeneration(res: WorkerResources, task_id: str) -> str:
    """Run regeneration job `task_id` to a final state; return that state's name."""

    async def work(run: JobRun, story: UserStory) -> None:
        if run.job.parent_id is None:
            raise JobFailed(ErrorType.internal, f"Task {task_id} names no draft to regenerate in")
        await _regenerate(res, run, story, run.job.parent_id)

    return await execute(res, task_id, work, what="Regeneration")


def case_technique(case: TestCaseDraft) -> Technique | None:
    """The technique a test case was written with: the one most of its scenarios name, if any."""
    named = Counter(s.technique for s in case.scenarios if s.technique is not None)
    return named.most_common(1)[0][0] if named else None


def _open_cases(parent: GenerationJob | None, parent_id: str, index: int) -> list[TestCaseDraft]:
    cases = draft_cases(parent) if parent is not None else []
    if parent is None or not is_open_draft(parent) or index >= len(cases):
        raise DraftClosed(messages.draft_closed(parent_id, index))
    return cases


async def _regenerate(res: WorkerResources, run: JobRun, story: UserStory, parent_id: str) -> None:
    started = time.monotonic()
    options = RegenerateJobOptions.model_validate(run.job.options)
    if options.extend is not None:
        await _extend(res, run, story, parent_id, options, started)
        return
    provider = res.providers.for_job(options)
    index, per_case = options.index, options.scenarios_per_test_case
    async with res.sessionmaker() as session:
        cases = _open_cases(await repository.get_job(session, parent_id), parent_id, index)
    context = await load_context(res, story, run.extras)
    old = cases[index]
    text = story_text(story, await language_in_project(story, context.project_language))
    criteria = [i for i in old.covered_criteria if i < len(text.acceptance_criteria)]
    slot = TestCaseSlot(
        index=index, test_type=old.test_type.value, criteria=criteria, technique=case_technique(old)
    )

    await run.report(
        JobStatus.generating, PROGRESS_MODEL_READY, f"Model ready ({provider.name}: {provider.model})"
    )
    await run.report(
        JobStatus.generating, PROGRESS_BATCHES_START, f"Regenerating test case {index + 1} of {len(cases)}"
    )
    avoid = [s.title for s in old.scenarios] + [
        s.title for i, case in enumerate(cases) if i != index for s in case.scenarios
    ]
    files, attachments_used = await load_story_files(res, story.id, provider.name, provider.model)
    request = BatchRequest(
        story=text,
        batch_index=0,
        batch_count=1,
        slots=[slot],
        scenarios_per_test_case=per_case,
        avoid_titles=avoid,
        technique="" if slot.technique else technique_for(index),
        saved_tests=context.covered_tests(),
        instructions=context.instructions,
        instruction=options.instruction or "",
        files=files,
    )
    await context.hold_budget(res, run.job.id, [request])
    with batch_span(0, 1, request.scenario_count, provider.name, provider.model):
        answer = await provider.generate_batch(request)
    if not answer.test_cases:
        raise BadOutputError("model wrote no test case")
    stats = CallStats()
    stats.add(answer.stats)
    cases[index] = answer.test_cases[0]

    threshold = res.settings.duplicate_threshold
    saved = SavedIndex(context.saved_scenarios(), threshold)
    outcome = DedupeOutcome(0, [], 0)
    if find_duplicates(cases, saved, threshold=threshold, only=index):
        await run.report(JobStatus.generating, PROGRESS_DEDUPE, "Replacing near-duplicate scenarios")
        outcome = await replace_duplicates(
            provider, [request], cases, stats, saved=saved, threshold=threshold, only=index
        )
    await run.report(JobStatus.generating, PROGRESS_BUILDING, "Updating the draft")
    summary = stats.summary()
    ledger = context.ledger_row(run.job.id, provider.name, provider.model, summary)
    # Complete but for the parent draft's coverage, known once the draft is updated (in _apply).
    result = functools.partial(
        RegenerationResult,
        parent_id=parent_id,
        index=index,
        test_case=cases[index],
        provider=provider.name,
        model=provider.model,
        language=text.language,
        language_mismatch=stats.language_mismatches > 0,
        duplicates=[d.reported() for d in outcome.remaining],
        instructions=context.instructions_used(),
        attachments=attachments_used or None,
        stats=RunStats(
            **summary.model_dump(),
            duplicates_replaced=outcome.replaced,
            dedupe_calls=outcome.calls,
            duplicates_remaining=len(outcome.remaining) or None,
            duration_s=round(time.monotonic() - started, 3),
        ),
    )
    await _apply(res, run, parent_id, cases[index], text.acceptance_criteria, result, saved, ledger)


def extension_slots(
    draft: DraftResult, start: int, count: int, num_criteria: int, techniques: list[Technique]
) -> list[TestCaseSlot]:
    """The slots of `count` test cases added at `start`: the criteria the draft covers least first,
    the test types continuing the draft's cycle, the draft's techniques in turn."""
    covered = [sum(i in case.covered_criteria for case in draft.test_cases) for i in range(num_criteria)]
    order = sorted(range(num_criteria), key=lambda i: (covered[i], i))
    return [
        TestCaseSlot(
            index=start + n,
            test_type=TYPE_CYCLE[(start + n) % len(TYPE_CYCLE)],
            criteria=[order[n % num_criteria]] if num_criteria else [],
            technique=technique_of(techniques, start + n),
        )
        for n in range(count)
    ]


async def _extend(
    res: WorkerResources,
    run: JobRun,
    story: UserStory,
    parent_id: str,
    options: RegenerateJobOptions,
    started: float,
) -> None:
    """Add `options.extend` test cases to the parent's draft, none repeating what it holds."""
    provider = res.providers.for_job(options)
    count, start = options.extend or 0, options.index
    async with res.sessionmaker() as session:
        parent = await repository.get_job_for_update(session, parent_id)
        cases = _open_cases(parent, parent_id, 0)
        assert parent is not None and parent.result is not None
        draft = DraftResult.model_validate(parent.result)
    context = await load_context(res, story, run.extras)
    text = story_text(story, await language_in_project(story, context.project_language))
    slots = extension_slots(draft, start, count, len(text.acceptance_criteria), list(draft.techniques or ()))
    await run.report(
        JobStatus.generating, PROGRESS_MODEL_READY, f"Model ready ({provider.name}: {provider.model})"
    )
    await run.report(JobStatus.generating, PROGRESS_BATCHES_START, f"Adding {count} test cases")
    files, attachments_used = await load_story_files(res, story.id, provider.name, provider.model)
    request = BatchRequest(
        story=text,
        batch_index=0,
        batch_count=1,
        slots=slots,
        scenarios_per_test_case=options.scenarios_per_test_case,
        total_test_cases=start + count,
        avoid_titles=[s.title for case in cases for s in case.scenarios],
        saved_tests=context.covered_tests(),
        instructions=context.instructions,
        instruction=options.instruction or "",
        files=files,
    )
    await context.hold_budget(res, run.job.id, [request])
    with batch_span(0, 1, request.scenario_count, provider.name, provider.model):
        answer = await provider.generate_batch(request)
    if len(answer.test_cases) < count:
        raise BadOutputError(f"model wrote {len(answer.test_cases)} test cases, {count} were asked")
    stats = CallStats()
    stats.add(answer.stats)
    everything = [*cases, *answer.test_cases[:count]]
    threshold = res.settings.duplicate_threshold
    saved = SavedIndex(context.saved_scenarios(), threshold)
    outcome = DedupeOutcome(0, [], 0)
    if any(d.test_case >= start for d in find_duplicates(everything, saved, threshold=threshold)):
        await run.report(JobStatus.generating, PROGRESS_DEDUPE, "Replacing near-duplicate scenarios")
        outcome = await replace_duplicates(
            provider, [request], everything, stats, saved=saved, threshold=threshold
        )
    await run.report(JobStatus.generating, PROGRESS_BUILDING, "Updating the draft")
    added = everything[start:]
    summary = stats.summary()
    ledger = context.ledger_row(run.job.id, provider.name, provider.model, summary)
    result = functools.partial(
        RegenerationResult,
        parent_id=parent_id,
        index=start,
        test_case=added[0],
        added=added,
        provider=provider.name,
        model=provider.model,
        language=text.language,
        language_mismatch=stats.language_mismatches > 0,
        duplicates=[d.reported() for d in outcome.remaining if d.test_case >= start],
        instructions=context.instructions_used(),
        attachments=attachments_used or None,
        stats=RunStats(
            **summary.model_dump(),
            duplicates_replaced=outcome.replaced,
            dedupe_calls=outcome.calls,
            duplicates_remaining=len([d for d in outcome.remaining if d.test_case >= start]) or None,
            duration_s=round(time.monotonic() - started, 3),
        ),
    )
    await _apply(res, run, parent_id, added, text.acceptance_criteria, result, saved, ledger)


async def _apply(
    res: WorkerResources,
    run: JobRun,
    parent_id: str,
    case: TestCaseDraft | list[TestCaseDraft],
    criteria: list[str],
    result_with: functools.partial[RegenerationResult],
    saved: SavedIndex,
    ledger: dict[str, Any] | None,
) -> None:
    """Replace the test case in the parent's draft (or, given a list, add those test cases at its end)
    and complete this job, in one transaction; `result_with(coverage=...)` is the job's result given
    the draft's new coverage."""
    index = int(result_with.keywords["index"])
    added = case if isinstance(case, list) else None
    message = f"Added {len(added)} test cases" if added is not None else f"Regenerated test case {index + 1}"
    finished = utcnow()
    async with res.sessionmaker() as session:
        parent = await repository.get_job_for_update(session, parent_id)
        cases = _open_cases(parent, parent_id, 0 if added is not None else index)
        assert parent is not None and parent.result is not None
        parent_draft = DraftResult.model_validate(parent.result)
        if isinstance(case, list):
            if len(cases) != index:
                raise DraftClosed(messages.draft_changed_size(parent_id, index, len(cases)))
            cases += case
        else:
            cases[index] = case
        remaining = find_duplicates(cases, saved, threshold=res.settings.duplicate_threshold)
        draft = parent_draft.model_copy(
            update={
                "test_cases": cases,
                "coverage": coverage(criteria, cases),
                "duplicates": [d.reported() for d in remaining],
            }
        )
        if parent_draft.quality is not None:
            draft.quality = _requality(res, parent, parent_draft, criteria, cases, remaining)
        stored = draft.model_dump(mode="json")
        if not await repository.change_job(session, EDIT_DRAFT, parent_id, result=stored):
            raise DraftClosed(messages.draft_closed(parent_id, index))
        result = result_with(coverage=draft.coverage).model_dump(mode="json")
        done = await repository.change_job(
            session,
            COMPLETE,
            run.job.id,
            progress=100,
            message=message,
            result=result,
            error=None,
            finished_at=finished,
        )
        if not done:
            raise JobFinished  # cancelled meanwhile: leaving the block rolls the draft change back
        if ledger is not None:
            await usage.record_many(await session.connection(), [ledger])
        await session.commit()
    run.job.result, run.job.error, run.job.finished_at = result, None, finished
    await run.report(JobStatus.completed, 100, message)
    logger.info("Task %s replaced test case %d of task %s", run.job.id, index, parent_id)


def _requality(
    res: WorkerResources,
    parent: GenerationJob,
    draft: DraftResult,
    criteria: list[str],
    cases: list[TestCaseDraft],
    remaining: list[Duplicate],
) -> QualityReport:
    """The parent's quality report for its draft as it is now (its plan is rebuilt from its options)."""
    assert draft.quality is not None
    asked = draft.only_criteria
    options = GenerateJobOptions.model_validate(parent.options)
    story = StoryText(id=parent.story_id or "", title="", description="", acceptance_criteria=criteria)
    plan = plan_batches(
        story,
        options.num_test_cases,
        options.scenarios_per_test_case,
        res.settings.batch_max_scenarios,
        asked,
        techniques=draft.techniques or (),
    )
    slots = [slot for batch in plan for slot in batch.slots]
    replaced = draft.quality.duplicates.replaced
    return quality_report(criteria, cases, slots, remaining, replaced, draft.stats, asked, draft.story_check)
