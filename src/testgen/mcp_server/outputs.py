"""What the tools answer: the REST API's own models, gathered into one object per tool."""

from __future__ import annotations

from pydantic import BaseModel, Field

from testgen.api.schemas.jobs import (
    GenerationJobOut,
    JiraImportJobOut,
    JobStatusOut,
    QueuedJob,
    RegenerateQueued,
)
from testgen.api.schemas.projects import ProjectOut
from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import StaleTestCaseOut


class ProjectList(BaseModel):
    projects: list[ProjectOut]


class StoryPage(BaseModel):
    stories: list[StoryOut]
    total: int = Field(description="How many stories match in all")
    offset: int
    limit: int


class StoryWithTests(BaseModel):
    story: StoryOut
    test_cases: list[StaleTestCaseOut] = Field(description="Its saved test cases")


class JobView(BaseModel):
    job: JobStatusOut


class GenerationOutcome(BaseModel):
    queued: QueuedJob = Field(description="The job as queued (an existing queued or running one is reused)")
    job: GenerationJobOut | None = Field(
        default=None, description="With wait: the job's final state; its result is the draft once completed"
    )


class RegenerationOutcome(BaseModel):
    queued: RegenerateQueued
    draft: GenerationJobOut | None = Field(
        default=None, description="With wait: the draft the test case was written into, once it ended"
    )
    error: str | None = Field(default=None, description="With wait: why the regeneration did not complete")


class ImportOutcome(BaseModel):
    queued: QueuedJob
    job: JiraImportJobOut | None = Field(default=None, description="With wait: the import's final state")
