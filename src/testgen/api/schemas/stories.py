"""User stories: creating, changing and reading them."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from testgen.api.schemas.common import LANGUAGE_HELP, LanguageTag, Omittable, ORMModel, RowId
from testgen.domain.optional_keys import optional_key
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


class LinkedIssueOut(BaseModel):
    key: str
    summary: str
    relation: str = Field(
        description='How it relates, as Jira words it from the story: "blocks", "relates to"'
    )


class StoryOut(ORMModel):
    id: str
    project_id: int | None
    title: str
    description: str
    acceptance_criteria: list[str]
    priority: Priority
    jira_url: str | None = None
    source_url: str | None = optional_key(
        description="The GitHub issue or Azure DevOps work item it was imported from"
    )
    comments: list[str] | None = optional_key(
        description="A Jira import's comments on the issue, newest first (absent: never imported)"
    )
    linked_issues: list[LinkedIssueOut] | None = optional_key(
        description="A Jira import's linked issues (absent: never imported)"
    )
    subtasks: list[str] | None = optional_key(
        description="A Jira import's sub-tasks' summaries (absent: never imported)"
    )
    language: str | None = Field(default=None, description="The language chosen for this story")
    detected_language: str | None = Field(
        default=None,
        description="Detected from the text (ISO 639-1); 'und' when it is too short to tell",
    )
    revision: int = 1
    created_at: dt.datetime
    updated_at: dt.datetime
