"""The generation pipeline a worker runs for one job: batches in parallel on the worker's loop.

Progress: 5% story loaded, 20% model ready, 30-70% as batches finish, 80% replacing duplicates
(only when there are some), 90% building, 100% done.
The database row is the arbiter of terminal states (conditional updates), Redis carries the live
progress. A job may run more than once (worker crash, re-delivery): every step is idempotent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from testgen.core.logs import task_context
from testgen.data.models import ACTIVE_JOB_STATUSES, GenerationJob, UserStory, utcnow
from testgen.data.schemas import TestCaseDraft
from testgen.generation.llm.base import (
    BatchRequest,
    BatchResult,
    CallStats,
    LLMError,
    LLMProvider,
    StoryText,
    TestCaseSlot,
)
from testgen.generation.planning import plan_batches
from testgen.generation.quality import coverage, duplicate_positions, scenario_fingerprint
from testgen.streaming.progress_store import ProgressStore, job_snapshot
from testgen.worker.job_rows import JobRows

logger = logging.getLogger(__name__)

PROGRESS_BATCHES_START, PROGRESS_BATCHES_END = 30, 70
FINAL_STATUSES = ("completed", "failed", "cancelled")
PUBLISH_ATTEMPTS = 10  # about 30 s of retries for a state change while Redis is away
PROGRESS_DEDUPE = 80
MAX_DEDUPE_ROUNDS = 3


@dataclass
class WorkerResources:
    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    store: ProgressStore
    provider: LLMProvider
    rows: JobRows


class JobFinished(Exception):
    """The job reached a final state elsewhere (cancelled, or finished by another run)."""


class JobRun:
    """One run of one job: moves the row and the Redis state forward together."""

    def __init__(self, res: WorkerResources, job: GenerationJob) -> None:
        self.res = res
        self.job = job
        self.last_status = job.status

    async def _write_row(self, values: dict[str, Any]) -> None:
        if not await self.res.rows.update(self.job.id, values):
            raise JobFinished

    async def report(
        self, status: str, progress: int, message: str, *, persist: bool = False, **extra: Any
    ) -> None:
        """Publish a change; `persist` also writes it to the database. Only the start and the final
        state are persisted: the row says "started" while Redis carries the live progress.

        A final state goes to the database first, so a client that sees the event can act on it
        (save); other changes are published first, so the live view does not wait for the database.
        """
        values = {"status": status, "progress": progress, "message": message, **extra}
        final = status in FINAL_STATUSES
        if persist and final:
            await self._write_row(values)
        self._apply(values)
        event = status if status != self.last_status else "progress"
        self.last_status = status
        if await self._publish(event, retry=persist) is None:
            raise JobFinished
        if persist and not final:
            await self._write_row(values)

    def _apply(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            setattr(self.job, key, value)

    async def _publish(self, event: str, *, retry: bool) -> str | None:
        """Publish to Redis. During an outage, progress is skipped (the next change supersedes it);
        a persisted change is retried for a while, and the database keeps it regardless."""
        delay = 0.2
        for _ in range(PUBLISH_ATTEMPTS if retry else 1):
            try:
                return await self.res.store.publish(job_snapshot(self.job), event)
            except (RedisError, OSError) as exc:
                logger.warning("Task %s: could not publish %s (%s)", self.job.id, event, type(exc).__name__)
                if retry:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        return "unpublished"


def story_text(story: Any) -> StoryText:
    return StoryText(
        id=story.id,
        title=story.title,
        description=story.description,
        acceptance_criteria=list(story.acceptance_criteria),
    )


class JobFailed(Exception):
    """A failure the job reports as `error: {type, message}` (besides LLMError)."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message


JobWork = Callable[[JobRun, UserStory], Awaitable[None]]


