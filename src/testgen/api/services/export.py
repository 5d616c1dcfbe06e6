"""Saved test cases of a story as a file: Gherkin (.feature), CSV or JSON.

A feature file is in the story's language: a `# language:` header and that dialect's keywords, from
gherkin-official's table (domain/gherkin_feature.py writes it, domain/gherkin_text.py makes the text
safe). CSV and JSON carry the text unchanged.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import TestCaseOut
from testgen.api.services import tool_exports
from testgen.api.services.csv_cells import SafeCsvWriter
from testgen.core.errors import ConflictError
from testgen.core.languages import DEFAULT_LANGUAGE
from testgen.data import repository
from testgen.data.models import Project, UserStory
from testgen.data.story_language import story_language
from testgen.domain.exports import ExportFormat, XrayTestType, jira_project_of
from testgen.domain.gherkin_feature import criterion_label, feature
from testgen.domain.gherkin_text import table_cell
from testgen.domain.test_cases import Scenario

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
    "examples",  # a Scenario Outline's table, one line per row as Gherkin writes it; empty: a scenario
)

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class Export:
    content: str | bytes
    media_type: str
    filename: str


def to_gherkin(story: StoryOut, cases: Sequence[TestCaseOut], language: str = DEFAULT_LANGUAGE) -> str:
    return feature(story, cases, language)


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
                    examples_text(scenario),
                ]
            )
    return out.getvalue()


def examples_text(scenario: Scenario) -> str:
    """An outline's Examples as table lines ("| length |", "| 11 |"); "" for a plain scenario."""
    if scenario.examples is None:
        return ""
    rows = [scenario.examples.header, *scenario.examples.rows]
    return "\n".join("| " + " | ".join(table_cell(c) for c in row) + " |" for row in rows)


def to_json(story: StoryOut, cases: Sequence[TestCaseOut]) -> str:
    document = {
        "story": story.model_dump(mode="json"),
        "test_cases": [case.model_dump(mode="json") for case in cases],
    }
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


@dataclass(frozen=True)
class ExportOptions:
    # xray-json: the Jira project the tests go to; None: each story's own (one imported from Jira)
    project_key: str | None = None
    xray_type: XrayTestType = XrayTestType.cucumber


_MEDIA = {
    ExportFormat.gherkin: ("text/x-gherkin; charset=utf-8", "feature"),
    ExportFormat.gherkin_tagged: ("text/x-gherkin; charset=utf-8", "feature"),
    ExportFormat.csv: ("text/csv; charset=utf-8", "csv"),
    ExportFormat.testrail_csv: ("text/csv; charset=utf-8", "testrail.csv"),
    ExportFormat.json: ("application/json", "json"),
    ExportFormat.xray_json: ("application/json", "xray.json"),
}


def xray_project_key(story: StoryOut, options: ExportOptions) -> str:
    """The Jira project a story's Xray tests go to: `project_key`, else the project the story was
    imported from; a conflict (409) for a story written here, whose Jira project only the client knows."""
    key = options.project_key or jira_project_of(story.id, story.jira_url)
    if key is None:
        raise ConflictError(
            f"format=xray-json needs project_key, the Jira project the tests go to (e.g. project_key=SHOP): "
            f"story {story.id} was not imported from Jira, so its project is not known"
        )
    return key


def to_xray_json(stories: Sequence[tuple[StoryOut, Sequence[TestCaseOut]]], options: ExportOptions) -> str:
    """Xray's bulk import: each test in its story's Jira project (see `xray_project_key`); a story
    without test cases needs none."""
    tests = [
        tool_exports.xray_test(story, case, xray_project_key(story, options), options.xray_type)
        for story, cases in stories
        for case in cases
    ]
    return json.dumps(tests, ensure_ascii=False, indent=2) + "\n"


def _feature(story: StoryOut, cases: Sequence[TestCaseOut], fmt: ExportFormat, language: str) -> str:
    """A story's feature file in its language (`# language:` and that dialect's keywords)."""
    if fmt is ExportFormat.gherkin_tagged:
        return tool_exports.to_tagged_gherkin(story, cases, language)
    return to_gherkin(story, cases, language)


