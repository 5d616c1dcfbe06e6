"""Saved test cases of a story as a file: Gherkin (.feature), CSV or JSON.

Gherkin has no escapes outside doc strings, so text is made safe instead: titles and steps become one
line (runs of whitespace, newlines included, collapse to a space), and a free-text line of the
feature description that the parser would take for something else (a comment, tags, a keyword such
as `Scenario:`, or a line already starting with a backslash) gets a leading backslash.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.data import repository
from testgen.data.models import UserStory
from testgen.data.schemas import ExportFormat, StoryOut, TestCaseOut

CSV_COLUMNS = (
    "test_case_id",
    "title",
    "test_type",
    "priority",
    "scenario",
    "given",
    "when",
    "then",
    "covered_criteria",
)

# Keywords that open a block when a line starts with them followed by a colon (English dialect).
_BLOCK_KEYWORD = re.compile(
    r"(Feature|Business Need|Ability|Background|Scenario Outline|Scenario Template|Scenario"
    r"|Examples|Example|Scenarios|Rule):"
)
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Export:
    content: str
    media_type: str
    filename: str


def one_line(text: str) -> str:
    return " ".join(text.split())


def criterion_label(index: int) -> str:
    return f"AC{index + 1}"


def _free_text(text: str, indent: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = raw.rstrip()
        body = line.lstrip()
        if body.startswith(("#", "@", "\\")) or _BLOCK_KEYWORD.match(body):
            line = line[: len(line) - len(body)] + "\\" + body
        lines.append(indent + line if line else "")
    return lines


def _steps(keyword: str, steps: Sequence[str]) -> list[str]:
    return [f"    {keyword if i == 0 else 'And'} {one_line(step)}" for i, step in enumerate(steps)]


def to_gherkin(story: StoryOut, cases: Sequence[TestCaseOut]) -> str:
    lines = [f"@story-{story.id}", f"Feature: {one_line(story.title)}"]
    description = _free_text(story.description.strip("\r\n"), "  ") if story.description.strip() else []
    if description:
        lines += description
    if story.acceptance_criteria:
        if description:
            lines.append("")
        lines.append("  Acceptance criteria:")
        lines += [
            f"    {criterion_label(i)}. {one_line(text)}" for i, text in enumerate(story.acceptance_criteria)
        ]
    for case in cases:
        lines += ["", f"  # TC-{case.id}: {one_line(case.title)}"]
        if case.preconditions:
            lines.append(f"  # Preconditions: {'; '.join(one_line(p) for p in case.preconditions)}")
        tags = [f"@{case.test_type.value}", f"@priority-{case.priority.value}", f"@TC-{case.id}"]
        tags += [f"@{criterion_label(i)}" for i in case.covered_criteria]
        for n, scenario in enumerate(case.scenarios):
            if n:
                lines.append("")
            lines.append("  " + " ".join(tags))
            lines.append(f"  Scenario: {one_line(scenario.title)}")
            lines += _steps("Given", scenario.given)
            lines += _steps("When", scenario.when)
            lines += _steps("Then", scenario.then)
    return "\n".join(lines) + "\n"


# A cell starting with one of these is read as a formula by spreadsheets (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading single quote (shown as text)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeCsvWriter:
    """`csv.writer` whose every text cell is neutralised: the one way this service writes CSV."""

    def __init__(self, out: io.StringIO) -> None:
        self._writer = csv.writer(out)

    def writerow(self, row: Sequence[object]) -> None:
        self._writer.writerow([csv_cell(value) for value in row])


def to_csv(cases: Sequence[TestCaseOut]) -> str:
    """One row per scenario; multi-line cells (steps, criteria) are joined by newlines."""
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(CSV_COLUMNS)
    for case in cases:
        criteria = "\n".join(criterion_label(i) for i in case.covered_criteria)
        for scenario in case.scenarios:
            writer.writerow(
                [
                    case.id,
                    case.title,
                    case.test_type.value,
                    case.priority.value,
                    scenario.title,
                    "\n".join(scenario.given),
                    "\n".join(scenario.when),
                    "\n".join(scenario.then),
                    criteria,
                ]
            )
    return out.getvalue()


def to_json(story: StoryOut, cases: Sequence[TestCaseOut]) -> str:
    document = {
        "story": story.model_dump(mode="json"),
        "test_cases": [case.model_dump(mode="json") for case in cases],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


async def export_story(session: AsyncSession, story: UserStory, fmt: ExportFormat) -> Export:
    rows = await repository.list_test_cases(session, story.id)
    await session.commit()  # end the read before rendering: on SQLite it holds the write lock
    out = StoryOut.model_validate(story)
    cases = [TestCaseOut.model_validate(row) for row in rows]
    stem = _UNSAFE_FILENAME.sub("_", story.id) + "-test-cases"
    if fmt is ExportFormat.gherkin:
        return Export(to_gherkin(out, cases), "text/x-gherkin; charset=utf-8", f"{stem}.feature")
    if fmt is ExportFormat.csv:
        return Export(to_csv(cases), "text/csv; charset=utf-8", f"{stem}.csv")
    return Export(to_json(out, cases), "application/json", f"{stem}.json")
