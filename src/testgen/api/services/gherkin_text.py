"""Gherkin text in any of gherkin-official's dialects, made safe.

Gherkin has no escapes outside doc strings, so text is made safe instead: titles and steps become one
line (runs of whitespace, newlines included, collapse to a space), and a free-text line of a
description that the parser would take for something else (a comment, tags, one of the dialect's block
keywords followed by a colon, or a line already starting with a backslash) gets a leading backslash.
"""

from __future__ import annotations

import functools
import re

from testgen.core.languages import DEFAULT_LANGUAGE, GherkinKeywords, gherkin_keywords
from testgen.domain.test_cases import Scenario


def one_line(text: str) -> str:
    return " ".join(text.split())


@functools.cache
def _block_keyword(language: str) -> re.Pattern[str]:
    """A line that opens a block in `language`'s dialect: one of its keywords followed by a colon."""
    words = gherkin_keywords(language).blocks
    return re.compile("(" + "|".join(re.escape(w) for w in words) + "):")


def free_text(text: str, indent: str, language: str = DEFAULT_LANGUAGE) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = raw.rstrip()
        body = line.lstrip()
        if body.startswith(("#", "@", "\\")) or _block_keyword(language).match(body):
            line = line[: len(line) - len(body)] + "\\" + body
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
