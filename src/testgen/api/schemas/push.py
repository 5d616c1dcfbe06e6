"""Pushing saved test cases into a test-management tool: the push request."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from testgen.api.schemas.common import RowId
from testgen.domain.job_options import MAX_PUSH_STORIES
from testgen.domain.text_fields import StoryId


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection_id: RowId = Field(description="One of the project's connections (not its `jira` one)")
    story_ids: list[StoryId] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_PUSH_STORIES,
        description="Stories of the project whose saved test cases are pushed; absent: every story",
    )
    delete_removed: StrictBool = Field(
        default=False,
        description="Delete in the tool the test cases pushed before that were deleted here since",
    )
    overwrite: StrictBool = Field(
        default=False,
        description="Replace test cases that were changed in the tool since the last push (else they "
        "are reported as conflicts and left alone)",
    )
