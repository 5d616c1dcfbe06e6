"""A story's or a project's automation skeleton as a zip: the feature files as the Gherkin export
writes them (each story's dialect), and one pending step definition per distinct step for the
framework asked for (automation/)."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import TestCaseOut
from testgen.api.services.export import Export, to_gherkin, unique_file_names
from testgen.automation.render import skeleton
from testgen.automation.steps import FeatureError
from testgen.core.errors import ConflictError
from testgen.data import repository
from testgen.data.models import Project, UserStory
from testgen.data.story_language import story_language
from testgen.domain.automation import MAX_AUTOMATION_STORIES, AutomationFramework

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


def _zip(
    stories: Sequence[tuple[StoryOut, Sequence[TestCaseOut], str]], framework: AutomationFramework, stem: str
) -> Export:
    names = unique_file_names([_UNSAFE_FILENAME.sub("_", story.id) for story, _, _ in stories], "feature")
    features = {
        names[i]: to_gherkin(story, cases, language) for i, (story, cases, language) in enumerate(stories)
    }
    try:
        files = skeleton(features, framework).files
    except FeatureError as exc:
        raise ConflictError(f"cannot build the automation skeleton: {exc}") from exc
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return Export(buffer.getvalue(), "application/zip", f"{stem}-{framework.value}.zip")


async def story_skeleton(session: AsyncSession, story: UserStory, framework: AutomationFramework) -> Export:
    rows = await repository.list_test_cases(session, story.id)
    language = await story_language(session, story)
    await session.commit()  # end the read before rendering: on SQLite it holds the write lock
    out = StoryOut.model_validate(story)
    cases = [TestCaseOut.model_validate(row) for row in rows]
    return _zip([(out, cases, language)] if cases else [], framework, _UNSAFE_FILENAME.sub("_", story.id))


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
