"""Gherkin text in any of gherkin-official's dialects, made safe.

Gherkin has no escapes outside doc strings, so text is made safe instead: titles and steps become one
line (runs of whitespace, newlines included, collapse to a space), and a free-text line of a
description that the parser would take for something else (a comment, tags, one of the dialect's block
keywords followed by a colon, or a line already starting with a backslash) gets a backslash before its
first visible character. Parsers differ in what they skip at the start of a line (Python's str.lstrip;
JavaScript's whitespace class, which takes U+FEFF too; Java's own list), so every invisible character
counts as skipped: whitespace, controls and format characters.
"""

from __future__ import annotations

import functools
import re
import unicodedata

from testgen.core.languages import DEFAULT_LANGUAGE, GherkinKeywords, gherkin_keywords
from testgen.domain.test_cases import Scenario


def one_line(text: str) -> str:
    return " ".join(text.split())


@functools.cache
def _block_keyword(language: str) -> re.Pattern[str]:
    """A line that opens a block in `language`'s dialect: one of its keywords followed by a colon."""
    words = gherkin_keywords(language).blocks
    return re.compile("(" + "|".join(re.escape(w) for w in words) + "):")


_INVISIBLE = frozenset({"Zs", "Zl", "Zp", "Cc", "Cf"})  # separators, controls, format characters


def _invisible_prefix(line: str) -> int:
    """How many characters at the start of `line` some Gherkin parser may skip as indentation."""
    for i, char in enumerate(line):
        if not char.isspace() and unicodedata.category(char) not in _INVISIBLE:
            return i
    return len(line)


def free_text(text: str, indent: str, language: str = DEFAULT_LANGUAGE) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = raw.rstrip()
        start = _invisible_prefix(line)
        body = line[start:]
        if body.startswith(("#", "@", "\\")) or _block_keyword(language).match(body):
            line = line[:start] + "\\" + body
        lines.append(indent + line if line else "")
    return lines


def steps(words: GherkinKeywords, scenario: Scenario) -> list[str]:
    """A scenario's steps: each group's first with its keyword, the others with the dialect's "And"."""
    lines = []
    for keyword, group in (
        (words.given, scenario.given),
        (words.when, scenario.when),
        (words.then, scenario.then),
    ):
        lines += [f"{keyword if i == 0 else words.and_}{one_line(step)}" for i, step in enumerate(group)]
    return lines


def header(words: GherkinKeywords) -> str:
    return f"# language: {words.language}"
