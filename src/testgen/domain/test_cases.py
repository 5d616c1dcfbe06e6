"""A test case as the model writes it and a reviewer edits it: scenarios in Given/When/Then."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, StringConstraints, field_validator, model_validator

from testgen.domain.optional_keys import optional_key
from testgen.domain.stories import MAX_CRITERIA, Priority
from testgen.domain.techniques import Technique
from testgen.domain.text_fields import NO_NUL, Description, ShortText, Step, Title, stripped

MAX_STEPS = 20  # Given, When or Then steps per scenario
MAX_SCENARIOS = 50  # scenarios a test case may hold (a reviewer may add to what the model wrote)
MAX_PRECONDITIONS = 50
MAX_EXAMPLE_COLUMNS = 10  # parameters of a Scenario Outline
MAX_EXAMPLE_ROWS = 200  # rows of its Examples table
MAX_CELL = 200
MAX_COLUMN_NAME = 60

# A placeholder in an outline's steps: <name>, as Gherkin writes it (no angle brackets or bars inside).
PLACEHOLDER = re.compile(r"<([^<>|\r\n]+)>")
ColumnName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_COLUMN_NAME, pattern=r"^[^<>|\r\n\t\\]+$"),
    NO_NUL,
    AfterValidator(stripped),
]
Cell = Annotated[str, StringConstraints(max_length=MAX_CELL, pattern=r"^[^\r\n]*$"), NO_NUL]


class Examples(BaseModel):
    """The table of a Scenario Outline: a column per parameter, a row per run."""

    # Both empty (or absent) is no table: the scenario is a plain one (see Scenario._empty_table_is_none).
    header: list[ColumnName] = Field(default_factory=list, max_length=MAX_EXAMPLE_COLUMNS)
    rows: list[list[Cell]] = Field(default_factory=list, max_length=MAX_EXAMPLE_ROWS)

    @model_validator(mode="after")
    def _rectangular(self) -> Examples:
        if not self.header or not self.rows:
            raise ValueError("examples: a table needs a header and at least one row (or leave it out)")
        if len(set(self.header)) != len(self.header):
            raise ValueError("examples: the header names a column twice")
        for number, row in enumerate(self.rows, start=1):
            if len(row) != len(self.header):
                raise ValueError(
                    f"examples row {number} has {len(row)} cells, the header has {len(self.header)}"
                )
        return self


class TestType(StrEnum):
    __test__ = False  # not a pytest test class (nor an enum member)

    functional = "functional"
    negative = "negative"
    boundary = "boundary"
    security = "security"
    usability = "usability"
    performance = "performance"


MAX_PARAMETER_VALUES = 10  # with 10 parameters: 172 pairwise rows (of MAX_EXAMPLE_ROWS), 0.5 s
ParameterValue = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CELL, pattern=r"^[^\r\n]*$"), NO_NUL
]


class Parameter(BaseModel):
    """An input a test case varies, with the values it takes (pairwise combines them)."""

    name: ColumnName
    values: list[ParameterValue] = Field(
        min_length=1, max_length=MAX_PARAMETER_VALUES, json_schema_extra={"uniqueItems": True}
    )

    @model_validator(mode="after")
    def _distinct(self) -> Parameter:
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"parameter {self.name!r} names a value twice")
        return self


class Scenario(BaseModel):
    title: ShortText
    given: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    when: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    then: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    technique: Technique | None = optional_key(description="The test-design technique it applies")
    examples: Examples | None = optional_key(
        description="Set: a Scenario Outline, run once per row, its steps naming the columns as <column>"
    )

    @field_validator("examples", mode="before")
    @classmethod
    def _empty_table_is_none(cls, value: object) -> object:
        """An empty table (no column, or no row and no column) is no table: a plain scenario."""
        if isinstance(value, dict) and all(value.get(key, []) == [] for key in ("header", "rows")):
            return None
        return value

    @model_validator(mode="after")
    def _placeholders_match_columns(self) -> Scenario:
        if self.examples is None:
            return self
        steps = [*self.given, *self.when, *self.then]
        named = {name.strip() for step in steps for name in PLACEHOLDER.findall(step)}
        columns = set(self.examples.header)
        unknown = sorted(named - columns)
        if unknown:
            raise ValueError(f"the steps name <{unknown[0]}>, which is no column of the examples")
        used = named | {name.strip() for name in PLACEHOLDER.findall(self.title)}
        unused = [c for c in self.examples.header if c not in used]
        if unused:
            raise ValueError(f"examples column {unused[0]!r} is named by no step (as <{unused[0]}>)")
        return self

    @property
    def is_outline(self) -> bool:
        return self.examples is not None


class TestCaseDraft(BaseModel):
    """A test case as generated, or as a reviewer edited it before saving."""

    __test__ = False  # not a pytest test class

    title: Title
    description: Description = ""
    preconditions: list[ShortText] = Field(default_factory=list, max_length=MAX_PRECONDITIONS)
    priority: Priority = Priority.medium
    test_type: TestType = TestType.functional
    scenarios: list[Scenario] = Field(min_length=1, max_length=MAX_SCENARIOS)
    parameters: list[Parameter] | None = optional_key(
        max_length=MAX_EXAMPLE_COLUMNS,
        description="The inputs it varies and their values; a pairwise outline's Examples combine them",
    )
    # Lax here: the model's output is parsed with this schema too (a reviewer's edit is strict in the API).
    covered_criteria: list[Annotated[int, Field(ge=0, lt=MAX_CRITERIA)]] = Field(default_factory=list)
