"""A story as an import reads it from its source (a Jira issue, a GitHub issue, an Azure DevOps work
item), before it is written into a project, and the id a story of a source gets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from testgen.domain.stories import Priority
from testgen.domain.text_fields import MAX_STORY_ID

_NOT_IN_AN_ID = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ImportedStory:
    id: str
    title: str
    description: str
    acceptance_criteria: list[str]
    priority: Priority
    jira_url: str | None = None  # a Jira issue's page (the push links its test cases to it)
    source_url: str | None = None  # a GitHub issue's or an Azure DevOps work item's page

    def values(self) -> dict[str, Any]:
        """The story's columns as the import writes them (a re-import compares them)."""
        return {
            "title": self.title,
            "description": self.description,
            "acceptance_criteria": self.acceptance_criteria,
            "priority": self.priority.value,
            "jira_url": self.jira_url,
        }


def story_id(prefix: str, number: int | str) -> str:
    """The id of item `number` of a source named `prefix` (a repository, a project): `shop-42`.
    The prefix keeps the characters an id may hold, starts with a letter or digit, and is cut so
    that the id fits; without any usable character it is `item`."""
    suffix = f"-{number}"
    cleaned = _NOT_IN_AN_ID.sub("-", prefix).lstrip("._-")
    cleaned = cleaned[: MAX_STORY_ID - len(suffix)].rstrip("._-") or "item"
    return f"{cleaned}{suffix}"
