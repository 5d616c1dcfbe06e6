"""The public state of a job as JSON (`JobSnapshot`): what Redis stores, every event carries, the status
API returns, and the command line reads. Its options, result and error are the JSON forms the domain
models dump to (`model_dump(mode="json")`), declared here key for key so that mypy checks the names a
reader uses; a key declared `NotRequired` is one the model leaves out when it has no value
(`optional_key()`). Enum values are plain strings in JSON.

These are `TypedDict`s: plain dicts at run time, at no cost on the paths that build and publish a
snapshot. tests/unit/test_job_snapshots.py holds each one to its model.

No `from __future__ import annotations` here: on Python 3.11 a string annotation hides `NotRequired`
from the class's `__required_keys__`, which the test and pydantic read.
"""

from typing import NotRequired, TypedDict

# --- options (job_options.py) ----------------------------------------------------------------------


class LLMChoiceJSON(TypedDict):
    llm_provider: NotRequired[str]
    llm_model: NotRequired[str]


class GenerateJobOptionsJSON(LLMChoiceJSON):
    num_test_cases: int
    scenarios_per_test_case: int
    only_changed: bool
    techniques: NotRequired[list[str]]  # each a Technique
    delivery: NotRequired[str]  # a Delivery


class RegenerateJobOptionsJSON(LLMChoiceJSON):
    index: int
    scenarios_per_test_case: int
    extend: NotRequired[int]
    instruction: NotRequired[str]


class GitHubFilterJSON(TypedDict):
    labels: list[str]
    milestone: str | None
    state: str  # a GitHubIssueState


class JiraImportJobOptionsJSON(TypedDict):
    jql: str
    source: NotRequired[str]  # an ImportSource
    include: NotRequired[list[str]]  # each a JiraContext
    github: NotRequired[GitHubFilterJSON]
    wiql: NotRequired[str]


class PushJobOptionsJSON(TypedDict):
    connection_id: int
    story_ids: list[str] | None
    delete_removed: bool
    overwrite: bool


class AutomationFillOptionsJSON(LLMChoiceJSON):
    framework: str  # an AutomationFramework (playwright-bdd)
    base_url: str


class StoryCheckOptionsJSON(LLMChoiceJSON):
    pass


JobOptionsJSON = (
    GenerateJobOptionsJSON
    | RegenerateJobOptionsJSON
    | JiraImportJobOptionsJSON
    | PushJobOptionsJSON
    | AutomationFillOptionsJSON
    | StoryCheckOptionsJSON
)

# --- test cases (test_cases.py) --------------------------------------------------------------------


class ExamplesJSON(TypedDict):
    header: list[str]
    rows: list[list[str]]


class ParameterJSON(TypedDict):
    name: str
    values: list[str]


class ScenarioJSON(TypedDict):
    title: str
    given: list[str]
    when: list[str]
    then: list[str]
    technique: NotRequired[str]  # a Technique
    examples: NotRequired[ExamplesJSON]  # set: a Scenario Outline


class TestCaseDraftJSON(TypedDict):
    title: str
    description: str
    preconditions: list[str]
    priority: str  # a Priority
    test_type: str  # a TestType
    scenarios: list[ScenarioJSON]
    parameters: NotRequired[list[ParameterJSON]]
    covered_criteria: list[int]


# --- results (job_results.py) ----------------------------------------------------------------------


class TokenCountsJSON(TypedDict):
    prompt: int
    output: int
    total: int
    cached: NotRequired[int]


class CallSummaryJSON(TypedDict):
    llm_calls: int
    retries: int
    reasks: int
    tokens: TokenCountsJSON


class RunStatsJSON(CallSummaryJSON):
    duplicates_replaced: int
    dedupe_calls: int
    duplicates_remaining: NotRequired[int]
    duration_s: float


class DraftStatsJSON(RunStatsJSON):
    batches: int
    scenarios: int


class ScenarioRefJSON(TypedDict):
    test_case: int
    scenario: int
    title: str


class CriterionCoverageJSON(TypedDict):
    index: int
    criterion: str
    scenarios: list[ScenarioRefJSON]


class CoverageJSON(TypedDict):
    criteria: list[CriterionCoverageJSON]
    uncovered: list[int]
    covered: int


class CriterionQualityJSON(TypedDict):
    index: int
    criterion: str
    test_cases: list[int]
    scenarios: int
    techniques: NotRequired[dict[str, int]]  # by Technique


class UncoveredCriterionJSON(TypedDict):
    index: int
    criterion: str
    reason: str


class UnclearCriterionJSON(TypedDict):
    index: int
    criterion: str
    questions: list[str]


class StoryFindingJSON(TypedDict):
    criterion: int | None
    kind: str  # a FindingKind
    text: str
    question: str


class StoryCheckJSON(TypedDict):
    findings: list[StoryFindingJSON]
    unclear_criteria: list[int]


class DuplicateCountsJSON(TypedDict):
    replaced: int
    within_draft: int
    against_saved: int


