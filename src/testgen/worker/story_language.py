"""The language a job writes a story's test cases in (see core/languages.py for the order)."""

from __future__ import annotations

from testgen.core.languages import detect_story_language, effective_language
from testgen.data import repository
from testgen.data.models import UserStory
from testgen.worker.resources import WorkerResources


async def story_language(res: WorkerResources, story: UserStory) -> str:
    if story.language is not None:
        return story.language
    project_language = None
    if story.project_id is not None:
        async with res.sessionmaker() as session:
            project_language = await repository.project_language(session, story.project_id)
    detected = story.detected_language
    if project_language is None and detected is None:  # a story saved before detection existed
        detected = await detect_story_language(
            story.title, story.description, list(story.acceptance_criteria)
        )
    return effective_language(None, project_language, detected)
