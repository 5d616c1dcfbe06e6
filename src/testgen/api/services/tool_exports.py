"""Saved test cases in the shapes test-management tools import: TestRail's CSV, Xray's bulk test JSON,
and Gherkin tagged for them (the story key on the Feature, each test case a Rule).

- TestRail (CSV import wizard, "Test Case (Steps)" template): one row per step, the case's own fields
  on its first row; Section = the story, References = the story id. Each scenario is one step: its
  title, Given and When lines are the step, its Then lines the expected result.
- Xray (bulk test import): one test per test case, "Cucumber" with `gherkin_def` (the steps of each
  scenario, each preceded by a comment naming it) or "Manual" with `steps` (one per scenario); the
  story key is the requirement the test covers (an issue link of type "Test").
- CSV cells that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage
  return) get a leading single quote (OWASP's advice against formula injection).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import TestCaseOut
from testgen.api.services.csv_cells import SafeCsvWriter
from testgen.core.languages import DEFAULT_LANGUAGE, gherkin_keywords
from testgen.domain.exports import XrayTestType
from testgen.domain.gherkin_text import (
    example_runs,
    examples_block,
    free_text,
    header,
    one_line,
    scenario_keyword,
    steps,
)
from testgen.domain.test_cases import Scenario, TestType

TESTRAIL_COLUMNS = (
    "Title",
    "Section",
    "Template",
    "Type",
    "Priority",
    "Preconditions",
    "Steps (Step)",
    "Steps (Expected Result)",
    "References",
)
TESTRAIL_TEMPLATE = "Test Case (Steps)"
# Our test types as TestRail's default case types.
TESTRAIL_TYPES = {
    TestType.functional: "Functional",
    TestType.negative: "Destructive",
    TestType.boundary: "Functional",
    TestType.security: "Security",
    TestType.usability: "Usability",
    TestType.performance: "Performance",
}


def _lines(keyword: str, steps: Sequence[str]) -> list[str]:
    return [f"{keyword if i == 0 else 'And'} {one_line(step)}" for i, step in enumerate(steps)]


def scenario_action(scenario: Scenario) -> str:
    return "\n".join(
        [one_line(scenario.title), *_lines("Given", scenario.given), *_lines("When", scenario.when)]
    )


def scenario_result(scenario: Scenario) -> str:
    return "\n".join(_lines("Then", scenario.then))


def section(story: StoryOut) -> str:
    return f"{story.id} {one_line(story.title)}"


def testrail_rows(story: StoryOut, cases: Sequence[TestCaseOut]) -> list[list[str]]:
    rows = []
    for case in cases:
        steps = [step for scenario in case.scenarios for step in manual_steps(scenario)]
        for n, (action, data, result) in enumerate(steps):
            first = n == 0
            rows.append(
                [
                    one_line(case.title) if first else "",
                    section(story) if first else "",
                    TESTRAIL_TEMPLATE if first else "",
                    TESTRAIL_TYPES[case.test_type] if first else "",
                    case.priority.value.capitalize() if first else "",
                    "\n".join(case.preconditions) if first else "",
                    f"{action}\n{data}" if data else action,
                    result,
                    story.id if first else "",
                ]
            )
    return rows


def to_testrail_csv(stories: Sequence[tuple[StoryOut, Sequence[TestCaseOut]]]) -> str:
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(TESTRAIL_COLUMNS)
    for story, cases in stories:
        for row in testrail_rows(story, cases):
            writer.writerow(row)
    return out.getvalue()


def gherkin_steps(scenario: Scenario) -> list[str]:
    return [*_lines("Given", scenario.given), *_lines("When", scenario.when), *_lines("Then", scenario.then)]


def xray_gherkin_def(case: TestCaseOut) -> str:
    """The steps of each scenario (an outline's followed by its Examples table, which Xray's
    "Scenario Outline" Cucumber type runs)."""
    lines: list[str] = []
    english = gherkin_keywords(DEFAULT_LANGUAGE)
    for scenario in case.scenarios:
        if len(case.scenarios) > 1:
            lines.append(f"# {one_line(scenario.title)}")
        lines += gherkin_steps(scenario)
        lines += [line for line in examples_block(english, scenario, "") if line]
    return "\n".join(lines)


def manual_steps(scenario: Scenario) -> list[tuple[str, str, str]]:
    """A scenario as a manual tool's steps (action, data, expected result): one step for a plain
    scenario; for an outline, one step per row of its Examples, the placeholders filled in, the row
    in the data."""
    return [
        (scenario_action(filled) + (f"\n({label})" if label else ""), data, scenario_result(filled))
        for label, filled, data in example_runs(scenario)
    ]


def _description(story: StoryOut, case: TestCaseOut) -> str:
    parts = [case.description.strip()] if case.description.strip() else []
    if case.preconditions:
        parts.append("Preconditions:\n" + "\n".join(f"- {one_line(p)}" for p in case.preconditions))
    if story.jira_url:
        parts.append(f"Story: {story.jira_url}")
    return "\n\n".join(parts)


def xray_test(story: StoryOut, case: TestCaseOut, project_key: str, kind: XrayTestType) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "summary": one_line(case.title),
        "project": {"key": project_key},
        "description": _description(story, case),
        "labels": [case.test_type.value, f"priority-{case.priority.value}"],
    }
    test: dict[str, Any] = {
        "testtype": kind.value,
        "fields": fields,
        "update": {"issuelinks": [{"add": {"type": {"name": "Test"}, "outwardIssue": {"key": story.id}}}]},
        "xray_test_repository_folder": f"/{story.id}",
    }
    if kind is XrayTestType.cucumber:
        test["gherkin_def"] = xray_gherkin_def(case)
    else:
        test["steps"] = [
            {"action": action, "data": data, "result": result}
            for s in case.scenarios
            for action, data, result in manual_steps(s)
        ]
    return test


def to_xray_tests(
    stories: Sequence[tuple[StoryOut, Sequence[TestCaseOut]]], project_key: str, kind: XrayTestType
) -> list[dict[str, Any]]:
    return [xray_test(story, case, project_key, kind) for story, cases in stories for case in cases]


def tag(text: str) -> str:
    """A Gherkin tag: no whitespace, no '@' inside."""
    return "@" + "".join("_" if ch.isspace() or ch == "@" else ch for ch in text)


def to_tagged_gherkin(story: StoryOut, cases: Sequence[TestCaseOut], language: str = DEFAULT_LANGUAGE) -> str:
    words = gherkin_keywords(language)
    lines = [header(words), tag(story.id), f"{words.feature}: {one_line(story.title)}"]
    if story.description.strip():
        lines += free_text(story.description.strip("\r\n"), "  ", language)
    if story.jira_url:
        lines.append(f"  Jira: {story.jira_url}")
    for case in cases:
        lines += ["", f"  {words.rule}: {one_line(case.title)}"]
        if case.preconditions:
            lines.append(f"    {words.background}:")
            given = [words.given if i == 0 else words.and_ for i in range(len(case.preconditions))]
            lines += [f"      {kw}{one_line(p)}" for kw, p in zip(given, case.preconditions, strict=True)]
        tags = " ".join(
            [tag(case.test_type.value), tag(f"priority-{case.priority.value}"), tag(f"TC-{case.id}")]
        )
        for scenario in case.scenarios:
            lines += [
                "",
                f"    {tags}",
                f"    {scenario_keyword(words, scenario)}: {one_line(scenario.title)}",
            ]
            lines += [f"      {line}" for line in steps(words, scenario)]
            lines += examples_block(words, scenario, "      ")
    return "\n".join(lines) + "\n"
