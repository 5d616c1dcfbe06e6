"""What several areas of the API share: number and language fields, PATCH fields that may be omitted but
not null, and the base of answers read from database rows."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StringConstraints

from testgen.core.languages import MAX_TAG_LENGTH, normalize_tag, tag_pattern
from testgen.domain.stories import MAX_CRITERIA
from testgen.domain.text_fields import PatternCheck

T = TypeVar("T")


def integral(value: Any) -> Any:
    """JSON Schema counts 1.0 as an integer: a float with an integral value is taken as that integer."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# Request bodies take numbers as JSON numbers only: "3", true and 1.5 are refused, not converted (1.0 is 1).
Count = Annotated[int, Strict(), BeforeValidator(integral)]
INT32_MAX = 2**31 - 1  # fits every database's INTEGER
PositiveInt32 = Annotated[int, Strict(), Field(ge=1, le=INT32_MAX), BeforeValidator(integral)]
RowId = PositiveInt32
CriterionIndex = Annotated[int, Strict(), Field(ge=0, lt=MAX_CRITERIA), BeforeValidator(integral)]
ScenarioIndex = Annotated[int, Strict(), Field(ge=0, lt=1000), BeforeValidator(integral)]


# A BCP 47 tag such as "es" or "pt-BR" in any case, normalised; a language neither lingua nor Gherkin knows
# is refused (UnknownLanguageError is a ValueError: a 422 naming the field). The schema's pattern lists
# the languages known.
LanguageTag = Annotated[
    str, StringConstraints(max_length=MAX_TAG_LENGTH), PatternCheck(normalize_tag, tag_pattern())
]
LANGUAGE_HELP = "BCP 47 language tag such as 'es' or 'pt-BR' (any case; '_' for '-'); null: "


def not_null(value: Any) -> Any:
    """For PATCH bodies: a field may be omitted but not null."""
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


def _without_null(schema: dict[str, Any]) -> None:
    """A field's JSON schema without its null branch and its null default (it is not a value)."""
    branches = [branch for branch in schema.get("anyOf", ()) if branch != {"type": "null"}]
    if "anyOf" in schema and len(branches) == 1:
        del schema["anyOf"]
        schema.update(branches[0])
    if "default" in schema and schema["default"] is None:
        del schema["default"]


# A PATCH body's field that may be omitted (it keeps its value) but not null: null is refused, and the
# schema says so (no null branch). A field that takes null (to clear a setting) is declared `T | None`.
Omittable = Annotated[T | None, AfterValidator(not_null), Field(json_schema_extra=_without_null)]


class ORMModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)
