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
from testgen.domain.test_cases import PLACEHOLDER, Scenario


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


def scenario_keyword(words: GherkinKeywords, scenario: Scenario) -> str:
    """The dialect's "Scenario Outline" for a scenario with examples, else its "Scenario"."""
    return words.scenario_outline if scenario.examples is not None else words.scenario


def table_cell(text: str) -> str:
    """A cell of a Gherkin table: one line, with its bars and backslashes escaped."""
    return one_line(text).replace("\\", "\\\\").replace("|", "\\|")


def examples_block(words: GherkinKeywords, scenario: Scenario, indent: str) -> list[str]:
    """An outline's Examples table (the keyword at `indent`, the rows two spaces further); [] for a
    plain scenario."""
    if scenario.examples is None:
        return []
    rows = [scenario.examples.header, *scenario.examples.rows]
    cells = [[table_cell(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = ["", f"{indent}{words.examples}:"]
    for row in cells:
        padded = (c.ljust(w) for c, w in zip(row, widths, strict=True))
        lines.append(f"{indent}  | " + " | ".join(padded) + " |")
    return lines


def fill(scenario: Scenario, values: dict[str, str]) -> Scenario:
    """An outline's scenario for one row of its Examples: every <column> replaced by the row's value
    (a plain scenario without examples)."""

    def sub(text: str) -> str:
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1).strip(), m.group(0)), text)

    return Scenario.model_construct(
        title=sub(scenario.title),
        given=[sub(s) for s in scenario.given],
        when=[sub(s) for s in scenario.when],
        then=[sub(s) for s in scenario.then],
        technique=scenario.technique,
        examples=None,
    )


def example_runs(scenario: Scenario) -> list[tuple[str, Scenario, str]]:
    """What a tool without outlines runs of a scenario: (label, scenario, data) per row of an
    outline's Examples ("example 2 of 3", the row filled in, "length = 12, outcome = accepted"), or
    the plain scenario once with no label or data."""
    if scenario.examples is None:
        return [("", scenario, "")]
    header, rows = scenario.examples.header, scenario.examples.rows
    return [
        (
            f"example {n} of {len(rows)}",
            fill(scenario, dict(zip(header, row, strict=True))),
            ", ".join(f"{k} = {one_line(v)}" for k, v in zip(header, row, strict=True)),
        )
        for n, row in enumerate(rows, start=1)
    ]


def header(words: GherkinKeywords) -> str:
    return f"# language: {words.language}"