class QualityReportJSON(TypedDict):
    criteria: list[CriterionQualityJSON]
    uncovered: list[UncoveredCriterionJSON]
    unclear: NotRequired[list[UnclearCriterionJSON]]
    duplicates: DuplicateCountsJSON
    scenarios_per_type: dict[str, int]  # by TestType
    scenarios_per_technique: NotRequired[dict[str, int]]  # by Technique
    llm_calls: int
    tokens: int


class ScenarioPositionJSON(TypedDict):
    test_case: int
    scenario: int


class ReportedDuplicateJSON(TypedDict):
    test_case: int
    scenario: int
    message: str
    saved_test_case_id: NotRequired[int]
    saved_title: NotRequired[str]
    of: NotRequired[ScenarioPositionJSON]


class InstructionsUsedJSON(TypedDict):
    sha256: str
    first_line: str


class AttachmentUsedJSON(TypedDict):
    id: int
    file_name: str
    kind: str  # an AttachmentKind
    use: str  # an AttachmentUse
    reason: str | None
    trimmed: bool


class DraftResultJSON(TypedDict):
    test_cases: list[TestCaseDraftJSON]
    coverage: CoverageJSON
    quality: NotRequired[QualityReportJSON]
    duplicates: list[ReportedDuplicateJSON]
    provider: str
    model: str
    language: NotRequired[str]
    language_mismatch: bool
    instructions: InstructionsUsedJSON | None
    only_criteria: NotRequired[list[int]]
    techniques: NotRequired[list[str]]  # each a Technique
    story_check: NotRequired[StoryCheckJSON]
    attachments: NotRequired[list[AttachmentUsedJSON]]
    stats: DraftStatsJSON


class RegenerationResultJSON(TypedDict):
    parent_id: str
    index: int
    test_case: TestCaseDraftJSON
    added: NotRequired[list[TestCaseDraftJSON]]
    provider: str
    model: str
    language: NotRequired[str]
    language_mismatch: bool
    duplicates: list[ReportedDuplicateJSON]
    instructions: InstructionsUsedJSON | None
    attachments: NotRequired[list[AttachmentUsedJSON]]
    stats: RunStatsJSON
    coverage: CoverageJSON


class SkippedIssueJSON(TypedDict):
    key: str
    reason: str


class ImportCountsJSON(TypedDict):
    created: int
    updated: int
    unchanged: int
    skipped: int


class JiraImportResultJSON(TypedDict):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    skipped: list[SkippedIssueJSON]
    counts: ImportCountsJSON
    project_id: int
    jql: str
    source: NotRequired[str]
    query: NotRequired[str]
    pages: int
    issues: int
    duration_s: float


class PushedCaseOutJSON(TypedDict):
    test_case_id: int
    story_id: str
    remote_key: str | None
    url: str | None
    message: str


class PushCountsJSON(TypedDict):
    created: int
    updated: int
    unchanged: int
    conflicts: int
    removed: int
    failed: int
    skipped_unapproved: int
    linked: int
    links_failed: int


class PushResultJSON(TypedDict):
    connection_id: int
    connection: str
    kind: str
    created: list[PushedCaseOutJSON]
    updated: list[PushedCaseOutJSON]
    unchanged: list[PushedCaseOutJSON]
    conflicts: list[PushedCaseOutJSON]
    removed: list[PushedCaseOutJSON]
    failed: list[PushedCaseOutJSON]
    links_failed: list[PushedCaseOutJSON]
    skipped_unapproved: int
    counts: PushCountsJSON
    duration_s: float


class StepProposalJSON(TypedDict):
    expression: str
    step: str
    body: str | None
    error: NotRequired[str]


class AutomationFillResultJSON(TypedDict):
    framework: str
    base_url: str
    provider: str
    model: str
    steps: int
    proposed: int
    failed: int
    proposals: list[StepProposalJSON]
    stats: CallSummaryJSON
    duration_s: float


class StoryCheckResultJSON(TypedDict):
    provider: str
    model: str
    check: StoryCheckJSON
    questions: list[StoryFindingJSON]
    stats: CallSummaryJSON
    duration_s: float


JobResultJSON = (
    DraftResultJSON
    | RegenerationResultJSON
    | JiraImportResultJSON
    | PushResultJSON
    | AutomationFillResultJSON
    | StoryCheckResultJSON
)

# --- error (job_errors.py) -------------------------------------------------------------------------


class JobErrorJSON(TypedDict):
    type: str  # an ErrorType
    message: str


# --- the snapshot ----------------------------------------------------------------------------------


class JobSnapshot(TypedDict):
    """A job's live state (streaming/snapshots.py builds it from the row). Timestamps are ISO 8601
    in UTC with a `Z`; `result` is set only once the job completed, `error` only once it failed."""

    task_id: str
    story_id: str | None
    project_id: int | None
    kind: str  # a JobKind
    status: str  # a JobStatus
    progress: int
    message: str
    warning: NotRequired[str]  # added by the status API while the job waits and no worker runs
    options: JobOptionsJSON
    result: JobResultJSON | None
    error: JobErrorJSON | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    saved_at: str | None
