"""The patterns of the JSON schema accept exactly what the server's checks accept: the character
classes are Unicode's, and each checked text type's schema (length limits and pattern) agrees with
its validation on generated strings."""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import StringConstraints, TypeAdapter, ValidationError

from testgen.api.schemas.common import LanguageTag
from testgen.core.languages import MAX_TAG_LENGTH, UnknownLanguageError, normalize_tag, tag_pattern
from testgen.domain.text_fields import (
    NOT_PRINTABLE_RANGES,
    WHITESPACE,
    WHITESPACE_RANGES,
    ModelName,
    SearchText,
    ShortText,
    Title,
    character_class,
)

NOT_PRINTABLE_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}


def code_points(ranges: Any) -> set[int]:
    return {code for low, high in ranges for code in range(low, high + 1)}


def schema_accepts(schema: dict[str, Any], value: str) -> bool:
    """A string schema's verdict as JSON Schema gives it: lengths in code points, and the pattern as
    ECMA-262 reads it (a closing `$` is the end of the string, which Python spells `\\Z`)."""
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", sys.maxsize):
        return False
    pattern = schema.get("pattern")
    return pattern is None or re.search(pattern.removesuffix("$") + r"\Z", value) is not None


def server_accepts(adapter: TypeAdapter[Any], value: str) -> bool:
    try:
        adapter.validate_python(value)
    except ValidationError:
        return False
    return True


def test_not_printable_is_unicodes_control_format_private_and_separator_characters() -> None:
    expected = {
        code
        for code in range(sys.maxunicode + 1)
        if unicodedata.category(chr(code)) in NOT_PRINTABLE_CATEGORIES
        or (unicodedata.category(chr(code)) == "Zs" and code != 0x20)
    }
    assert code_points(NOT_PRINTABLE_RANGES) == expected, (
        f"Unicode {unicodedata.unidata_version}: update NOT_PRINTABLE_RANGES in domain/text_fields.py"
    )


def test_white_space_is_what_pydantic_strips() -> None:
    python_space = {code for code in range(sys.maxunicode + 1) if chr(code).isspace()}
    assert code_points(WHITESPACE_RANGES) == python_space - set(range(0x1C, 0x20))
    pydantic_strip: TypeAdapter[str] = TypeAdapter(Annotated[str, StringConstraints(strip_whitespace=True)])
    stripped = {code for code in python_space if pydantic_strip.validate_python(chr(code) + "a") == "a"}
    assert stripped == set(map(ord, WHITESPACE))


def test_a_character_class_escapes_the_basic_plane_and_writes_the_others_as_themselves() -> None:
    assert character_class([(0x00, 0x1F), (0xAD, 0xAD), (0xD800, 0xDFFF), (0xE0001, 0xE0001)]) == (
        "\\u0000-\\u001f\\u00ad\U000e0001"  # no lone surrogates
    )


# Characters the checks tell apart: white space, controls, bidi and format marks, private use, a code
# point no Unicode version assigns, letters and digits of several planes.
TRICKY = (
    " \t\n\x0b\x0c\r\x1c\x1f\x85\xa0\u1680\u2000\u200b\u2028\u2029\u202e\u3000\ufeff\x00\x1b\x7f\x9b"
    "\u00ad\u0600\ue000\U000e0041\U000f0000\U00030000\U0001d400a0Z-_.é中"
)
TEXTS = st.text(st.sampled_from(TRICKY), max_size=12) | st.text(max_size=12)


@pytest.mark.parametrize(
    ("name", "text_type"),
    [("SearchText", SearchText), ("ModelName", ModelName), ("Title", Title), ("ShortText", ShortText)],
)
def test_each_checked_text_types_schema_agrees_with_its_check(name: str, text_type: Any) -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(text_type)
    schema = adapter.json_schema()
    assert "pattern" in schema, name

    @settings(max_examples=400, derandomize=True, database=None, deadline=None)
    @given(TEXTS | st.builds(lambda a, b: a * 30 + b, TEXTS, TEXTS))
    def agree(value: str) -> None:
        assert schema_accepts(schema, value) == server_accepts(adapter, value), (name, value)

    agree()
    for value in ("ok", " ok ", "", " ", "\x0b", "a\x00", "gpt\u202e", "x" * 199 + "\n", " " + "x" * 200):
        assert schema_accepts(schema, value) == server_accepts(adapter, value), (name, value)


TAG_PARTS = st.sampled_from(["en", "EN", "Es", "pt", "zh", "spa", "tlh", "nb", "no", "xx", "e", "engl", "q"])
SUBTAGS = st.lists(
    st.tuples(
        st.sampled_from(["-", "_", "--", " ", ""]),
        st.sampled_from(["BR", "br", "Hant", "419", "x", "toolong12"]),
    ),
    max_size=3,
)


@settings(max_examples=500, derandomize=True, database=None, deadline=None)
@given(
    st.builds(
        lambda lead, primary, subtags, tail: lead + primary + "".join(s + t for s, t in subtags) + tail,
        st.sampled_from(["", " ", "\t"]),
        TAG_PARTS,
        SUBTAGS,
        st.sampled_from(["", " ", "\n"]),
    )
    | st.text(st.sampled_from("aAeEnNsS-_ 09\n"), max_size=8)
)
def test_the_tag_pattern_matches_exactly_the_tags_normalize_tag_takes(value: str) -> None:
    try:
        normalize_tag(value)
        taken = True
    except UnknownLanguageError:
        taken = False
    assert schema_accepts({"maxLength": MAX_TAG_LENGTH, "pattern": tag_pattern()}, value) == taken, value


def test_every_known_language_in_any_case_matches_the_tag_pattern() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(LanguageTag)
    schema = adapter.json_schema()
    assert schema["pattern"] == tag_pattern()
    for value in ("en", "EN", "eNg", "PT_br", "zh-Hant-TW", "spa-419", "tlh", "nb-NO"):
        assert schema_accepts(schema, value) and server_accepts(adapter, value), value
    for value in ("xx", " en", "en ", "en\n", "e", "engl", "en--US", "en-", "pt-toolong12"):
        assert not schema_accepts(schema, value) and not server_accepts(adapter, value), value
