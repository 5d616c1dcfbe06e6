"""The constrained texts the product's types share: ids, titles, descriptions, criteria and steps,
with their limits (the Jira import clips to the same limits)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

STORY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_STORY_ID = 64
MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_CRITERION = 2_000
MAX_STEP = 2_000
MAX_SEARCH = 200
MAX_MODEL_NAME = 200
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def no_control_characters(value: str) -> str:
    """A search never holds a control character: NUL ends a LIKE pattern early on SQLite (`%` alone,
    which matches every row) and is refused by PostgreSQL."""
    if CONTROL_CHARACTER.search(value):
        raise ValueError("must not contain control characters (such as NUL, ESC, a tab or a line break)")
    return value


def printable_only(value: str) -> str:
    """A name passed on to another server (a model's) is printable: no control characters, no bidi
    or other invisible format characters, no line separators."""
    if not value.isprintable():
        raise ValueError(
            "must hold printable characters only (no control characters such as NUL or ESC, "
            "no invisible or bidi marks)"
        )
    return value


StoryId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STORY_ID, pattern=STORY_ID_PATTERN)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION)]
Criterion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CRITERION)]
Step = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_STEP)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_STEP)]
SearchText = Annotated[str, StringConstraints(max_length=MAX_SEARCH), AfterValidator(no_control_characters)]
ModelName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MODEL_NAME),
    AfterValidator(printable_only),
]
