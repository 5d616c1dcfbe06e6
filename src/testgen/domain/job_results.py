"""What each kind of job produces: a draft (generate), one test case written into a draft
(regenerate), the stories read from Jira (import_jira), the test cases written into a tool (push).
The worker builds these and stores them as JSON; the API, the page and the command line read them
back."""

from __future__ import annotations

from pydantic import BaseModel, Field

from testgen.domain.attachments import AttachmentUsed
from testgen.domain.optional_keys import optional_key
from testgen.domain.story_check import StoryCheck, StoryFinding
from testgen.domain.techniques import Technique
from testgen.domain.test_cases import TestCaseDraft, TestType

# --- usage ----------------------------------------------------------------------------------------


class TokenCounts(BaseModel):
    prompt: int
    output: int
    total: int
    # Of the prompt tokens, those the provider served from its prompt cache (absent: none reported).
    cached: int | None = optional_key()


class CallSummary(BaseModel):
    """The model calls and tokens a job spent."""

    llm_calls: int
    retries: int
    reasks: int
    tokens: TokenCounts


class RunStats(CallSummary):
    """A regeneration's figures: its calls, the near-duplicates replaced, and its duration."""

    duplicates_replaced: int = 0
    dedupe_calls: int = 0
    duplicates_remaining: int | None = optional_key()
    duration_s: float = 0.0


class DraftStats(RunStats):
    """A draft's figures: a regeneration's, and its batches and scenarios."""

    batches: int
    scenarios: int


# --- coverage and quality -------------------------------------------------------------------------


class ScenarioRef(BaseModel):
    test_case: int
    scenario: int
    title: str


class CriterionCoverage(BaseModel):
    index: int
    criterion: str
    scenarios: list[ScenarioRef]


class Coverage(BaseModel):
    """Every acceptance criterion with the scenarios that cover it, and the criteria nothing covers."""

    criteria: list[CriterionCoverage]
    uncovered: list[int]
    covered: int


class CriterionQuality(BaseModel):
    index: int
    criterion: str
    test_cases: list[int]
    scenarios: int
    techniques: dict[Technique, int] | None = optional_key(
        description="Its scenarios per test-design technique (when scenarios name one)"
    )


class UncoveredCriterion(BaseModel):
    index: int
    criterion: str
    reason: str = Field(description="Why nothing covers it, and what to do about it")


class UnclearCriterion(BaseModel):
    index: int
    criterion: str
    questions: list[str] = Field(description="What the check before generating asks its author")


class DuplicateCounts(BaseModel):
    replaced: int
    within_draft: int
    against_saved: int


class QualityReport(BaseModel):
    """Coverage per criterion, duplicates, scenarios per test type, and the calls and tokens spent."""

    criteria: list[CriterionQuality]
    uncovered: list[UncoveredCriterion]
    unclear: list[UnclearCriterion] | None = optional_key(
        description="The criteria the check before generating found unclear, with its questions"
    )
    duplicates: DuplicateCounts
    scenarios_per_type: dict[TestType, int]
    scenarios_per_technique: dict[Technique, int] | None = optional_key(
        description="Scenarios per test-design technique (when scenarios name one)"
    )
    llm_calls: int
    tokens: int


class ScenarioPosition(BaseModel):
    test_case: int
    scenario: int


class ReportedDuplicate(BaseModel):
    """A scenario that repeats an earlier one of the draft (`of`) or a saved test case's."""

    test_case: int
    scenario: int
    message: str
    saved_test_case_id: int | None = optional_key()
    saved_title: str | None = optional_key()
    of: ScenarioPosition | None = optional_key()


class InstructionsUsed(BaseModel):
    """The project's instructions a result was written with: their hash and first line."""

    sha256: str
    first_line: str


# --- results ---------------------------------------------------------------------------------------


class DraftResult(BaseModel):
    """A generation job's draft: the test cases a reviewer saves, with what is known about them."""

    test_cases: list[TestCaseDraft]
    coverage: Coverage
    quality: QualityReport | None = optional_key()
    duplicates: list[ReportedDuplicate] = Field(default_factory=list)
    provider: str
    model: str
    language: str | None = optional_key(description="BCP 47: the language the test cases are in")
    language_mismatch: bool = Field(
        default=False,
        description="Some answer stayed in another language after the last re-ask: a reviewer should look",
    )
    instructions: InstructionsUsed | None = None
    only_criteria: list[int] | None = optional_key(
        description="The criteria asked for (only_changed); absent: all of them"
    )
    techniques: list[Technique] | None = optional_key(
        description="The test-design techniques its test cases apply in turn (the job's, else its "
        "project's default); absent: the built-in mix"
    )
    story_check: StoryCheck | None = optional_key(
        description="The check of the story run when the job started (POST /user-stories/{id}/check)"
    )
    attachments: list[AttachmentUsed] | None = optional_key(
        description="The story's attachments and how each was used (sent, named only, trimmed, skipped)"
    )
    stats: DraftStats


