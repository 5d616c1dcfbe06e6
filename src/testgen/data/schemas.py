"""Pydantic schemas of the HTTP API (kept apart from the ORM models)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

from testgen.core.languages import MAX_TAG_LENGTH, normalize_tag
from testgen.data.job_states import JobKind, JobStatus

STORY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_CRITERIA = 50
MAX_BULK_STORIES = 5000  # stories one bulk enqueue may queue

StoryId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=STORY_ID_PATTERN)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=20_000)]
Criterion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
Step = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2_000)]
# Request bodies take numbers as JSON numbers only: "3", true and 3.0 are refused, not converted.
Count = Annotated[int, Strict()]
RowId = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1)]  # fits every database's INTEGER
CriterionIndex = Annotated[int, Strict(), Field(ge=0, lt=MAX_CRITERIA)]
ScenarioIndex = Annotated[int, Strict(), Field(ge=0, lt=1000)]


def _language_tag(value: str) -> str:
    return normalize_tag(value)  # UnknownLanguageError is a ValueError: a 422 naming the field


# A BCP 47 tag such as "es" or "pt-BR", normalised; a language neither lingua nor Gherkin knows is refused.
LanguageTag = Annotated[str, StringConstraints(max_length=MAX_TAG_LENGTH), AfterValidator(_language_tag)]
_LANGUAGE_HELP = "BCP 47 language tag such as 'es' or 'pt-BR'; null: "


class Priority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class TestType(StrEnum):
    functional = "functional"
    negative = "negative"
    boundary = "boundary"
    security = "security"
    usability = "usability"
    performance = "performance"


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- projects -----------------------------------------------------------------------------------


class ProjectCreate(BaseModel):
    name: Title
    description: Description = ""
    language: LanguageTag | None = Field(
        default=None, description=_LANGUAGE_HELP + "each story's own or detected language"
    )


ProviderName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
MAX_INSTRUCTIONS = 4000
Instructions = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_INSTRUCTIONS)]
ModelName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ProjectUpdate(BaseModel):
    name: Title | None = None
    description: Description | None = None
    llm_provider: ProviderName | None = Field(
        default=None,
        description="The LLM provider that writes this project's test cases (one configured on the "
        "server); null: the server's default. Changing it without llm_model resets the model.",
    )
    llm_model: ModelName | None = Field(
        default=None, description="The provider's model; null: the provider's default model"
    )
    language: LanguageTag | None = Field(
        default=None,
        description=_LANGUAGE_HELP + "each story's own or detected language. Set, it is the language of "
        "every story of the project that has none of its own",
    )
    instructions: Instructions | None = Field(
        default=None,
        description="House style, test-design method, domain vocabulary: sent to the model in a fenced "
        "section that ranks below the system rules; empty or null: none",
    )
    token_budget_daily: Annotated[int, Strict(), Field(ge=1, le=2**31 - 1)] | None = Field(
        default=None,
        description="Tokens the project's jobs may spend per UTC day; a job that would exceed it fails "
        "before any model call, and queueing answers 429 once it is spent; null: no budget",
    )

    @field_validator("name", "description")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class LLMProviderOut(BaseModel):
    name: str
    default_model: str
    default: bool = Field(description="The server's default provider (LLM_PROVIDER)")


class ProjectOut(ORMModel):
    id: int
    name: str
    description: str
    llm_provider: str | None
    llm_model: str | None
    language: str | None = None
    instructions: str = ""
    token_budget_daily: int | None = None
    created_at: dt.datetime


# --- user stories -------------------------------------------------------------------------------


class StoryCreate(BaseModel):
    id: StoryId = Field(description="Your key for the story, e.g. US-001 or a Jira key")
    project_id: RowId | None = None
    title: Title
    description: Description = ""
    acceptance_criteria: list[Criterion] = Field(default_factory=list, max_length=MAX_CRITERIA)
    priority: Priority = Priority.medium
    language: LanguageTag | None = Field(
        default=None, description=_LANGUAGE_HELP + "the project's language, else the detected one"
    )


class StoryUpdate(BaseModel):
    project_id: RowId | None = None
    title: Title | None = None
    description: Description | None = None
    acceptance_criteria: list[Criterion] | None = Field(default=None, max_length=MAX_CRITERIA)
    priority: Priority | None = None
    language: LanguageTag | None = Field(
        default=None, description=_LANGUAGE_HELP + "the project's language, else the detected one"
    )

    @field_validator("title", "description", "acceptance_criteria", "priority")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


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


# --- test cases ---------------------------------------------------------------------------------


class Scenario(BaseModel):
    title: ShortText
    given: list[Step] = Field(min_length=1, max_length=20)
    when: list[Step] = Field(min_length=1, max_length=20)
    then: list[Step] = Field(min_length=1, max_length=20)


class TestCaseDraft(BaseModel):
    """A test case as generated, or as a reviewer edited it before saving."""

    title: Title
    description: Description = ""
    preconditions: list[ShortText] = Field(default_factory=list, max_length=50)
    priority: Priority = Priority.medium
    test_type: TestType = TestType.functional
    scenarios: list[Scenario] = Field(min_length=1, max_length=50)
    # Lax here: the model's output is parsed with this schema too (a reviewer's edit is strict below).
    covered_criteria: list[Annotated[int, Field(ge=0, lt=MAX_CRITERIA)]] = Field(default_factory=list)


class ReviewedTestCase(TestCaseDraft):
    """A test case as sent back by a reviewer (request body): numbers must be JSON numbers."""

    covered_criteria: list[CriterionIndex] = Field(default_factory=list)


class TestCaseOut(ORMModel):
    id: int
    story_id: str
    title: str
    description: str
    preconditions: list[str]
    priority: Priority
    test_type: TestType
    scenarios: list[Scenario]
    covered_criteria: list[int]
    task_id: str | None
    provider: str | None
    model: str | None
    story_revision: int | None = None
    criteria_texts: list[str] | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


# --- generation jobs ----------------------------------------------------------------------------


class GenerateOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_test_cases: Count = Field(default=5, ge=1, le=50)
    scenarios_per_test_case: Count = Field(default=3, ge=1, le=10)
    only_changed: Annotated[bool, Strict()] = Field(
        default=False,
        description="Generate only for the acceptance criteria that are new or changed since the story's "
        "saved test cases were written",
    )


class UsageDay(BaseModel):
    day: dt.date
    jobs: int
    llm_calls: int
    tokens: int


class UsageModel(BaseModel):
    provider: str
    model: str
    jobs: int
    llm_calls: int
    prompt_tokens: int
    output_tokens: int
    tokens: int


class UsageOut(BaseModel):
    project_id: int
    days: int
    since: dt.date
    token_budget_daily: int | None
    spent_today: int
    per_day: list[UsageDay]
    per_model: list[UsageModel]


class BulkQueueRequest(GenerateOptions):
    """Stories to queue at once: `story_ids`, or every story of `project_id`; `only_without_tests`
    leaves out stories that have saved test cases. The options apply to every job created."""

    story_ids: list[StoryId] | None = Field(default=None, min_length=1, max_length=MAX_BULK_STORIES)
    project_id: RowId | None = None
    only_without_tests: StrictBool = False

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
    warning: str | None = Field(
        default=None, description="Set when the job cannot progress now, e.g. no worker runs"
    )


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


class JobError(BaseModel):
    type: str
    message: str


class JobStatusOut(BaseModel):
    task_id: str
    story_id: str | None
    project_id: int | None = None
    kind: JobKind = JobKind.generate
    status: JobStatus
    progress: int
    message: str
    warning: str | None = Field(
        default=None, description="Set when the job cannot progress now, e.g. no worker runs"
    )
    options: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] | None = None
    error: JobError | None = None
    created_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    saved_at: dt.datetime | None = None


# --- review: save, edit, export, regenerate -----------------------------------------------------


class SaveRequest(BaseModel):
    """The reviewed subset of a job's test cases, possibly edited; omitted means all of them."""

    model_config = ConfigDict(extra="forbid")

    test_cases: list[ReviewedTestCase] | None = Field(default=None, min_length=1, max_length=500)
    keep: list[tuple[ScenarioIndex, ScenarioIndex]] = Field(
        default_factory=list,
        max_length=25_000,
        description="[test case, scenario] positions (in the test cases saved) to save even though they "
        "repeat a saved test case; the other repeats are skipped",
    )


