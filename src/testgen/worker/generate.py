"""The generation job: batches in parallel on the worker's loop, then duplicates replaced, then the draft.

Progress: 5% story loaded, 20% model ready, 30-70% as batches finish, 80% replacing duplicates
(only when there are some), 90% building, 100% done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from testgen.core import messages
from testgen.core.tracing import batch_span
from testgen.data.job_states import JobStatus
from testgen.data.models import UserStory, utcnow
from testgen.data.staleness import changed_criteria
from testgen.data.story_language import language_in_project
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_options import GenerateJobOptions
from testgen.domain.job_results import DraftResult, DraftStats
from testgen.domain.test_cases import TestCaseDraft
from testgen.generation.duplicates import DedupeOutcome, replace_duplicates
from testgen.generation.llm.base import BatchRequest, BatchResult, CallStats, LLMError, StoryText, story_text
from testgen.generation.llm.context_cache import shared_context
from testgen.generation.planning import plan_batches
from testgen.generation.quality import coverage, quality_report
from testgen.generation.similarity import SavedIndex, find_duplicates
from testgen.generation.story_check import check_story
from testgen.worker import provider_batches
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobFailed, JobRun, execute
from testgen.worker.story_context import load_context
from testgen.worker.story_files import load_story_files

logger = logging.getLogger(__name__)

PROGRESS_MODEL_READY = 20
PROGRESS_BATCHES_START, PROGRESS_BATCHES_END = 30, 70
PROGRESS_DEDUPE = 80
PROGRESS_BUILDING = 90


async def run_generation(res: WorkerResources, task_id: str) -> str:
    """Run generation job `task_id` to a final state; return that state's name."""

    async def work(run: JobRun, story: UserStory) -> None:
        started = time.monotonic()
        options = GenerateJobOptions.model_validate(run.job.options)
        result, ledger = await _generate(res, run, story, options)
        result.stats.duration_s = round(time.monotonic() - started, 3)
        done = result.stats.scenarios
        await run.report(
            JobStatus.completed,
            100,
            f"Generated {done}/{done} scenarios",
            persist=True,
            result=result.model_dump(mode="json"),
            error=None,
            finished_at=utcnow(),
            usage=ledger,
        )
        logger.info("Task %s completed in %.2fs", task_id, time.monotonic() - started)

    return await execute(res, task_id, work)


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error to report when a batch fails: an LLMError (it says why) before anything else."""
    leaves = list(_leaves(group))
    return next((e for e in leaves if isinstance(e, LLMError)), leaves[0])


def _leaves(error: BaseException) -> Any:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


async def _generate(
    res: WorkerResources, run: JobRun, row: UserStory, options: GenerateJobOptions
) -> tuple[DraftResult, dict[str, Any] | None]:
    """The draft, and the job's row of the usage ledger (recorded with its completion)."""
    provider = res.providers.for_job(options)
    context = await load_context(res, row, run.extras)
    story: StoryText = story_text(row, await language_in_project(row, context.project_language))
    num_cases, per_case = options.num_test_cases, options.scenarios_per_test_case
    asked = None
    if options.only_changed:
        asked = changed_criteria(story.acceptance_criteria, context.saved)
        if not asked:
            raise JobFailed(ErrorType.nothing_changed, messages.nothing_changed(story.id))
    check = check_story(story.acceptance_criteria, story.language)  # recorded: generation runs anyway
    techniques = options.techniques if options.techniques is not None else context.techniques
    planned = plan_batches(
        story, num_cases, per_case, res.settings.batch_max_scenarios, asked, techniques=techniques
    )
    covered = context.covered_tests()
    files, attachments_used = await load_story_files(res, row.id, provider.name, provider.model, run.extras)
    batches = [
        dataclasses.replace(b, saved_tests=covered, instructions=context.instructions, files=files)
        for b in planned
    ]
    await context.hold_budget(res, run.job.id, batches)
    delivered = await provider_batches.deliver(res, run, provider, batches, options)  # {}: none in batch
    await run.report(
        JobStatus.generating, PROGRESS_MODEL_READY, f"Model ready ({provider.name}: {provider.model})"
    )
    cache_min = 0 if delivered else res.settings.gemini_cache_min_tokens  # batch delivery: none
    ttl_s = res.settings.job_timeout_s + 60
    async with shared_context(provider, batches, min_tokens=cache_min, ttl_s=ttl_s) as batches:
        total = num_cases * per_case
        logger.info("Generating %d scenarios in %d PARALLEL batches", total, len(batches))
        await run.report(
            JobStatus.generating,
            PROGRESS_BATCHES_START,
            f"Generating {total} scenarios in {len(batches)} parallel batches",
        )

        done = 0
        lock = asyncio.Lock()

        async def one(batch: BatchRequest) -> BatchResult:
            nonlocal done
            label = f"Batch {batch.batch_index + 1}/{batch.batch_count}"
            logger.info(
                "%s started: %d test cases, %d scenarios", label, len(batch.slots), batch.scenario_count
            )
            t0 = time.monotonic()
            with batch_span(
                batch.batch_index, batch.batch_count, batch.scenario_count, provider.name, provider.model
            ):
                result = delivered.get(batch.batch_index) or await provider.generate_batch(batch)
            logger.info("%s finished in %.2fs", label, time.monotonic() - t0)
            async with lock:
                done += 1
                span = PROGRESS_BATCHES_END - PROGRESS_BATCHES_START
                progress = PROGRESS_BATCHES_START + span * done // len(batches)
                await run.report(JobStatus.generating, progress, f"{done}/{len(batches)} batches done")
            return result

        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(batch)) for batch in batches]
        except ExceptionGroup as group_error:
            raise _first_error(group_error) from group_error
        results = [t.result() for t in tasks]
        cases: list[TestCaseDraft] = [case for r in results for case in r.test_cases]
        stats = CallStats()
        for r in results:
            stats.add(r.stats)

        threshold = res.settings.duplicate_threshold
        saved = SavedIndex(context.saved_scenarios(), threshold)
        dupes = find_duplicates(cases, saved, threshold=threshold)
        outcome = DedupeOutcome(0, [], 0)
        if dupes:
            await run.report(
                JobStatus.generating, PROGRESS_DEDUPE, f"Replacing {len(dupes)} near-duplicate scenarios"
            )
            outcome = await replace_duplicates(
                provider, batches, cases, stats, saved=saved, threshold=threshold
            )

    await run.report(JobStatus.generating, PROGRESS_BUILDING, "Building test cases")
    generated = sum(len(c.scenarios) for c in cases)
    logger.info("Generated %d/%d scenarios", generated, total)
    summary = stats.summary()
    in_batch = provider_batches.delivered_stats(delivered).summary() if delivered else None
    ledger = context.ledger_row(run.job.id, provider.name, provider.model, summary, in_batch)
    slots = [slot for b in batches for slot in b.slots]
    result = DraftResult(
        test_cases=cases,
        coverage=coverage(story.acceptance_criteria, cases),
        quality=quality_report(
            story.acceptance_criteria,
            cases,
            slots,
            outcome.remaining,
            outcome.replaced,
            summary,
            asked,
            check,
        ),
        duplicates=[d.reported() for d in outcome.remaining],
        provider=provider.name,
        model=provider.model,
        language=story.language,
        # Some batch stayed in another language after the last re-ask: a reviewer should look.
        language_mismatch=stats.language_mismatches > 0,
        instructions=context.instructions_used(),
        only_criteria=asked,
        techniques=list(techniques) or None,
        story_check=check,
        attachments=attachments_used or None,
        stats=DraftStats(
            batches=len(batches),
            scenarios=generated,
            **summary.model_dump(),
            duplicates_replaced=outcome.replaced,
            dedupe_calls=outcome.calls,
            duplicates_remaining=len(outcome.remaining) or None,
        ),
    )
    return result, ledger
