"""A test case as the model writes it and a reviewer edits it: scenarios in Given/When/Then."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field

from testgen.domain.optional_keys import optional_key
from testgen.domain.stories import MAX_CRITERIA, Priority
from testgen.domain.techniques import Technique
from testgen.domain.text_fields import Description, ShortText, Step, Title

MAX_STEPS = 20  # Given, When or Then steps per scenario
MAX_SCENARIOS = 50  # scenarios a test case may hold (a reviewer may add to what the model wrote)
MAX_PRECONDITIONS = 50


class TestType(StrEnum):
    __test__ = False  # not a pytest test class (nor an enum member)

    functional = "functional"
    negative = "negative"
    boundary = "boundary"
    security = "security"
    usability = "usability"
    performance = "performance"


class Scenario(BaseModel):
    title: ShortText
    given: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    when: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    then: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    technique: Technique | None = optional_key(description="The test-design technique it applies")


class TestCaseDraft(BaseModel):
    """A test case as generated, or as a reviewer edited it before saving."""

    __test__ = False  # not a pytest test class

    title: Title
    description: Description = ""
    preconditions: list[ShortText] = Field(default_factory=list, max_length=MAX_PRECONDITIONS)
    priority: Priority = Priority.medium
    test_type: TestType = TestType.functional
    scenarios: list[Scenario] = Field(min_length=1, max_length=MAX_SCENARIOS)
    # Lax here: the model's output is parsed with this schema too (a reviewer's edit is strict in the API).
    covered_criteria: list[Annotated[int, Field(ge=0, lt=MAX_CRITERIA)]] = Field(default_factory=list)
