"""The constrained texts the product's types share: ids, titles, descriptions, criteria and steps,
with their limits (the Jira import clips to the same limits).

A check that a plain length limit cannot say (not blank, no control characters, printable only) is
written once as a character class and serves twice: the server's check (with its own message) and the
`pattern` of the JSON schema, so that the OpenAPI document refuses exactly what the server refuses. The
patterns are ECMA-262 (as JSON Schema reads them), Python `re` and Rust `regex` alike: `\\uXXXX` escapes,
characters past U+FFFF written as themselves, and no lone surrogate (which Rust refuses in a pattern).

A text's length limit counts what was sent; the text kept has the white space around it stripped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

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
# Unicode's White_Space: what is stripped around a text (Python's str.strip() also strips U+001C-U+001F).
WHITESPACE_RANGES = (
    (0x09, 0x0D), (0x20, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)  # fmt: skip
SURROGATES = (0xD800, 0xDFFF)
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
    (0x3000, 0x3000), SURROGATES, (0xE000, 0xF8FF), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x13438), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001),
    (0xE0020, 0xE007F), (0xF0000, 0xFFFFD), (0x100000, 0x10FFFD),
)  # fmt: skip


def character_class(ranges: Iterable[tuple[int, int]]) -> str:
    """The inside of a regex character class holding `ranges`, read alike by ECMA-262 (JSON Schema),
    Python's `re`, Rust's `regex` and HTML's `pattern`: `\\uXXXX` escapes up to U+FFFF, the character
    itself above. Lone surrogates are left out: no pattern engine but ECMA-262's and Python's takes
    them (a JSON string can carry one as an escape; the server's checks refuse it)."""

    def one(code: int) -> str:
        return f"\\u{code:04x}" if code <= 0xFFFF else chr(code)

    return "".join(
        one(low) if low == high else f"{one(low)}-{one(high)}"
        for low, high in ranges
        if (low, high) != SURROGATES
    )


def _characters(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(chr(code) for low, high in ranges for code in range(low, high + 1))


WHITESPACE = _characters(WHITESPACE_RANGES)
WHITESPACE_CLASS = character_class(WHITESPACE_RANGES)
CONTROL_CLASS = character_class(CONTROL_RANGES)
NOT_PRINTABLE_CLASS = character_class(NOT_PRINTABLE_RANGES)
CONTROL_CHARACTER = re.compile(f"[{CONTROL_CLASS}]")
NOT_PRINTABLE = re.compile(f"[{NOT_PRINTABLE_CLASS}]|[\\ud800-\\udfff]")
# No text holds NUL (U+0000): PostgreSQL stores none.
NO_NUL_PATTERN = "^[^\\u0000]*$"
NOT_BLANK_PATTERN = f"^[{WHITESPACE_CLASS}]*[^{WHITESPACE_CLASS}\\u0000][^\\u0000]*$"
NO_CONTROL_PATTERN = f"^[^{CONTROL_CLASS}]*$"
# Printable, and something besides spaces (which are stripped).
PRINTABLE_NAME_PATTERN = f"^(?: *[^{NOT_PRINTABLE_CLASS} ])+ *$"


@dataclass(frozen=True)
class PatternCheck:
    """A string's check that a plain length limit cannot say: `check` runs after the type's own checks
    (it may return the text changed, e.g. stripped) with a message that says what is wrong, and the JSON
    schema carries `pattern`, which accepts exactly what `check` accepts (pydantic's own pattern check
    would quote the whole pattern to the client)."""

    check: Callable[[str], str]
    pattern: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


def stripped(value: str) -> str:
    """A text without the white space around it."""
    return value.strip(WHITESPACE)


def no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000), which the database cannot store")
    return value


def not_blank(value: str) -> str:
    """A text without the white space around it, which must leave something (and no NUL)."""
    text = no_nul(value).strip(WHITESPACE)
    if not text:
        raise ValueError("must not be blank (white space only)")
    return text


def no_control_characters(value: str) -> str:
    """A search never holds a control character: NUL ends a LIKE pattern early on SQLite (`%` alone,
    which matches every row) and is refused by PostgreSQL."""
    if CONTROL_CHARACTER.search(value):
        raise ValueError("must not contain control characters (such as NUL, ESC, a tab or a line break)")
    return value


def printable_name(value: str) -> str:
    """A name passed on to another server (a model's) is printable: no control characters, no bidi
    or other invisible format characters, no line separators; then spaces around it are stripped."""
    if NOT_PRINTABLE.search(value):
        raise ValueError(
            "must hold printable characters only (no control characters such as NUL or ESC, "
            "no invisible or bidi marks)"
        )
    return not_blank(value)


NOT_BLANK = PatternCheck(not_blank, NOT_BLANK_PATTERN)
NO_NUL = PatternCheck(no_nul, NO_NUL_PATTERN)

StoryId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STORY_ID, pattern=STORY_ID_PATTERN)]
Title = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TITLE), NOT_BLANK]
Description = Annotated[str, StringConstraints(max_length=MAX_DESCRIPTION), NO_NUL]
Criterion = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CRITERION), NOT_BLANK]
Step = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STEP), NOT_BLANK]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_STEP), NOT_BLANK]
SearchText = Annotated[
    str, StringConstraints(max_length=MAX_SEARCH), PatternCheck(no_control_characters, NO_CONTROL_PATTERN)
]
ModelName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_MODEL_NAME),
    PatternCheck(printable_name, PRINTABLE_NAME_PATTERN),
]
