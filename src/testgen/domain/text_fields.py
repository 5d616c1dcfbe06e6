"""The constrained texts the product's types share: ids, titles, descriptions, criteria and steps,
with their limits (the Jira import clips to the same limits).

A check that a plain length limit cannot say (no control characters, printable only) is written once as
a character class and serves twice: the server's check (with its own message) and the `pattern` of the
JSON schema, so that the OpenAPI document refuses exactly what the server refuses. The patterns are
ECMA-262 (as JSON Schema reads them) and Python `re` alike: `\\uXXXX` escapes, and characters past U+FFFF
written as themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

STORY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
MAX_STORY_ID = 64
MAX_TITLE = 200
MAX_DESCRIPTION = 20_000
MAX_CRITERION = 2_000
MAX_STEP = 2_000
MAX_SEARCH = 200
MAX_MODEL_NAME = 200
# Code point ranges of the C0 and C1 control characters (NUL, ESC, tab, line breaks, DEL, CSI, ...).
CONTROL_RANGES = ((0x00, 0x1F), (0x7F, 0x9F))
# Code point ranges that a printable text never holds: Unicode's categories Cc (control), Cf (format:
# bidi marks, zero-width characters, tag characters), Cs (surrogates), Co (private use), Zl and Zp
# (line and paragraph separators) and Zs (spaces) but the plain space, as of Unicode 14.0 (Python
# 3.11's database; tests/unit/test_text_patterns.py compares them with the running Python's). Unlike
# `str.isprintable`, a code point no Unicode version has assigned yet is let through: it controls
# nothing, and a list of them would fill the schema with some 700 ranges.
NOT_PRINTABLE_RANGES = (
    (0x0000, 0x001F), (0x007F, 0x00A0), (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C),
    (0x06DD, 0x06DD), (0x070F, 0x070F), (0x0890, 0x0891), (0x08E2, 0x08E2), (0x1680, 0x1680),
    (0x180E, 0x180E), (0x2000, 0x200F), (0x2028, 0x202F), (0x205F, 0x2064), (0x2066, 0x206F),
    (0x3000, 0x3000), (0xD800, 0xF8FF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
)  # fmt: skip


def character_class(ranges: Iterable[tuple[int, int]]) -> str:
    """The inside of a regex character class holding `ranges`, read alike by ECMA-262 (JSON Schema),
    Python's `re` and HTML's `pattern`: `\\uXXXX` escapes up to U+FFFF, the character itself above."""

    def one(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    return "".join(one(low) if low == high else f"{one(low)}-{one(high)}" for low, high in ranges)


CONTROL_CLASS = character_class(CONTROL_RANGES)
NOT_PRINTABLE_CLASS = character_class(NOT_PRINTABLE_RANGES)
CONTROL_CHARACTER = re.compile(f"[{CONTROL_CLASS}]")
NOT_PRINTABLE = re.compile(f"[{NOT_PRINTABLE_CLASS}]")
NO_CONTROL_PATTERN = f"^[^{CONTROL_CLASS}]*$"
# Printable, and something besides spaces (which are stripped).
PRINTABLE_NAME_PATTERN = f"^(?: *[^{NOT_PRINTABLE_CLASS} ])+ *$"


@dataclass(frozen=True)
class DocumentedPattern:
    """Puts `pattern` in a string's JSON schema without checking it: a validator beside it checks the
    same with a message that says what is wrong, where pydantic's own would quote the pattern."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


def no_control_characters(value: str) -> str:
    """A search never holds a control character: NUL ends a LIKE pattern early on SQLite (`%` alone,
    which matches every row) and is refused by PostgreSQL."""
    if CONTROL_CHARACTER.search(value):
        raise ValueError("must not contain control characters (such as NUL, ESC, a tab or a line break)")
    return value


def printable_only(value: Any) -> Any:
    """A name passed on to another server (a model's) is printable: no control characters, no bidi
    or other invisible format characters, no line separators. Checked before spaces are stripped, so
    that a tab or a line break around the name is refused, not stripped away."""
    if isinstance(value, str) and NOT_PRINTABLE.search(value):
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
SearchText = Annotated[
    str,
    StringConstraints(max_length=MAX_SEARCH),
    AfterValidator(no_control_characters),
    DocumentedPattern(NO_CONTROL_PATTERN),
]
ModelName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MODEL_NAME),
    BeforeValidator(printable_only),
    DocumentedPattern(PRINTABLE_NAME_PATTERN),
]