async def execute(res: WorkerResources, task_id: str, work: JobWork, *, what: str = "Generation") -> str:
    """Run job `task_id` to a final state with `work` (which reports completion); return that state.

    Shared by every job kind: loading, the `started` step, the time limit, cancellation and
    worker shutdown, and turning errors into a failed state that says what to do next.
    """
    loaded = await res.rows.load(task_id)
    if loaded is None:
        logger.warning("Task %s has no job record or story any more; nothing to do", task_id)
        return "missing"
    job, story = loaded
    if job.status not in ACTIVE_JOB_STATUSES:
        logger.info("Task %s is already %s; nothing to do", task_id, job.status)
        return job.status

    token = task_context.set({"task_id": task_id, "story_id": job.story_id})
    run = JobRun(res, job)
    try:
        await run.report(
            "started",
            5,
            f"Story {story.id} loaded",
            persist=True,
            started_at=utcnow(),
            attempts=job.attempts + 1,
        )
        async with asyncio.timeout(res.settings.job_timeout_s):
            await work(run, story)
        return run.job.status
    except JobFinished:
        logger.info("Task %s was finished elsewhere (cancelled?); stopping", task_id)
        return "finished-elsewhere"
    except asyncio.CancelledError:
        # Cancelled by the user (the API wrote that state), or by a worker shutting down: then arq
        # puts the job back on the queue, and so do we, so that nobody sees it stuck "generating".
        await asyncio.shield(_after_cancel(run))
        raise
    except (LLMError, JobFailed) as exc:
        return await fail_job(run, exc.type, exc.message)
    except TimeoutError:
        limit = res.settings.job_timeout_s
        return await fail_job(
            run, "timeout", f"{what} took longer than {limit} s; ask for less or raise JOB_TIMEOUT_S"
        )
    except Exception as exc:
        logger.exception("Task %s failed unexpectedly", task_id)
        return await fail_job(
            run,
            "internal",
            f"{what} failed unexpectedly ({type(exc).__name__}); see the worker log and try again",
        )
    finally:
        task_context.reset(token)


async def run_generation(res: WorkerResources, task_id: str) -> str:
    """Run generation job `task_id` to a final state; return that state's name."""

    async def work(run: JobRun, story: UserStory) -> None:
        started = time.monotonic()
        result = await _generate(res, run, story_text(story), run.job.options)
        result["stats"]["duration_s"] = round(time.monotonic() - started, 3)
        done = result["stats"]["scenarios"]
        await run.report(
            "completed",
            100,
            f"Generated {done}/{done} scenarios",
            persist=True,
            result=result,
            error=None,
            finished_at=utcnow(),
        )
        logger.info("Task %s completed in %.2fs", task_id, time.monotonic() - started)

    return await execute(res, task_id, work)


async def _after_cancel(run: JobRun) -> None:
    task_id = run.job.id
    try:
        if await run.res.store.cancel_requested(task_id):
            logger.info("Task %s cancelled", task_id)
            return
        await run.report(
            "queued", run.job.progress, "Worker stopped; waiting for another worker", persist=True
        )
        logger.info("Task %s interrupted by worker shutdown; back on the queue", task_id)
    except (JobFinished, RedisError, OSError, SQLAlchemyError) as exc:
        logger.warning("Task %s: could not record the interruption (%s)", task_id, type(exc).__name__)


async def fail_job(run: JobRun, error_type: str, message: str) -> str:
    logger.warning("Task %s failed: %s: %s", run.job.id, error_type, message)
    try:
        await run.report(
            "failed",
            run.job.progress,
            message,
            persist=True,
            error={"type": error_type, "message": message},
            finished_at=utcnow(),
        )
    except JobFinished:
        return "finished-elsewhere"
    return "failed"


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
    res: WorkerResources, run: JobRun, story: StoryText, options: dict[str, Any]
) -> dict[str, Any]:
    provider = res.provider
    await run.report("generating", 20, f"Model ready ({provider.name}: {provider.model})")
    num_cases, per_case = int(options["num_test_cases"]), int(options["scenarios_per_test_case"])
    batches = plan_batches(story, num_cases, per_case, res.settings.batch_max_scenarios)
    total = num_cases * per_case
    logger.info("Generating %d scenarios in %d PARALLEL batches", total, len(batches))
    await run.report(
        "generating",
        PROGRESS_BATCHES_START,
        f"Generating {total} scenarios in {len(batches)} parallel batches",
    )

    done = 0
    lock = asyncio.Lock()

    async def one(batch: BatchRequest) -> BatchResult:
        nonlocal done
        label = f"Batch {batch.batch_index + 1}/{batch.batch_count}"
        logger.info("%s started: %d test cases, %d scenarios", label, len(batch.slots), batch.scenario_count)
        t0 = time.monotonic()
        result = await provider.generate_batch(batch)
        logger.info("%s finished in %.2fs", label, time.monotonic() - t0)
        async with lock:
            done += 1
            span = PROGRESS_BATCHES_END - PROGRESS_BATCHES_START
            progress = PROGRESS_BATCHES_START + span * done // len(batches)
            await run.report("generating", progress, f"{done}/{len(batches)} batches done")
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

    dupes = duplicate_positions(cases)
    replaced = remaining = 0
    if dupes:
        await run.report("generating", PROGRESS_DEDUPE, f"Replacing {len(dupes)} near-duplicate scenarios")
        slots = {slot.index: slot for batch in batches for slot in batch.slots}
        replaced, remaining = await replace_duplicates(provider, story, slots, cases, per_case, stats)

    await run.report("generating", 90, "Building test cases")
    generated = sum(len(c.scenarios) for c in cases)
    logger.info("Generated %d/%d scenarios", generated, total)
    return {
        "test_cases": [c.model_dump(mode="json") for c in cases],
        "coverage": coverage(story.acceptance_criteria, cases),
        "provider": provider.name,
        "model": provider.model,
        "stats": {
            "batches": len(batches),
            "scenarios": generated,
            **stats.summary(),
            "duplicates_replaced": replaced,
            **({"duplicates_remaining": remaining} if remaining else {}),
        },
    }