class SkippedScenario(BaseModel):
    test_case: int
    scenario: int
    title: str
    message: str = Field(description='Why it was skipped: "repeats saved test #<id> ..."')


class SaveResult(BaseModel):
    saved: int
    test_case_ids: list[int]
    skipped: list[SkippedScenario] = Field(default_factory=list)


class StaleTestCaseOut(TestCaseOut):
    stale_criteria: list[str] = Field(
        default_factory=list,
        description="The criteria it covers that changed or disappeared since it was saved",
    )


class TestCaseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    preconditions: list[ShortText] | None = Field(default=None, max_length=50)
    priority: Priority | None = None
    test_type: TestType | None = None
    scenarios: list[Scenario] | None = Field(default=None, min_length=1, max_length=50)
    covered_criteria: list[CriterionIndex] | None = None

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may be omitted but not null")
        return value


class ExportFormat(StrEnum):
    gherkin = "gherkin"
    csv = "csv"
    json = "json"
    gherkin_tagged = "gherkin-tagged"  # tags for test-management tools; each test case a Rule
    testrail_csv = "testrail-csv"
    xray_json = "xray-json"


class XrayTestType(StrEnum):
    cucumber = "Cucumber"
    manual = "Manual"


# A Jira project key (Xray's fields.project.key): upper-case letters, digits and underscores.
JiraProjectKey = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=r"^[A-Z][A-Z0-9_]*$")]


# --- imports ------------------------------------------------------------------------------------


class JiraImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jql: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)] = Field(
        description="The Jira query whose issues become stories, e.g. project = SHOP AND sprint = 5"
    )


class RegenerateQueued(QueuedJob):
    parent_id: str
    index: int
