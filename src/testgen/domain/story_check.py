"""What a check of a story before generating finds: each finding names the criterion, what is unclear
in it, and the question its author should answer."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field

MAX_MODEL_QUESTIONS = 10  # asked of the model by a deep check, at most
MAX_QUESTION_CHARS = 300  # a question (and the words it is about) from the model, at most


class FindingKind(StrEnum):
    no_criteria = "no_criteria"  # the story has no acceptance criteria
    no_outcome = "no_outcome"  # a criterion says nothing a tester can observe
    vague_word = "vague_word"  # "fast", "user-friendly", "etc.", "as appropriate", "some", ...
    number_without_unit = "number_without_unit"  # "within 3": 3 what?
    and_or = "and_or"  # "and/or", or both "and" and "or": both or either?
    duplicate = "duplicate"  # a criterion repeats an earlier one
    model_question = "model_question"  # asked by the model in a deep check


class StoryFinding(BaseModel):
    criterion: int | None = Field(description="The criterion's index from 0; null: the story as a whole")
    kind: FindingKind
    text: str = Field(description="What was found: the vague word, the number, the repeated criterion")
    question: str = Field(description="What to ask the story's author, in the story's language")


class StoryCheck(BaseModel):
    """The findings of a check, and the criteria they make unclear."""

    findings: list[StoryFinding]
    unclear_criteria: list[int] = Field(description="Indexes of the criteria with a finding")
