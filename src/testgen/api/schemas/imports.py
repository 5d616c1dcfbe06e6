"""Importing stories: the Jira, GitHub and Azure DevOps import requests."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from testgen.domain.job_options import GitHubIssueState, JiraContext
from testgen.domain.text_fields import NOT_BLANK

MAX_LABELS = 20
# Not blank, no comma (GitHub's list separator), no control character: one pattern, so that the schema
# refuses exactly what the server does.
Label = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=100,
        pattern=r"^[^,\u0000-\u001f\u007f]*[^,\u0000-\u0020\u007f][^,\u0000-\u001f\u007f]*$",
    ),
]
Milestone = Annotated[str, StringConstraints(pattern=r"^(?:[1-9][0-9]{0,9}|\*|none)$")]


class JiraImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jql: Annotated[str, StringConstraints(min_length=1, max_length=4000), NOT_BLANK] = Field(
        description="The Jira query whose issues become stories, e.g. project = SHOP AND sprint = 5"
    )
    with_: list[JiraContext] = Field(
        default_factory=list,
        alias="with",
        max_length=len(JiraContext),
        json_schema_extra={"uniqueItems": True},
        description="What each story brings besides the issue's text: its comments (newest first), its "
        "links (linked issues' keys and summaries, sub-tasks' summaries), its attachments",
    )

    @field_validator("with_")
    @classmethod
    def _each_once(cls, value: list[JiraContext]) -> list[JiraContext]:
        if len(set(value)) != len(value):
            raise ValueError("name each part once")
        return value


class GitHubImportRequest(BaseModel):
    """Which issues of the repository of the project's `github` connection become stories."""

    model_config = ConfigDict(extra="forbid")

    labels: list[Label] = Field(
        default_factory=list, max_length=MAX_LABELS, description="Only issues with every one of these labels"
    )
    milestone: Milestone | None = Field(
        default=None,
        description='A milestone number, "*" (any milestone) or "none" (no milestone); null: any issue',
    )
    state: GitHubIssueState = Field(default=GitHubIssueState.open, description="open, closed or all")


class AzureDevOpsImportRequest(BaseModel):
    """Which work items of the project's `azure-devops` connection become stories."""

    model_config = ConfigDict(extra="forbid")

    wiql: Annotated[str, StringConstraints(min_length=1, max_length=32_000), NOT_BLANK] = Field(
        description="A flat WIQL query, e.g. SELECT [System.Id] FROM WorkItems WHERE "
        "[System.WorkItemType] = 'User Story' AND [System.State] = 'Active'"
    )
