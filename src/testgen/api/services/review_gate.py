"""The review gate: a completed draft is submitted for review, approved or sent back with comments,
each step recorded (who, when, why); an edit of an approved draft sends it back to review. Saving
checks the approval (services/review.py).

Every step locks the job's row first (`repository.get_job_for_update`), checks its state, and changes
it with the EDIT_DRAFT transition (a completed draft, not saved): of two racing steps or edits, the
second sees what the first did.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api import access
from testgen.api.principal import Principal
from testgen.api.schemas.jobs import ReviewRequest
from testgen.api.schemas.test_cases import ReviewedTestCase
from testgen.api.services.review import (
    check_criteria,
    edited_after_approval,
    require_open_draft,
    review_out,
    same_case,
)
from testgen.core import messages
from testgen.core.database import begin_read, begin_standalone
from testgen.core.errors import ConflictError, ForbiddenError, NotFoundError
from testgen.data import repository
from testgen.data.drafts import draft_cases, draft_result
from testgen.data.job_states import EDIT_DRAFT
from testgen.data.models import GenerationJob, Project, ReviewStep, UserStory
from testgen.domain.job_snapshots import JobSnapshot
from testgen.domain.roles import REVIEW_STATE_AFTER, ReviewAction, ReviewState, Role
from testgen.domain.test_cases import TestCaseDraft
from testgen.generation.quality import coverage
from testgen.streaming.snapshots import job_snapshot

MAX_ACTOR = 320  # ReviewStep.actor's length

# The states each action may start from (None: never submitted).
ALLOWED_FROM: dict[ReviewAction, frozenset[ReviewState | None]] = {
    ReviewAction.submit: frozenset({None, ReviewState.changes_requested}),
    ReviewAction.approve: frozenset({ReviewState.in_review}),
    ReviewAction.request_changes: frozenset({ReviewState.in_review, ReviewState.approved}),
}
NEEDED_ROLE = {
    ReviewAction.submit: Role.editor,
    ReviewAction.approve: Role.reviewer,
    ReviewAction.request_changes: Role.reviewer,
}


def actor_name(principal: Principal) -> str:
    return (principal.name or principal.email or principal.actor)[:MAX_ACTOR]


async def with_review(
    sessions: async_sessionmaker[AsyncSession], job: GenerationJob, snapshot: JobSnapshot
) -> JobSnapshot | dict[str, Any]:
    """The job's state with its review: as it is for a job never submitted (no query), else with its
    steps (one query)."""
    if job.review_state is None:
        return snapshot
    async with sessions() as session:
        await begin_standalone(session)
        steps = (await repository.review_steps(session, [job.id]))[job.id]
        await session.commit()
    return {**snapshot, "review": review_out(job.review_state, job.created_by, steps)}


async def status(session: AsyncSession, task_id: str) -> dict[str, Any]:
    """The job's state with its review, as committed."""
    await begin_read(session)
    job = await session.get(GenerationJob, task_id, populate_existing=True)
    steps = (await repository.review_steps(session, [task_id]))[task_id] if job is not None else []
    await session.commit()
    if job is None:
        raise NotFoundError(messages.TASK, task_id)
    snapshot: dict[str, Any] = dict(job_snapshot(job))
    if job.review_state is not None:
        snapshot["review"] = review_out(job.review_state, job.created_by, steps)
    return snapshot


async def _locked_draft(
    session: AsyncSession, task_id: str, action: str
) -> tuple[GenerationJob, UserStory, Project | None]:
    """The job's row, locked until the transaction ends, if it is an open draft; its story and project."""
    job = await repository.get_job_for_update(session, task_id)
    if job is None:
        raise ConflictError(f"Task {task_id} was discarded a moment ago; nothing was {action}")
    require_open_draft(job, action)
    story = await session.get(UserStory, job.story_id, populate_existing=True)
    if story is None:
        raise NotFoundError(messages.STORY, job.story_id)
    project = None
    if story.project_id is not None:
        project = await session.get(Project, story.project_id, populate_existing=True)
    return job, story, project


def _state_conflict(job: GenerationJob) -> ConflictError:
    state = job.review_state
    ident = f"Task {job.id}"
    if state is None:
        return ConflictError(f"{ident} was not submitted for review; submit it first (action submit)")
    if state == ReviewState.in_review:
        return ConflictError(f"{ident} is in review already; a reviewer approves it or requests changes")
    if state == ReviewState.approved:
        return ConflictError(f"{ident} is approved already: save it, or request changes to reopen it")
    return ConflictError(
        f"Changes were requested on task {job.id}; edit its test cases, then submit it again (action submit)"
    )


def _check_comments(job: GenerationJob, comments: dict[str, str]) -> dict[str, str]:
    """The comments on test cases the draft has (blank ones dropped)."""
    count = len(draft_cases(job))
    for key in comments:
        if int(key) >= count:
            raise ConflictError(
                f"test_case_comments.{key}: task {job.id}'s draft has {count} test cases (0-{count - 1})"
            )
    return {key: text for key, text in sorted(comments.items(), key=lambda kv: int(kv[0])) if text}


