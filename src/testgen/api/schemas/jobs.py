"""Jobs: queueing them (one story, many, a regeneration) and their state, one model per job kind
(the `kind` field tells which) with that kind's options and result."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    model_validator,
)

from testgen.api.schemas.common import Count, Omittable, RowId
from testgen.data.job_states import JobKind, JobStatus
from testgen.domain.job_errors import JobError
from testgen.domain.job_options import (
    DEFAULT_SCENARIOS_PER_CASE,
    DEFAULT_TEST_CASES,
    MAX_INSTRUCTION,
    MAX_SCENARIOS_PER_CASE,
    MAX_TEST_CASES,
    MIN_SCENARIOS_PER_CASE,
    MIN_TEST_CASES,
    AutomationFillOptions,
    Delivery,
    GenerateJobOptions,
    JiraImportJobOptions,
    JobOptions,
    PushJobOptions,
    RegenerateJobOptions,
    StoryCheckOptions,
)
from testgen.domain.job_results import (
    AutomationFillResult,
    DraftResult,
    JiraImportResult,
    JobResult,
    PushResult,
    RegenerationResult,
    StoryCheckResult,
)
from testgen.domain.roles import ReviewAction, ReviewState
from testgen.domain.techniques import MAX_TECHNIQUES, Technique
from testgen.domain.text_fields import NO_NUL, StoryId, stripped

MAX_BULK_STORIES = 5000  # stories one bulk enqueue may queue
_NO_WORKER = "Set when the job cannot progress now, e.g. no worker runs"


DistinctTechniques = Annotated[
    list[Technique],
    Field(min_length=1, max_length=MAX_TECHNIQUES, json_schema_extra={"uniqueItems": True}),
]


class GenerateOptions(BaseModel):
    """What a client asks of a draft (a request body: numbers must be JSON numbers)."""

    model_config = ConfigDict(extra="forbid")

    num_test_cases: Count = Field(default=DEFAULT_TEST_CASES, ge=MIN_TEST_CASES, le=MAX_TEST_CASES)
    scenarios_per_test_case: Count = Field(
        default=DEFAULT_SCENARIOS_PER_CASE, ge=MIN_SCENARIOS_PER_CASE, le=MAX_SCENARIOS_PER_CASE
    )
    only_changed: Annotated[bool, Strict()] = Field(
        default=False,
        description="Generate only for the acceptance criteria that are new or changed since the story's "
        "saved test cases were written",
    )
    techniques: Omittable[DistinctTechniques] = Field(
        default=None,
        description="Test-design techniques the test cases apply, one per test case in turn, each "
        "scenario labelled with its own; omitted: the project's default, else the built-in mix",
    )

    @model_validator(mode="after")
    def _distinct_techniques(self) -> GenerateOptions:
        if self.techniques is not None and len(set(self.techniques)) != len(self.techniques):
            raise ValueError("techniques names a technique twice")
        return self


class BulkQueueRequest(GenerateOptions):
    """Stories to queue at once: `story_ids`, or every story of `project_id` (exactly one of them);
    `only_without_tests` leaves out stories that have saved test cases. The options apply to every job
    created."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["story_ids"]}, {"required": ["project_id"]}]}
    )

    story_ids: Omittable[list[StoryId]] = Field(default=None, min_length=1, max_length=MAX_BULK_STORIES)
    project_id: Omittable[RowId] = None
    only_without_tests: StrictBool = False
    delivery: Omittable[Delivery] = Field(
        default=None,
        description="batch: the jobs' model calls go through the provider's Batch API, answered within "
        "24 h at half the price (the jobs wait meanwhile); omitted: the project's default, else standard",
    )

    @model_validator(mode="after")
    def _one_selection(self) -> BulkQueueRequest:
        if (self.story_ids is None) == (self.project_id is None):
            raise ValueError("give either story_ids or project_id")
        return self


class QueuedJob(BaseModel):
    task_id: str
    story_id: str | None
    project_id: int | None = None
    status: JobStatus
    status_url: str
    events_url: str
    warning: str | None = Field(default=None, description=_NO_WORKER)


class BulkQueued(BaseModel):
    """The answer to a bulk enqueue: one entry per story, in the order asked (a story with a job
    already queued or running gets that job), and one event stream that follows them all."""

    batch_id: str
    created: int = Field(description="New jobs queued")
    reused: int = Field(description="Stories whose job was already queued or running")
    events_url: str
    jobs: list[QueuedJob]
    warning: str | None = Field(
        default=None, description="Set when the jobs cannot progress now, e.g. no worker runs"
    )


Instruction = Annotated[str, StringConstraints(max_length=MAX_INSTRUCTION), NO_NUL, AfterValidator(stripped)]


class RegenerateRequest(BaseModel):
    """What a reviewer asks of the new version of a test case (optional)."""

    model_config = ConfigDict(extra="forbid")

    instruction: Instruction = Field(
        default="",
        description='E.g. "add boundary cases for the password length": given to the model as data, '
        "below the system rules; empty: none",
    )


