"""Importing stories: the Jira import request."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from testgen.domain.text_fields import NOT_BLANK


class JiraImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jql: Annotated[str, StringConstraints(min_length=1, max_length=4000), NOT_BLANK] = Field(
        description="The Jira query whose issues become stories, e.g. project = SHOP AND sprint = 5"
    )
