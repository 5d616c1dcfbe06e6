"""Saved test cases, and saving a reviewed draft."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field

from testgen.api.schemas.common import CriterionIndex, Omittable, ORMModel, ScenarioIndex
from testgen.domain.job_options import MAX_TEST_CASES
from testgen.domain.stories import Priority
from testgen.domain.test_cases import MAX_PRECONDITIONS, MAX_SCENARIOS, Scenario, TestCaseDraft, TestType
from testgen.domain.text_fields import Description, ShortText, Title


class ReviewedTestCase(TestCaseDraft):
    """A test case as sent back by a reviewer (request body): numbers must be JSON numbers."""

    covered_criteria: list[CriterionIndex] = Field(default_factory=list)


class DraftTestCaseEdit(ReviewedTestCase):
    """A test case of a draft as edited (request body): the whole test case, no other field."""

    model_config = ConfigDict(extra="forbid")


class TestCaseOut(ORMModel):
    __test__ = False  # not a pytest test class

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
    approved_by: int | None = Field(
        default=None, description="The user who approved the draft it was saved from; null: none did"
    )
    approved_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


# The most one save carries: the test cases of a draft, each with as many scenarios as it may hold.
MAX_SAVED_SCENARIOS = MAX_TEST_CASES * MAX_SCENARIOS


class SaveRequest(BaseModel):
    """The reviewed subset of a job's test cases, possibly edited; omitted means all of them."""

    model_config = ConfigDict(extra="forbid")

    test_cases: list[ReviewedTestCase] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEST_CASES,
        description=f"At most {MAX_TEST_CASES}, as many as a draft holds",
    )
    keep: list[tuple[ScenarioIndex, ScenarioIndex]] = Field(
        default_factory=list,
        max_length=MAX_SAVED_SCENARIOS,
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

    title: Omittable[Title] = None
    description: Omittable[Description] = None
    preconditions: Omittable[list[ShortText]] = Field(default=None, max_length=MAX_PRECONDITIONS)
    priority: Omittable[Priority] = None
    test_type: Omittable[TestType] = None
    scenarios: Omittable[list[Scenario]] = Field(default=None, min_length=1, max_length=MAX_SCENARIOS)
    covered_criteria: Omittable[list[CriterionIndex]] = None