class ExtendRequest(BaseModel):
    """Test cases to add to a completed draft, and what they should do (optional)."""

    model_config = ConfigDict(extra="forbid")

    num_test_cases: Count = Field(ge=MIN_TEST_CASES, le=MAX_TEST_CASES)
    instruction: Instruction = Field(
        default="",
        description='E.g. "add boundary cases for the password length": given to the model as data, '
        "below the system rules; empty: none",
    )


class RegenerateQueued(QueuedJob):
    parent_id: str
    index: int


class ExtendQueued(QueuedJob):
    parent_id: str
    index: int = Field(description="Where the added test cases start in the draft (its size now)")
    num_test_cases: int


class JobState(BaseModel):
    """What every job's state holds; `kind` says which of the models below it is."""

    task_id: str
    story_id: str | None
    project_id: int | None = None
    kind: JobKind
    status: JobStatus
    progress: int
    message: str
    warning: str | None = Field(default=None, description=_NO_WORKER)
    options: JobOptions
    result: JobResult | None = Field(default=None, description="Set once the job completed")
    error: JobError | None = Field(default=None, description="Set once the job failed")
    created_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    saved_at: dt.datetime | None = None


MAX_REVIEW_COMMENT = 5000
MAX_CASE_COMMENTS = 100
ReviewComment = Annotated[
    str, StringConstraints(max_length=MAX_REVIEW_COMMENT), NO_NUL, AfterValidator(stripped)
]
# A test case's position in the draft as a JSON object key: "0" to "999", no leading zero.
CaseKey = Annotated[str, StringConstraints(pattern=r"^(0|[1-9][0-9]{0,2})$")]


class ReviewRequest(BaseModel):
    """One step of a draft's review. `submit` needs an editor; `approve` and `request_changes` a
    reviewer of the project."""

    model_config = ConfigDict(extra="forbid")

    action: ReviewAction
    comment: ReviewComment = Field(default="", description="On the draft as a whole")
    test_case_comments: dict[CaseKey, ReviewComment] = Field(
        default_factory=dict,
        max_length=MAX_CASE_COMMENTS,
        description='On single test cases, by their position in the draft: {"0": "…"}',
        # pydantic states the key pattern as patternProperties only: other keys are refused too.
        json_schema_extra={"additionalProperties": False},
    )


class ReviewStepOut(BaseModel):
    action: ReviewAction
    actor: str = Field(description="The name of who took the step, as it was then")
    actor_id: int | None = Field(description="Their user id; null: an API key or the local admin")
    comment: str
    test_case_comments: dict[str, str]
    at: dt.datetime


class ReviewOut(BaseModel):
    state: ReviewState
    author_id: int | None = Field(description="Who queued the draft; null: an API key or the local admin")
    steps: list[ReviewStepOut] = Field(description="Oldest first")


class GenerationJobOut(JobState):
    """A draft for a story."""

    kind: Literal[JobKind.generate]
    options: GenerateJobOptions = Field(default_factory=GenerateJobOptions)
    result: DraftResult | None = Field(default=None, description="The draft, once the job completed")
    review: ReviewOut | None = Field(default=None, description="Its review; null: never submitted")


class RegenerationJobOut(JobState):
    """One test case of a draft written again (into the draft of `options.index`'s parent job)."""

    kind: Literal[JobKind.regenerate]
    options: RegenerateJobOptions
    result: RegenerationResult | None = Field(default=None, description="Set once the job completed")


class JiraImportJobOut(JobState):
    """The stories of a project read from Jira."""

    kind: Literal[JobKind.import_jira]
    options: JiraImportJobOptions = Field(default_factory=JiraImportJobOptions)
    result: JiraImportResult | None = Field(default=None, description="Set once the job completed")


class PushJobOut(JobState):
    """A project's saved test cases written into the tool of one of its connections."""

    kind: Literal[JobKind.push]
    options: PushJobOptions
    result: PushResult | None = Field(default=None, description="Set once the job completed")


class AutomationFillJobOut(JobState):
    """Bodies proposed by the model for a story's playwright-bdd steps (the skeleton with them in
    place: GET /user-stories/{story_id}/test-cases/automation?framework=playwright-bdd&task_id=…)."""

    kind: Literal[JobKind.automation_fill]
    options: AutomationFillOptions
    result: AutomationFillResult | None = Field(default=None, description="Set once the job completed")


class StoryCheckJobOut(JobState):
    """The deep check of a story: the model's questions on what its criteria leave open."""

    kind: Literal[JobKind.story_check]
    options: StoryCheckOptions = Field(default_factory=StoryCheckOptions)
    result: StoryCheckResult | None = Field(default=None, description="Set once the job completed")


# A job of any kind.
JobOut = (
    GenerationJobOut
    | RegenerationJobOut
    | JiraImportJobOut
    | PushJobOut
    | AutomationFillJobOut
    | StoryCheckJobOut
)
JobStatusOut = Annotated[
    JobOut,
    Field(discriminator="kind"),
]


class InboxItem(BaseModel):
    """A draft in review that the caller may approve."""

    task_id: str
    story_id: str
    story_title: str
    project_id: int
    project_name: str
    author_id: int | None
    finished_at: dt.datetime | None = Field(description="When the draft was written")
    submitted_at: dt.datetime | None = Field(description="When it was last submitted for review")
    submitted_by: str | None
