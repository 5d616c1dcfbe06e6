"""The language a story's tests are written in (see core/languages.py for the order)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.core.languages import detect_story_language, effective_language
from testgen.data import repository
from testgen.data.models import UserStory

_UNSET = object()


async def story_language(
    session: AsyncSession, story: UserStory, project_language: str | object | None = _UNSET
) -> str:
    """`project_language` when the caller already has it (a project's export), else looked up."""
    if story.language is not None:
        return story.language
    if project_language is _UNSET:
        project_language = (
            await repository.project_language(session, story.project_id)
            if story.project_id is not None
            else None
        )
    assert project_language is None or isinstance(project_language, str)
    return await language_in_project(story, project_language)


async def language_in_project(story: UserStory, project_language: str | None) -> str:
    """The language of `story`, whose project's language is `project_language` (None: none chosen)."""
    if story.language is not None:
        return story.language
    detected = story.detected_language
    if project_language is None and detected is None:  # a story saved before detection existed
        detected = await detect_story_language(
            story.title, story.description, list(story.acceptance_criteria)
        )
    return effective_language(None, project_language, detected)
