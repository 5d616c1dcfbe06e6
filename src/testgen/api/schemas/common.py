"""What several areas of the API share: number and language fields, and the base of answers read
from database rows."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints

from testgen.core.languages import MAX_TAG_LENGTH, normalize_tag
from testgen.domain.stories import MAX_CRITERIA

# Request bodies take numbers as JSON numbers only: "3", true and 3.0 are refused, not converted.
Count = Annotated[int, Strict()]
RowId = Annotated[int, Strict(), Field(ge=1, le=2**31 - 1)]  # fits every database's INTEGER
CriterionIndex = Annotated[int, Strict(), Field(ge=0, lt=MAX_CRITERIA)]
ScenarioIndex = Annotated[int, Strict(), Field(ge=0, lt=1000)]


def _language_tag(value: str) -> str:
    return normalize_tag(value)  # UnknownLanguageError is a ValueError: a 422 naming the field


# A BCP 47 tag such as "es" or "pt-BR", normalised; a language neither lingua nor Gherkin knows is refused.
LanguageTag = Annotated[str, StringConstraints(max_length=MAX_TAG_LENGTH), AfterValidator(_language_tag)]
LANGUAGE_HELP = "BCP 47 language tag such as 'es' or 'pt-BR'; null: "


def not_null(value: Any) -> Any:
    """For PATCH bodies: a field may be omitted but not null."""
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
