"""Test design helpers: a pairwise Examples table built from parameters, and a story's check."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from testgen.api.schemas.jobs import QueuedJob
from testgen.domain.story_check import StoryCheck
from testgen.domain.test_cases import MAX_EXAMPLE_COLUMNS, Parameter


class StoryCheckOut(StoryCheck):
    """The offline check's findings, and with `deep=true` the job asking the model for more."""

    deep: QueuedJob | None = Field(
        default=None,
        description="The deep check's job (with deep=true): follow it on its status or event stream; "
        "its result holds the model's questions",
    )


class PairwiseRequest(BaseModel):
    """The parameters a test case varies, each with its values."""

    model_config = ConfigDict(extra="forbid")

    parameters: list[Parameter] = Field(min_length=1, max_length=MAX_EXAMPLE_COLUMNS)

    @model_validator(mode="after")
    def _distinct_names(self) -> PairwiseRequest:
        names = [p.name for p in self.parameters]
        if len(set(names)) != len(names):
            raise ValueError("parameters names a parameter twice")
        return self


class PairwiseOut(BaseModel):
    """An Examples table holding every pair of values, and its size against the full product."""

    header: list[str]
    rows: list[list[str]]
    sizes: list[int] = Field(description="Each parameter's number of values")
    full_product: int = Field(description="Every combination of the values (the product of sizes)")
    summary: str = Field(description='"20 rows cover every pair of 3x4x5 = 60 combinations"')
