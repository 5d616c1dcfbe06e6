"""After generation: a reviewer saves (a subset of) a draft, edits saved test cases, or discards the draft."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.rate_limits import JobSlot
from testgen.api.schemas.jobs import ReviewOut, ReviewStepOut
from testgen.api.schemas.test_cases import SkippedScenario, TestCaseUpdate
from testgen.api.services import jobs
from testgen.api.services.job_queue import JobQueue
from testgen.core import messages
from testgen.core.database import begin_read
from testgen.core.errors import ConflictError, DomainError, ForbiddenError, NotFoundError
from testgen.core.redis_keys import REGENERATE_JOB
from testgen.data import repository
from testgen.data.drafts import draft_cases, draft_result
from testgen.data.job_states import ACTIVE, DISCARD, EDIT_DRAFT, SAVE, JobKind, JobStatus
from testgen.data.models import GenerationJob, Project, ReviewStep, TestCase, UserStory, utcnow
from testgen.domain.job_options import MAX_TEST_CASES, GenerateJobOptions, LLMChoice, RegenerateJobOptions
from testgen.domain.roles import ReviewAction, ReviewState
from testgen.domain.test_cases import Scenario, TestCaseDraft
from testgen.generation.similarity import DEFAULT_THRESHOLD, SavedIndex, SavedScenario, find_repeats
from testgen.streaming.snapshots import job_snapshot

logger = logging.getLogger(__name__)


def require_open_draft(job: GenerationJob, action: str) -> None:
    """Raise ConflictError unless `job` is a completed generation that was neither saved nor discarded."""
    if job.kind == JobKind.import_jira:
        raise ConflictError(f"Task {job.id} is a Jira import; it has no draft to be {action}")
    if job.kind != JobKind.generate:
        raise ConflictError(
            f"Task {job.id} regenerated one test case of task {job.parent_id}; "
            f"only the draft of task {job.parent_id} can be {action}"
        )
    if job.status != JobStatus.completed:
        raise ConflictError(f"Task {job.id} is {job.status}; only a completed task's draft can be {action}")
    if job.saved_at is not None:
        raise ConflictError(
            f"Task {job.id} was already saved; edit its test cases under /test-cases/{{id}} instead"
        )


def check_criteria(cases: Sequence[TestCaseDraft | TestCaseUpdate], story: UserStory, where: str) -> None:
    """Covered criteria must be indices into the story's acceptance criteria: a conflict with the
    story as it is now (its criteria may have changed since the draft was written)."""
    count = len(story.acceptance_criteria)
    for i, case in enumerate(cases):
        bad = [c for c in case.covered_criteria or [] if c >= count]
        if bad:
            field = f"{where}.{i}.covered_criteria" if where else "covered_criteria"
            has = f"{count} acceptance criteria (0-{count - 1})" if count else "no acceptance criteria"
            raise ConflictError(
                f"{field}: criterion {bad[0]} does not exist; user story {story.id} has {has}"
            )


def _row_values(case: TestCaseDraft) -> dict[str, Any]:
    # A draft's parameters are not saved: the Examples they produced are, in the scenarios.
    values = case.model_dump(mode="json", include=set(TestCaseDraft.model_fields) - {"parameters"})
    values["covered_criteria"] = sorted(set(case.covered_criteria))
    return values


def same_case(one: TestCaseDraft, other: TestCaseDraft) -> bool:
    """Whether two test cases would be saved alike (covered criteria in any order, once each)."""
    return _row_values(one) == _row_values(other)


def review_out(state: str, author_id: int | None, steps: Sequence[ReviewStep]) -> dict[str, Any]:
    """A draft's `review` as the API returns it (the status, the drafts list)."""
    return ReviewOut(
        state=ReviewState(state),
        author_id=author_id,
        steps=[
            ReviewStepOut(
                action=ReviewAction(step.action),
                actor=step.actor,
                actor_id=step.actor_id,
                comment=step.comment,
                test_case_comments=step.case_comments,
                at=step.created_at,
            )
            for step in steps
        ],
    ).model_dump(mode="json")


def edited_after_approval(index: int, how: str = "edited") -> str:
    """The comment of the step that sends an approved draft back to review."""
    return f"Test case {index} was {how} after the approval: in review again"