async def review(
    session: AsyncSession, job: GenerationJob, principal: Principal, data: ReviewRequest
) -> dict[str, Any]:
    """Take one review step on a completed draft; returns its state with its review."""
    task_id, action = job.id, data.action
    try:
        current, _, project = await _locked_draft(session, task_id, "reviewed")
        project_id = project.id if project is not None else None
        role = principal.role_in(project_id)
        if role is None:
            raise NotFoundError(messages.TASK, task_id)
        needed = NEEDED_ROLE[action]
        if not role.allows(needed):
            raise access.forbidden(role, needed)
        state = ReviewState(current.review_state) if current.review_state is not None else None
        if state not in ALLOWED_FROM[action]:
            raise _state_conflict(current)
        if action is ReviewAction.approve:
            await _check_approver(session, current, principal, project)
        comments = _check_comments(current, data.test_case_comments)
        after = REVIEW_STATE_AFTER[action]
        if not await repository.change_job(session, EDIT_DRAFT, task_id, review_state=after.value):
            raise ConflictError(f"Task {task_id} was saved or discarded a moment ago; nothing was reviewed")
        _add_step(session, task_id, action, principal, data.comment, comments)
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    return await status(session, task_id)


async def _check_approver(
    session: AsyncSession, job: GenerationJob, principal: Principal, project: Project | None
) -> None:
    own = principal.user_id is not None and principal.user_id == job.created_by
    if own and (project is None or not project.allow_self_approval):
        raise ForbiddenError(
            f"You queued task {job.id}, so another reviewer must approve it "
            "(a project admin may allow self-approval: allow_self_approval)"
        )
    if await repository.has_active_child(session, job.id):
        raise ConflictError(
            f"A test case of task {job.id} is being regenerated; approve the draft once that ended"
        )


def _add_step(
    session: AsyncSession,
    task_id: str,
    action: ReviewAction,
    principal: Principal,
    comment: str,
    comments: dict[str, str],
) -> None:
    session.add(
        ReviewStep(
            task_id=task_id,
            action=action.value,
            actor_id=principal.user_id,
            actor=actor_name(principal),
            comment=comment,
            case_comments=comments,
        )
    )


async def edit_test_case(
    session: AsyncSession, job: GenerationJob, principal: Principal, index: int, case: ReviewedTestCase
) -> dict[str, Any]:
    """Replace test case `index` of the draft (its coverage is computed again). Sending the test case
    it holds changes nothing; an approved draft that changes is in review again."""
    task_id = job.id
    try:
        current, story, _ = await _locked_draft(session, task_id, "edited")
        draft = draft_result(current)
        assert draft is not None  # an open draft completed
        cases = list(draft.test_cases)
        if index >= len(cases):
            raise NotFoundError(
                messages.TEST_CASE, f"{index} of task {task_id} (it has {len(cases)}, from 0)"
            )
        check_criteria([case], story, "")
        edited = TestCaseDraft.model_validate(
            {**case.model_dump(mode="json"), "covered_criteria": sorted(set(case.covered_criteria))}
        )
        if same_case(edited, cases[index]):
            await session.commit()
            return await status(session, task_id)
        cases[index] = edited
        changed = draft.model_copy(
            update={
                "test_cases": cases,
                "coverage": coverage(story.acceptance_criteria, cases),
                "duplicates": [
                    d
                    for d in draft.duplicates
                    if d.test_case != index and (d.of is None or d.of.test_case != index)
                ],
            }
        )
        values: dict[str, Any] = {"result": changed.model_dump(mode="json")}
        reopened = current.review_state == ReviewState.approved
        if reopened:
            values["review_state"] = ReviewState.in_review.value
        if not await repository.change_job(session, EDIT_DRAFT, task_id, **values):
            raise ConflictError(f"Task {task_id} was saved or discarded a moment ago; nothing was edited")
        if reopened:
            _add_step(session, task_id, ReviewAction.submit, principal, edited_after_approval(index), {})
        await session.commit()
    except Exception:
        await session.rollback()
        raise
    return await status(session, task_id)


async def inbox(
    session: AsyncSession, principal: Principal, limit: int, offset: int
) -> list[repository.InboxRow]:
    """The drafts in review the caller may approve: in the projects where they are a reviewer or above
    (an admin: all), not queued by them unless their project allows self-approval."""
    project_ids = None
    if not principal.is_admin:
        project_ids = sorted(pid for pid, role in principal.roles.items() if role.allows(Role.reviewer))
        if not project_ids:
            return []
    await begin_read(session)
    rows = await repository.review_inbox(
        session,
        state=ReviewState.in_review.value,
        project_ids=project_ids,
        reviewer_id=principal.user_id,
        limit=limit,
        offset=offset,
    )
    await session.commit()
    return rows