class RegenerationResult(BaseModel):
    """A regeneration job's test case, written into its parent's draft at `index`."""

    parent_id: str
    index: int
    test_case: TestCaseDraft
    added: list[TestCaseDraft] | None = optional_key(
        description="extend: every test case added, the first at `index` (`test_case` is that one)"
    )
    provider: str
    model: str
    language: str | None = optional_key()
    language_mismatch: bool = False
    duplicates: list[ReportedDuplicate] = Field(default_factory=list)
    instructions: InstructionsUsed | None = None
    attachments: list[AttachmentUsed] | None = optional_key(
        description="The story's attachments and how each was used (sent, named only, trimmed, skipped)"
    )
    stats: RunStats
    coverage: Coverage = Field(description="The parent draft's coverage with the new test case")


class SkippedIssue(BaseModel):
    key: str
    reason: str


class ImportCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    skipped: int


class JiraImportResult(BaseModel):
    """An import's outcome (from Jira, GitHub or Azure DevOps): the stories created, updated, unchanged
    and skipped (each list holds at most the first 1,000; `counts` are exact)."""

    created: list[str]
    updated: list[str]
    unchanged: list[str]
    skipped: list[SkippedIssue]
    counts: ImportCounts
    project_id: int
    jql: str
    source: str | None = optional_key(description="github or azure-devops; absent: Jira")
    query: str | None = optional_key(description="GitHub: the repository and filter; Azure DevOps: the WIQL")
    pages: int
    issues: int
    duration_s: float


class PushedCaseOut(BaseModel):
    """One test case of a push, where it lives in the tool, and (failed, conflict, removed) why."""

    test_case_id: int
    story_id: str
    remote_key: str | None = Field(default=None, description="The case's id or key in the tool")
    url: str | None = Field(default=None, description="The case in the tool")
    message: str = ""


class PushCounts(BaseModel):
    created: int
    updated: int
    unchanged: int
    conflicts: int
    removed: int
    failed: int
    skipped_unapproved: int
    linked: int = Field(description="Jira remote links created or updated")
    links_failed: int


class PushResult(BaseModel):
    """A push's outcome per test case (each list holds at most the first 1,000; `counts` are exact):
    created (adopted or made again included), updated, unchanged (not sent), conflicts (changed in the
    tool since the last push, left alone), removed (deleted in testgen), failed (refused by the tool);
    Jira links that failed; the test cases left out because they await approval."""

    connection_id: int
    connection: str = Field(description="The connection's name")
    kind: str = Field(description="The connection's kind")
    created: list[PushedCaseOut]
    updated: list[PushedCaseOut]
    unchanged: list[PushedCaseOut]
    conflicts: list[PushedCaseOut]
    removed: list[PushedCaseOut]
    failed: list[PushedCaseOut]
    links_failed: list[PushedCaseOut]
    skipped_unapproved: int = Field(
        description="Test cases not pushed: the review gate is on, none approved them"
    )
    counts: PushCounts
    duration_s: float


class StepProposal(BaseModel):
    """A step definition of the skeleton and the body the model proposed for it (null: none usable,
    the step stays pending; `error` says why)."""

    expression: str = Field(description="The step definition's Cucumber expression")
    step: str = Field(description="The step as the first scenario that uses it writes it, with its keyword")
    body: str | None = Field(description="TypeScript statements, for review before use")
    error: str | None = optional_key()


class AutomationFillResult(BaseModel):
    """Bodies the model proposed for a story's playwright-bdd steps. The skeleton with each proposal in
    place: GET /user-stories/{story_id}/test-cases/automation?task_id=…"""

    framework: str
    base_url: str
    provider: str
    model: str
    steps: int = Field(description="Distinct steps asked about")
    proposed: int = Field(description="Steps with a proposed body")
    failed: int = Field(description="Steps left pending: no usable answer")
    proposals: list[StepProposal]
    stats: CallSummary
    duration_s: float


class StoryCheckResult(BaseModel):
    """A deep check of a story: the offline check's findings, and the further questions the model asked
    (none repeats a question of the offline check)."""

    provider: str
    model: str
    check: StoryCheck = Field(description="The offline check, as POST /user-stories/{id}/check answers it")
    questions: list[StoryFinding] = Field(description="The model's questions, kind model_question")
    stats: CallSummary
    duration_s: float


JobResult = (
    DraftResult | RegenerationResult | JiraImportResult | PushResult | AutomationFillResult | StoryCheckResult
)