async def approval_for_save(
    session: AsyncSession, job: GenerationJob, story: UserStory, edited: Sequence[TestCaseDraft] | None
) -> ReviewStep | None:
    """The approval the saved test cases record (None: none). With the project's review_required, a
    draft is saved only approved, by someone other than its author unless the project allows
    self-approval, and as approved: `edited` test cases must be test cases of the draft."""
    project = None
    if story.project_id is not None:
        project = await session.get(Project, story.project_id, populate_existing=True)
    required = project is not None and project.review_required
    step = None
    if job.review_state == ReviewState.approved:
        step = await repository.last_review_step(session, job.id, ReviewAction.approve.value)
    if step is None:
        if required:
            raise ConflictError(
                f"Project {story.project_id} requires a review: task {job.id} is saved once approved; "
                f"submit it (POST /generate-test-cases/{job.id}/review with action submit) and get an "
                "approval from a reviewer"
            )
        return None
    if required and step.actor_id is not None and step.actor_id == job.created_by:
        assert project is not None  # required
        if not project.allow_self_approval:
            raise ForbiddenError(
                f"Task {job.id} was approved by the user who queued it, and project {project.id} does not "
                "allow self-approval: another reviewer must approve it (request changes, submit, approve)"
            )
    if edited is not None:
        draft = draft_cases(job)
        if not all(any(same_case(case, d) for d in draft) for case in edited):
            if required:
                raise ConflictError(
                    f"The test cases sent for task {job.id} were edited since approval: submit again "
                    f"(edit the draft with PATCH /generate-test-cases/{job.id}/test-cases/{{index}} and "
                    "get an approval), or save the draft as approved"
                )
            return None
    return step


SAVE_ATTEMPTS = 3  # compare, then write; again while the draft or the saved tests change in between


@dataclass(frozen=True)
class _Compared:
    """What a save compared, and what it compared with."""

    checked: Sequence[TestCaseDraft]  # the cases as sent (or the draft), for the criteria check
    cases: list[TestCaseDraft]  # without the skipped repeats
    skipped: list[SkippedScenario]
    draft: dict[str, Any] | None  # the job's result as read: the draft saved when nothing was edited
    saved: list[tuple[int, dt.datetime]]  # the story's saved test cases: id and last change