def duplicates_in(cases: list[TestCaseDraft], only: int | None = None) -> list[tuple[int, int]]:
    """Duplicate positions of the draft; with `only`, those of that test case against all the others."""
    if only is None:
        return duplicate_positions(cases)
    last = len(cases) - 1
    reordered = [c for i, c in enumerate(cases) if i != only] + [cases[only]]
    return [(only, si) for ci, si in duplicate_positions(reordered) if ci == last]


async def replace_duplicates(
    provider: LLMProvider,
    story: StoryText,
    slots: Mapping[int, TestCaseSlot],
    cases: list[TestCaseDraft],
    scenarios_per_test_case: int,
    stats: CallStats,
    only: int | None = None,
) -> tuple[int, int]:
    """Swap near-duplicate scenarios (in place) for fresh ones: each affected test case is asked for
    again, alone, avoiding every title of the draft, for at most MAX_DEDUPE_ROUNDS rounds. The counts
    stay exact: a duplicate with no replacement stays. Returns (replaced, remaining).
    """
    replaced = 0
    for _ in range(MAX_DEDUPE_ROUNDS):
        dupes = duplicates_in(cases, only)
        if not dupes:
            break
        by_case: dict[int, list[int]] = defaultdict(list)
        for ci, si in dupes:
            by_case[ci].append(si)
        avoid = [s.title for case in cases for s in case.scenarios]
        asked = sorted(by_case)
        answers = await asyncio.gather(
            *(
                provider.generate_batch(
                    BatchRequest(
                        story=story,
                        batch_index=0,
                        batch_count=1,
                        slots=[slots[ci]],
                        scenarios_per_test_case=scenarios_per_test_case,
                        avoid_titles=avoid,
                    )
                )
                for ci in asked
            ),
            return_exceptions=True,
        )
        flagged = set(dupes)
        seen = {
            scenario_fingerprint(s)
            for ci, case in enumerate(cases)
            for si, s in enumerate(case.scenarios)
            if (ci, si) not in flagged
        }
        for ci, answer in zip(asked, answers, strict=True):
            if isinstance(answer, LLMError):
                logger.warning("Could not replace duplicates in test case %d: %s", ci + 1, answer.message)
                continue
            if isinstance(answer, BaseException):
                raise answer
            stats.add(answer.stats)
            candidates = [s for case in answer.test_cases[:1] for s in case.scenarios]
            scenarios = list(cases[ci].scenarios)
            for si in by_case[ci]:
                fresh = next((s for s in candidates if scenario_fingerprint(s) not in seen), None)
                if fresh is None:
                    break
                seen.add(scenario_fingerprint(fresh))
                scenarios[si] = fresh
                replaced += 1
            cases[ci] = cases[ci].model_copy(update={"scenarios": scenarios})
    remaining = len(duplicates_in(cases, only))
    if replaced or remaining:
        logger.info("Replaced %d near-duplicate scenarios, %d remain", replaced, remaining)
    return replaced, remaining
