"""The constrained texts the product's types share: ids, titles, descriptions, criteria and steps,
with their limits (the Jira import clips to the same limits)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

STORY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_STORY_ID = 64
MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_CRITERION = 2_000
MAX_STEP = 2_000

StoryId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STORY_ID, pattern=STORY_ID_PATTERN)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION)]
Criterion = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_CRITERION)]
Step = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_STEP)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_STEP)]