async def save(
    session: AsyncSession,
    job: GenerationJob,
    edited: Sequence[TestCaseDraft] | None,
    keep: Sequence[tuple[int, int]] = (),
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[list[int], list[SkippedScenario]]:
    """Save the reviewed test cases (all of the draft when `edited` is None) exactly once; scenarios
    that repeat one of the story's saved test cases are skipped unless `keep` names them.

    The comparison with the saved test cases runs first, on a thread, with no transaction open (no
    lock held, the event loop free). Then one transaction marks the job saved, checks that the draft
    and the saved test cases are those compared with (else it writes nothing and the save compares
    again) and inserts the rows. The mark is a conditional UPDATE: of two racing saves, the second
    finds nothing to update and gets a 409.
    """
    require_open_draft(job, "saved")
    task_id, story_id = job.id, job.story_id  # (a rollback expires the job's attributes)
    for _ in range(SAVE_ATTEMPTS):
        compared = await _compare(session, task_id, edited, set(keep), threshold)
        ids = await _write(session, task_id, compared, edited)
        if ids is not None:
            logger.info(
                "Saved %d test cases of task %s for story %s (%d repeated scenarios skipped)",
                len(ids),
                task_id,
                story_id,
                len(compared.skipped),
            )
            return ids, compared.skipped
    raise ConflictError(
        f"The saved test cases of user story {story_id} or the draft of task {task_id} changed "
        f"{SAVE_ATTEMPTS} times while this save compared them; nothing was saved: send the save again"
    )


async def _compare(
    session: AsyncSession,
    task_id: str,
    edited: Sequence[TestCaseDraft] | None,
    keep: set[tuple[int, int]],
    threshold: float,
) -> _Compared:
    """Read the draft, the story and its saved test cases in one short read, then compare on a thread
    with no transaction open."""
    await begin_read(session)
    current = await session.get(GenerationJob, task_id, populate_existing=True)
    story = None
    if current is not None and current.story_id is not None:
        story = await session.get(UserStory, current.story_id, populate_existing=True)
    rows = await repository.list_test_cases(session, story.id) if story is not None else []
    await session.commit()
    if current is None:
        raise ConflictError(f"Task {task_id} was discarded a moment ago; nothing was saved")
    require_open_draft(current, "saved")
    if story is None:
        raise NotFoundError(messages.STORY, current.story_id)
    cases = edited if edited is not None else draft_cases(current)
    check_criteria(cases, story, "test_cases")
    await begin_read(session)
    try:
        await approval_for_save(session, current, story, edited)
    finally:
        await session.commit()
    saved = [(row.id, row.title, row.scenarios) for row in rows]
    kept, skipped = await asyncio.to_thread(without_repeats, cases, saved, keep, threshold)
    versions = [(row.id, row.updated_at) for row in rows]
    return _Compared(cases, kept, skipped, current.result, versions)


async def _write(
    session: AsyncSession, task_id: str, compared: _Compared, edited: Sequence[TestCaseDraft] | None
) -> list[int] | None:
    """Mark the job saved and insert the rows, in one transaction; None (nothing written) when the
    draft saved or the story's saved test cases changed since they were compared. The review gate is
    checked again here, the job's row locked."""
    whole_draft = edited is None
    if not await repository.change_job(session, SAVE, task_id, saved_at=utcnow()):
        await session.rollback()
        raise ConflictError(f"Task {task_id} was saved or discarded a moment ago; nothing was saved twice")
    # The job, its draft and its story as they are now (a regeneration may have changed the draft).
    job = await session.get(GenerationJob, task_id, populate_existing=True)
    assert job is not None  # its row was just updated; this transaction holds it
    story = await session.get(UserStory, job.story_id, populate_existing=True, with_for_update=True)
    if story is None:
        await session.rollback()
        raise NotFoundError(messages.STORY, job.story_id)
    draft_changed = whole_draft and job.result != compared.draft
    if draft_changed or await _saved_versions(session, story.id) != compared.saved:
        await session.rollback()
        return None
    try:
        check_criteria(compared.checked, story, "test_cases")  # the criteria may have changed too
        approval = await approval_for_save(session, job, story, edited)
    except DomainError:
        await session.rollback()
        raise
    approved = {}
    if approval is not None:
        approved = {"approved_by": approval.actor_id, "approved_at": approval.created_at}
    draft = draft_result(job)
    rows = [
        TestCase(
            story_id=story.id,
            **_row_values(case),
            task_id=task_id,
            provider=draft.provider if draft is not None else None,
            model=draft.model if draft is not None else None,
            **covers(story, case.covered_criteria),
            **approved,
        )
        for case in compared.cases
    ]
    session.add_all(rows)
    await session.flush()
    ids = [row.id for row in rows]
    await session.commit()
    return ids


async def _saved_versions(session: AsyncSession, story_id: str) -> list[tuple[int, dt.datetime]]:
    """The story's saved test cases as ids and last changes: equal lists, the same saved tests."""
    query = (
        select(TestCase.id, TestCase.updated_at).where(TestCase.story_id == story_id).order_by(TestCase.id)
    )
    return [(row.id, row.updated_at) for row in await session.execute(query)]


def covers(story: UserStory, covered: Sequence[int]) -> dict[str, Any]:
    """What a saved test case remembers of the criteria it covers, to tell later when they changed."""
    criteria = story.acceptance_criteria
    texts = [criteria[i] for i in sorted(set(covered)) if i < len(criteria)]
    return {"story_revision": story.revision, "criteria_texts": texts}


def without_repeats(
    cases: Sequence[TestCaseDraft],
    saved: Sequence[tuple[int, str, Sequence[dict[str, Any]]]],
    keep: set[tuple[int, int]],
    threshold: float,
) -> tuple[list[TestCaseDraft], list[SkippedScenario]]:
    """The cases without the scenarios that repeat a saved test case (`saved`: id, title, scenarios),
    unless kept; a case left with no scenario is dropped. Pure CPU: the draft is compared with the saved
    scenarios only, never with itself."""
    index = SavedIndex(
        [
            SavedScenario(i, title, Scenario.model_validate(s))
            for i, title, scenarios in saved
            for s in scenarios
        ],
        threshold,
    )
    repeats = {
        (d.test_case, d.scenario): d
        for d in find_repeats(cases, index)
        if (d.test_case, d.scenario) not in keep
    }
    if not repeats:
        return list(cases), []
    kept_cases, skipped = [], []
    for ci, case in enumerate(cases):
        scenarios = []
        for si, scenario in enumerate(case.scenarios):
            repeat = repeats.get((ci, si))
            if repeat is None:
                scenarios.append(scenario)
            else:
                skipped.append(
                    SkippedScenario(
                        test_case=ci, scenario=si, title=scenario.title, message=repeat.describe()
                    )
                )
        if scenarios:
            kept_cases.append(case.model_copy(update={"scenarios": scenarios}))
    return kept_cases, skipped


async def regenerate(
    session: AsyncSession,
    queue: JobQueue,
    parent: GenerationJob,
    index: int,
    slot: JobSlot | None = None,
    *,
    created_by: int | None = None,
    actor: str = "",
    instruction: str = "",
) -> jobs.Queued:
    """Queue the regeneration of test case `index` of the draft of `parent` (`slot`: as for
    `jobs.enqueue`; `created_by`, `actor`: the user asking and their name; `instruction`: what the
    new version should do differently). An approved draft is in review again: its test case will
    change."""
    require_open_draft(parent, "regenerated")
    cases = draft_cases(parent)
    if index >= len(cases):
        raise NotFoundError(messages.TEST_CASE, f"{index} of task {parent.id} (it has {len(cases)}, from 0)")
    choice = await _model_for_child(session, queue, parent, slot)
    asked = GenerateJobOptions.model_validate(parent.options)
    per_case = (
        asked.scenarios_per_test_case
        if "scenarios_per_test_case" in asked.model_fields_set
        else len(cases[index].scenarios)
    )
    options = RegenerateJobOptions(
        index=index,
        scenarios_per_test_case=per_case,
        instruction=instruction or None,
        **choice.model_dump(),
    )
    job, workers = await _queue_child(session, queue, parent, options, created_by, actor, "regenerated")
    logger.info("Queued regeneration %s of test case %d of task %s", job.id, index, parent.id)
    return await jobs.confirm_created(job, workers, slot)


async def extend(
    session: AsyncSession,
    queue: JobQueue,
    parent: GenerationJob,
    count: int,
    instruction: str = "",
    slot: JobSlot | None = None,
    *,
    created_by: int | None = None,
    actor: str = "",
) -> jobs.Queued:
    """Queue a job that adds `count` test cases to the draft of `parent`, none repeating what it holds
    (the arguments as for `regenerate`). An approved draft is in review again."""
    require_open_draft(parent, "extended")
    cases = draft_cases(parent)
    if len(cases) + count > MAX_TEST_CASES:
        raise ConflictError(
            f"Task {parent.id} holds {len(cases)} test cases; a draft holds at most {MAX_TEST_CASES}, "
            f"so at most {MAX_TEST_CASES - len(cases)} can be added"
        )
    choice = await _model_for_child(session, queue, parent, slot)
    asked = GenerateJobOptions.model_validate(parent.options)
    options = RegenerateJobOptions(
        index=len(cases),
        extend=count,
        scenarios_per_test_case=asked.scenarios_per_test_case,
        instruction=instruction or None,
        **choice.model_dump(),
    )
    job, workers = await _queue_child(session, queue, parent, options, created_by, actor, "added")
    logger.info("Queued %d more test cases (%s) for task %s", count, job.id, parent.id)
    return await jobs.confirm_created(job, workers, slot)


async def _model_for_child(
    session: AsyncSession, queue: JobQueue, parent: GenerationJob, slot: JobSlot | None
) -> LLMChoice:
    """For a job on `parent`'s draft: the model its story's project chooses, once the project's
    budget, the queue and the caller's slot allow it."""
    story_id = parent.story_id
    assert story_id is not None  # an open draft is a story's generation job
    await begin_read(session)
    choice = await jobs.llm_choice(session, queue.settings, story_id)
    story = await repository.get_story(session, story_id)
    if story is not None and story.project_id is not None:
        await jobs.check_budget(session, story.project_id)
    await session.commit()
    await queue.require()
    if slot is not None:
        await slot.take()
    return choice


async def _queue_child(
    session: AsyncSession,
    queue: JobQueue,
    parent: GenerationJob,
    options: RegenerateJobOptions,
    created_by: int | None,
    actor: str,
    how: str,
) -> tuple[GenerationJob, int]:
    """The regenerate-kind job of `options` on `parent`'s draft, written with the draft's return to
    review (an approval no longer holds once test case `options.index` is `how`), then handed to the
    workers: the job and how many live workers took it."""
    job = jobs.new_job(
        parent.story_id, JobKind.regenerate, options, parent_id=parent.id, created_by=created_by
    )
    try:
        await _reopen_approved(session, parent.id, options.index, created_by, actor, how)
        session.add(job)
        await session.commit()
    except DomainError:
        await session.rollback()
        raise
    return job, await queue.dispatch(session, job, REGENERATE_JOB)


async def _reopen_approved(
    session: AsyncSession,
    task_id: str,
    index: int,
    actor_id: int | None,
    actor: str,
    how: str,
) -> None:
    """In the session's transaction, the draft's row locked: an approved draft goes back to review
    (a regeneration will change it; the approval refuses while one is queued or running)."""
    locked = await repository.get_job_for_update(session, task_id)
    if locked is None:
        raise ConflictError(f"Task {task_id} was discarded a moment ago; nothing was regenerated")
    require_open_draft(locked, "regenerated")
    if locked.review_state != ReviewState.approved:
        return
    back = ReviewState.in_review.value
    if not await repository.change_job(session, EDIT_DRAFT, task_id, review_state=back):
        raise ConflictError(f"Task {task_id} was saved or discarded a moment ago; nothing was regenerated")
    session.add(
        ReviewStep(
            task_id=task_id,
            action=ReviewAction.submit.value,
            actor_id=actor_id,
            actor=actor or "local",
            comment=edited_after_approval(index, how),
            case_comments={},
        )
    )


async def update_test_case(session: AsyncSession, case: TestCase, data: TestCaseUpdate) -> TestCase:
    changes = data.model_dump(mode="json", exclude_unset=True)
    if "covered_criteria" in changes:
        story = await repository.get_story(session, case.story_id)
        assert story is not None  # the foreign key cascades deletes
        check_criteria([data], story, "")
        changes["covered_criteria"] = sorted(set(changes["covered_criteria"]))
        changes.update(covers(story, changes["covered_criteria"]))  # the reviewer confirmed them
    for field, value in changes.items():
        setattr(case, field, value)
    await session.commit()
    return case


async def delete_test_case(session: AsyncSession, case: TestCase) -> None:
    await session.delete(case)
    await session.commit()


async def list_drafts(session: AsyncSession, story: UserStory) -> list[dict[str, Any]]:
    """The story's open drafts, each with its review (one query more when some draft has one)."""
    drafts = await repository.list_drafts(session, story.id)
    reviewed = [job.id for job in drafts if job.review_state is not None]
    steps = await repository.review_steps(session, reviewed) if reviewed else {}
    await session.commit()
    found = []
    for job in drafts:
        snapshot: dict[str, Any] = dict(job_snapshot(job))
        if job.review_state is not None:
            snapshot["review"] = review_out(job.review_state, job.created_by, steps[job.id])
        found.append(snapshot)
    return found


async def discard(session: AsyncSession, redis: ArqRedis, job: GenerationJob) -> None:
    """Forget a finished job that was not saved: its row, its finished regenerations, their Redis keys."""
    if job.status in ACTIVE:
        raise ConflictError(
            f"Task {job.id} is still {job.status}; cancel it first "
            f"(POST /generate-test-cases/{job.id}/cancel), then discard it"
        )
    if job.saved_at is not None:
        raise ConflictError(
            f"Task {job.id} was saved; delete its test cases under /test-cases/{{id}} instead"
        )
    task_id = job.id
    if not await repository.change_job(session, DISCARD, task_id):
        await session.rollback()
        raise ConflictError(f"Task {task_id} was saved or discarded a moment ago; nothing was discarded")
    children = await repository.child_job_ids(session, task_id)
    gone = await repository.change_jobs(await session.connection(), DISCARD, [(c, {}) for c in children])
    forgotten = [task_id, *sorted(gone)]
    await session.commit()
    try:
        for ident in forgotten:
            await jobs.forget(redis, ident)
    except (RedisError, OSError):  # the keys expire on their own
        logger.warning("Could not delete the Redis keys of discarded task %s", task_id)
    logger.info("Discarded task %s (and %d regenerations)", task_id, len(forgotten) - 1)
