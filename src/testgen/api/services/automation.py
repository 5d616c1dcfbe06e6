"""A story's or a project's automation skeleton as a zip: the feature files as the Gherkin export
writes them (each story's dialect), and one pending step definition per distinct step for the
framework asked for (automation/)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import TestCaseOut
from testgen.api.services.export import Export, to_gherkin, unique_file_names
from testgen.automation.render import Proposal, skeleton
from testgen.automation.steps import FeatureError
from testgen.core import messages
from testgen.core.errors import ConflictError, InvalidRequestError, NotFoundError
from testgen.data import repository
from testgen.data.job_states import JobKind, JobStatus
from testgen.data.models import Project, UserStory
from testgen.data.story_language import story_language
from testgen.domain.automation import MAX_AUTOMATION_STORIES, AutomationFramework
from testgen.domain.job_results import AutomationFillResult

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def _zip(
    stories: Sequence[tuple[StoryOut, Sequence[TestCaseOut], str]],
    framework: AutomationFramework,
    stem: str,
    proposals: Mapping[str, Proposal] | None = None,
) -> Export:
    names = unique_file_names([_UNSAFE_FILENAME.sub("_", story.id) for story, _, _ in stories], "feature")
    features = {
        names[i]: to_gherkin(story, cases, language) for i, (story, cases, language) in enumerate(stories)
    }
    try:
        files = skeleton(features, framework, proposals).files
    except FeatureError as exc:
        raise ConflictError(f"cannot build the automation skeleton: {exc}") from exc
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return Export(buffer.getvalue(), "application/zip", f"{stem}-{framework.value}.zip")


async def story_skeleton(
    session: AsyncSession,
    story: UserStory,
    framework: AutomationFramework,
    fill_task_id: str | None = None,
    fill: str | None = None,
) -> Export:
    """The story's skeleton; with `fill_task_id` (a completed fill job of the story, playwright-bdd)
    each body that job proposed is in place, marked for review, and the other steps stay pending.
    Asking the model pass itself here (`fill`) is refused with the way to queue it."""
    if fill is not None:
        raise InvalidRequestError(messages.fill_is_a_job(story.id))
    proposals: dict[str, Proposal] | None = None
    if fill_task_id is not None:
        proposals = await _proposals(session, story.id, framework, fill_task_id)
    rows = await repository.list_test_cases(session, story.id)
    language = await story_language(session, story)
    await session.commit()  # end the read before rendering: on SQLite it holds the write lock
    out = StoryOut.model_validate(story)
    cases = [TestCaseOut.model_validate(row) for row in rows]
    stem = _UNSAFE_FILENAME.sub("_", story.id) + ("-proposed" if proposals is not None else "")
    return _zip([(out, cases, language)] if cases else [], framework, stem, proposals)


async def _proposals(
    session: AsyncSession, story_id: str, framework: AutomationFramework, task_id: str
) -> dict[str, Proposal]:
    """The bodies the story's completed fill job `task_id` proposed, by Cucumber expression."""
    job = await repository.get_job(session, task_id)
    if job is None or job.story_id != story_id or job.kind != JobKind.automation_fill:
        await session.commit()
        raise NotFoundError(messages.TASK, task_id)
    status, result = job.status, job.result
    await session.commit()
    if framework is not AutomationFramework.playwright_bdd:
        raise ConflictError(f"Task {task_id} proposed playwright-bdd step bodies: ask for that framework")
    if status != JobStatus.completed or result is None:
        raise ConflictError(f"Task {task_id} is {status}: its proposals are there once it completed")
    fill = AutomationFillResult.model_validate(result)
    model = f"{fill.provider}/{fill.model}"
    return {p.expression: Proposal(p.body, model) for p in fill.proposals if p.body is not None}


async def project_skeleton(session: AsyncSession, project: Project, framework: AutomationFramework) -> Export:
    """Every story of the project that has saved test cases; a project of more than
    MAX_AUTOMATION_STORIES stories is refused (409) before anything is read."""
    project_id, name, project_language = project.id, project.name, project.language
    if await repository.count_stories(session, project_id) > MAX_AUTOMATION_STORIES:
        raise ConflictError(
            f"project {project_id} has more than {MAX_AUTOMATION_STORIES} stories: download the "
            "automation skeleton story by story"
        )
    rows = await repository.list_project_test_cases(session, project_id)
    story_rows = await repository.list_stories(session, project_id, limit=None, offset=0)
    by_story: dict[str, list[TestCaseOut]] = {}
    for row in rows:
        by_story.setdefault(row.story_id, []).append(TestCaseOut.model_validate(row))
    stories = [
        (StoryOut.model_validate(s), by_story[s.id], await story_language(session, s, project_language))
        for s in story_rows
        if s.id in by_story
    ]
    await session.commit()
    return _zip(stories, framework, _UNSAFE_FILENAME.sub("_", name))
