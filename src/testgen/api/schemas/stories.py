"""User stories: creating, changing and reading them."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from testgen.api.schemas.common import LANGUAGE_HELP, LanguageTag, Omittable, ORMModel, RowId
from testgen.domain.stories import MAX_CRITERIA, Priority, StoryContent
from testgen.domain.text_fields import Criterion, Description, Title


class StoryCreate(StoryContent):
    project_id: RowId | None = None
    language: LanguageTag | None = Field(
        default=None, description=LANGUAGE_HELP + "the project's language, else the detected one"
    )


class StoryUpdate(BaseModel):
    project_id: RowId | None = Field(default=None, description="null: the story belongs to no project")
    title: Omittable[Title] = None
    description: Omittable[Description] = None
    acceptance_criteria: Omittable[list[Criterion]] = Field(default=None, max_length=MAX_CRITERIA)
    priority: Omittable[Priority] = None
    language: LanguageTag | None = Field(
        default=None, description=LANGUAGE_HELP + "the project's language, else the detected one"
    )


class StoryOut(ORMModel):
    id: str
    project_id: int | None
    title: str
    description: str
    acceptance_criteria: list[str]
    priority: Priority
    jira_url: str | None = None
    language: str | None = Field(default=None, description="The language chosen for this story")
    detected_language: str | None = Field(
        default=None,
        description="Detected from the text (ISO 639-1); 'und' when it is too short to tell",
    )
    revision: int = 1
    created_at: dt.datetime
    updated_at: dt.datetime
