"""What each kind of job is asked to do: its options as they are stored with the job, and the
limits of what a client may ask for."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from testgen.domain.automation import HTTP_URL_PATTERN, MAX_BASE_URL, AutomationFramework, http_url
from testgen.domain.optional_keys import optional_key
from testgen.domain.techniques import MAX_TECHNIQUES, Technique

DEFAULT_TEST_CASES = 5
MAX_INSTRUCTION = 1000  # characters of a reviewer's instruction to a regeneration
MIN_TEST_CASES, MAX_TEST_CASES = 1, 50
DEFAULT_SCENARIOS_PER_CASE = 3
MIN_SCENARIOS_PER_CASE, MAX_SCENARIOS_PER_CASE = 1, 10

TestCaseCount = Annotated[int, Field(ge=MIN_TEST_CASES, le=MAX_TEST_CASES)]
ScenarioCount = Annotated[int, Field(ge=MIN_SCENARIOS_PER_CASE, le=MAX_SCENARIOS_PER_CASE)]
BaseUrl = Annotated[
    str, StringConstraints(max_length=MAX_BASE_URL, pattern=HTTP_URL_PATTERN), AfterValidator(http_url)
]


class LLMChoice(BaseModel):
    """The provider and model a job was queued with (resolved from its project when it was queued);
    absent: the worker's defaults."""

    llm_provider: str | None = optional_key()
    llm_model: str | None = optional_key()


class Delivery(StrEnum):
    """How a generation job's model calls are sent: one by one at once, or through the provider's
    Batch API (answered within 24 h, at half the price)."""

    standard = "standard"
    batch = "batch"


class GenerateJobOptions(LLMChoice):
    """A draft for a story."""

    num_test_cases: TestCaseCount = DEFAULT_TEST_CASES
    scenarios_per_test_case: ScenarioCount = DEFAULT_SCENARIOS_PER_CASE
    only_changed: bool = Field(
        default=False,
        description="Only the acceptance criteria that are new or changed since the story's saved test "
        "cases were written",
    )
    techniques: list[Technique] | None = optional_key(
        max_length=MAX_TECHNIQUES,
        description="The test-design techniques its test cases apply, in turn; absent: the project's "
        "default, else the built-in mix",
    )
    delivery: Delivery | None = optional_key(
        description="batch: the calls go through the provider's Batch API (within 24 h, half price); "
        "absent: standard"
    )


class RegenerateJobOptions(LLMChoice):
    """One test case of a draft, written again; or, with `extend`, that many test cases added to it."""

    index: int = Field(
        ge=0, description="The test case's position in the draft, from 0 (extend: the draft's size)"
    )
    # As many as the draft was asked for (a draft without options: as many as the test case has)
    scenarios_per_test_case: int = Field(default=DEFAULT_SCENARIOS_PER_CASE, ge=1)
    extend: TestCaseCount | None = optional_key(
        description="Test cases added to the draft (POST /generate-test-cases/{task_id}/extend); "
        "absent: test case `index` is written again"
    )
    instruction: str | None = optional_key(
        description='What the reviewer asked of the new version ("add boundary cases for the password '
        'length"), given to the model as data below the system rules'
    )


class ImportSource(StrEnum):
    """Where an import reads its stories (the Jira import's job reads every source)."""

    jira = "jira"
    github = "github"
    azure_devops = "azure-devops"


class JiraContext(StrEnum):
    """What a Jira import brings besides the issue's text."""

    attachments = "attachments"
    comments = "comments"
    links = "links"  # linked issues (key and summary) and sub-tasks (summaries)


class GitHubIssueState(StrEnum):
    open = "open"
    closed = "closed"
    all = "all"


class GitHubFilter(BaseModel):
    """Which issues of the connection's repository are imported (as GitHub's issue list filters them)."""

    labels: list[str] = Field(default_factory=list, description="Issues with every one of these labels")
    milestone: str | None = Field(
        default=None, description='A milestone number, "*" (any milestone) or "none"; null: any issue'
    )
    state: GitHubIssueState = GitHubIssueState.open


class JiraImportJobOptions(BaseModel):
    """The stories of a project read from Jira, from GitHub issues (`source` github) or from Azure
    DevOps work items (`source` azure-devops): one kind of import job for every source."""

    jql: str = Field(default="", description="The Jira query whose issues become stories")
    source: ImportSource | None = optional_key(description="github or azure-devops; absent: Jira")
    include: list[JiraContext] | None = optional_key(
        description="Jira: what is brought besides the issue's text (the request's `with`)"
    )
    github: GitHubFilter | None = optional_key(description="GitHub: the issues imported")
    wiql: str | None = optional_key(description="Azure DevOps: the WIQL query whose work items are imported")


MAX_PUSH_STORIES = 5000  # stories one push may name


class PushJobOptions(BaseModel):
    """Saved test cases of a project written into the tool of one of its connections."""

    connection_id: int = Field(ge=1, description="The connection (of the job's project) pushed to")
    story_ids: list[str] | None = Field(
        default=None, description="The stories whose test cases are pushed; null: every story of the project"
    )
    delete_removed: bool = Field(
        default=False, description="Delete in the tool the pushed test cases that were deleted in testgen"
    )
    overwrite: bool = Field(
        default=False, description="Replace test cases that were changed in the tool since the last push"
    )


class AutomationFillOptions(LLMChoice):
    """Bodies proposed by the model for a story's playwright-bdd steps, from their text alone."""

    framework: Literal[AutomationFramework.playwright_bdd] = AutomationFramework.playwright_bdd
    base_url: BaseUrl = Field(description="Where the proposals navigate to (an http or https URL)")


class StoryCheckOptions(LLMChoice):
    """The deep check of a story: the model asked for the questions its criteria leave open."""


JobOptions = (
    GenerateJobOptions
    | RegenerateJobOptions
    | JiraImportJobOptions
    | PushJobOptions
    | AutomationFillOptions
    | StoryCheckOptions
)
