"""A user story's own fields: what a client sends or a Jira issue maps to."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

from testgen.domain.text_fields import Criterion, Description, StoryId, Title

MAX_CRITERIA = 50  # acceptance criteria per story


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class StoryContent(BaseModel):
    """A story's text and priority, checked against the limits every story keeps."""

    id: StoryId = Field(description="Your key for the story, e.g. US-001 or a Jira key")
    title: Title
    description: Description = ""
    acceptance_criteria: list[Criterion] = Field(default_factory=list, max_length=MAX_CRITERIA)
    priority: Priority = Priority.medium