def render(
    stories: Sequence[tuple[StoryOut, Sequence[TestCaseOut]]],
    fmt: ExportFormat,
    options: ExportOptions,
    *,
    project: str | None = None,
) -> str:
    """Every format but Gherkin, for one story or (with `project`, its name) a project's stories."""
    if fmt is ExportFormat.csv:
        return to_csv([case for _, cases in stories for case in cases])
    if fmt is ExportFormat.testrail_csv:
        return tool_exports.to_testrail_csv(stories)
    if fmt is ExportFormat.xray_json:
        return to_xray_json(stories, options)
    if project is None:
        return to_json(*stories[0])
    document = [
        {"story": story.model_dump(mode="json"), "test_cases": [c.model_dump(mode="json") for c in cases]}
        for story, cases in stories
    ]
    return json.dumps({"project": project, "stories": document}, ensure_ascii=False, indent=2) + "\n"


def unique_file_names(stems: Sequence[str], extension: str) -> list[str]:
    """`stem.extension` for each stem, unique when case is ignored (as on Windows and macOS, where
    `US-1` and `us-1` would overwrite each other on unzipping): a taken name gets `-2`, `-3`, ..."""
    taken: set[str] = set()
    names = []
    for stem in stems:
        name, number = f"{stem}.{extension}", 1
        while name.casefold() in taken:
            number += 1
            name = f"{stem}-{number}.{extension}"
        taken.add(name.casefold())
        names.append(name)
    return names


async def export_story(
    session: AsyncSession, story: UserStory, fmt: ExportFormat, options: ExportOptions | None = None
) -> Export:
    options = options or ExportOptions()
    rows = await repository.list_test_cases(session, story.id)
    language = await story_language(session, story)
    await session.commit()  # end the read before rendering: on SQLite it holds the write lock
    out = StoryOut.model_validate(story)
    cases = [TestCaseOut.model_validate(row) for row in rows]
    stem = _UNSAFE_FILENAME.sub("_", story.id) + "-test-cases"
    media_type, extension = _MEDIA[fmt]
    if fmt in (ExportFormat.gherkin, ExportFormat.gherkin_tagged):
        content = _feature(out, cases, fmt, language)
    else:
        content = render([(out, cases)], fmt, options)
    return Export(content, media_type, f"{stem}.{extension}")


async def export_project(
    session: AsyncSession, project: Project, fmt: ExportFormat, options: ExportOptions | None = None
) -> Export:
    """The saved test cases of every story of a project in one file; Gherkin (one Feature per file)
    comes as a zip of one .feature per story that has test cases."""
    options = options or ExportOptions()
    project_id, name, project_language = project.id, project.name, project.language
    rows = await repository.list_project_test_cases(session, project_id)
    story_rows = await repository.list_stories(session, project_id, limit=None, offset=0)
    by_story: dict[str, list[TestCaseOut]] = {}
    for row in rows:
        by_story.setdefault(row.story_id, []).append(TestCaseOut.model_validate(row))
    stories = [(StoryOut.model_validate(s), by_story[s.id]) for s in story_rows if s.id in by_story]
    languages = {
        s.id: await story_language(session, s, project_language) for s in story_rows if s.id in by_story
    }
    await session.commit()
    stem = _UNSAFE_FILENAME.sub("_", name) + "-test-cases"
    if fmt in (ExportFormat.gherkin, ExportFormat.gherkin_tagged):
        buffer = io.BytesIO()
        names = unique_file_names([_UNSAFE_FILENAME.sub("_", story.id) for story, _ in stories], "feature")
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for i, (story, cases) in enumerate(stories):
                archive.writestr(names[i], _feature(story, cases, fmt, languages[story.id]))
        return Export(buffer.getvalue(), "application/zip", f"{stem}-features.zip")
    media_type, extension = _MEDIA[fmt]
    return Export(render(stories, fmt, options, project=name), media_type, f"{stem}.{extension}")
