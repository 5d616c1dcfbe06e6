"""A story as an import reads it from its source (a Jira issue, a GitHub issue, an Azure DevOps work
item), before it is written into a project, the context a Jira import may bring with it (comments,
linked issues, sub-tasks) and its limits, and the id a story of a source gets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from testgen.domain.stories import Priority
from testgen.domain.text_fields import MAX_STORY_ID

_NOT_IN_AN_ID = re.compile(r"[^A-Za-z0-9._-]+")
MAX_LINKED_ISSUES = 50  # linked issues kept per story
MAX_SUBTASKS = 50  # sub-tasks kept per story
MAX_SUMMARY = 200  # characters of a linked issue's or a sub-task's summary


@dataclass(frozen=True)
class LinkedIssue:
    key: str
    summary: str
    relation: str  # as Jira says it from this issue's side: "blocks", "is blocked by", "relates to"

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "summary": self.summary, "relation": self.relation}


@dataclass(frozen=True)
class ImportedStory:
    id: str
    title: str
    description: str
    acceptance_criteria: list[str]
    priority: Priority
    jira_url: str | None = None  # a Jira issue's page (the push links its test cases to it)
    source_url: str | None = None  # a GitHub issue's or an Azure DevOps work item's page
    # Read only when the import asked for them (None: not asked, the story keeps what it has).
    comments: list[str] | None = None  # newest first
    linked_issues: list[LinkedIssue] | None = None
    subtasks: list[str] | None = None  # their summaries

    def values(self) -> dict[str, Any]:
        """The story's columns as the import writes them (a re-import compares them)."""
        values: dict[str, Any] = {
            "title": self.title,
            "description": self.description,
            "acceptance_criteria": self.acceptance_criteria,
            "priority": self.priority.value,
            "jira_url": self.jira_url,
            "source_url": self.source_url,
        }
        if self.comments is not None:
            values["comments"] = list(self.comments)
        if self.linked_issues is not None:
            values["linked_issues"] = [link.as_json() for link in self.linked_issues]
        if self.subtasks is not None:
            values["subtasks"] = list(self.subtasks)
        return values


def story_id(prefix: str, number: int | str) -> str:
    """The id of item `number` of a source named `prefix` (a repository, a project): `shop-42`.
    The prefix keeps the characters an id may hold, starts with a letter or digit, and is cut so
    that the id fits; without any usable character it is `item`."""
    suffix = f"-{number}"
    cleaned = _NOT_IN_AN_ID.sub("-", prefix).lstrip("._-")
    cleaned = cleaned[: MAX_STORY_ID - len(suffix)].rstrip("._-") or "item"
    return f"{cleaned}{suffix}"
