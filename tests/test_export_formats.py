"""The export formats, exactly: the Gherkin, CSV and JSON text of a known story (no server, no worker)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.api.services.export import export_story, to_csv, to_gherkin, to_json
from testgen.core.database import create_sessionmaker
from testgen.data import models, schemas

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
DESCRIPTION = "\nAs a shopper\n  # I pay\n\n@once\nScenario: x\n\\ slash\nplain   \n"
SCENARIOS: list[dict[str, Any]] = [
    {"title": "first", "given": ["a  user", "a card"], "when": ["they pay"], "then": ["paid", "mailed"]},
    {"title": "second", "given": ["g"], "when": ["w"], "then": ["t"]},
]


def story(
    description: str = DESCRIPTION, criteria: tuple[str, ...] = ("card  works", "refund\nlater")
) -> Any:
    return schemas.StoryOut(
        id="US-7",
        project_id=1,
        title="Pay  by\ncard",
        description=description,
        acceptance_criteria=list(criteria),
        priority="high",
        created_at=NOW,
        updated_at=NOW,
    )


def case(ident: int, covered: list[int], preconditions: list[str]) -> Any:
    return schemas.TestCaseOut.model_validate(
        {
            "id": ident,
            "story_id": "US-7",
            "title": f"Case\n{ident}",
            "description": "d",
            "preconditions": preconditions,
            "priority": "low",
            "test_type": "negative",
            "scenarios": SCENARIOS,
            "covered_criteria": covered,
            "task_id": None,
            "provider": "offline",
            "model": "m",
            "created_at": NOW,
            "updated_at": NOW,
        }
    )


FEATURE = """\
# language: en
@story-US-7
Feature: Pay by card
  As a shopper
    \\# I pay

  \\@once
  \\Scenario: x
  \\\\ slash
  plain

  Acceptance criteria:
    AC1. card works
    AC2. refund later

  # TC-1: Case 1
  # Preconditions: logged in; has card
  @negative @priority-low @TC-1 @AC1 @AC2
  Scenario: first
    Given a user
    And a card
    When they pay
    Then paid
    And mailed

  @negative @priority-low @TC-1 @AC1 @AC2
  Scenario: second
    Given g
    When w
    Then t

  # TC-2: Case 2
  @negative @priority-low @TC-2
  Scenario: first
    Given a user
    And a card
    When they pay
    Then paid
    And mailed

  @negative @priority-low @TC-2
  Scenario: second
    Given g
    When w
    Then t
"""


def test_gherkin_text() -> None:
    cases = [case(1, [0, 1], ["logged in", "has\ncard"]), case(2, [], [])]
    assert to_gherkin(story(), cases) == FEATURE


def test_gherkin_header_without_description_or_criteria() -> None:
    assert to_gherkin(story("", ()), []) == "# language: en\n@story-US-7\nFeature: Pay by card\n"
    assert to_gherkin(story(" \n ", ()), []) == "# language: en\n@story-US-7\nFeature: Pay by card\n"
    only_criteria = to_gherkin(story("", ("one",)), [])
    assert (
        only_criteria
        == "# language: en\n@story-US-7\nFeature: Pay by card\n  Acceptance criteria:\n    AC1. one\n"
    )
    only_text = to_gherkin(story("\r\nfree\r\n", ()), [])
    assert only_text == "# language: en\n@story-US-7\nFeature: Pay by card\n  free\n"
    edges = to_gherkin(story("\nX marks the spot X\n", ()), [])  # only line breaks are trimmed
    assert edges == "# language: en\n@story-US-7\nFeature: Pay by card\n  X marks the spot X\n"


def test_gherkin_escapes_every_block_keyword() -> None:
    keywords = ["Feature", "Business Need", "Ability", "Background", "Scenario Outline"]
    keywords += ["Scenario Template", "Scenario", "Examples", "Example", "Scenarios", "Rule"]
    text = to_gherkin(story("\n".join(f"{k}: x" for k in [*keywords, "Given"]), ()), [])
    assert text.splitlines()[3:] == [*(f"  \\{k}: x" for k in keywords), "  Given: x"]


def test_csv_text() -> None:
    assert to_csv([case(1, [0, 1], [])]) == (
        "test_case_id,title,test_type,priority,scenario,given,when,then,covered_criteria\r\n"
        '1,"Case\n1",negative,low,first,"a  user\na card",they pay,"paid\nmailed","AC1\nAC2"\r\n'
        '1,"Case\n1",negative,low,second,g,w,t,"AC1\nAC2"\r\n'
    )
    two_whens = case(2, [], [])
    two_whens.scenarios[0].when.append("they confirm")
    assert '"they pay\nthey confirm"' in to_csv([two_whens])


def test_json_text() -> None:
    text = to_json(story("Zahlung über €"), [case(2, [1], [])])
    assert text.endswith("}\n") and '"description": "Zahlung über €"' in text
    assert text.startswith('{\n  "story": {\n    "id": "US-7",\n')
    document = json.loads(text)
    assert document["story"]["created_at"] == "2026-01-02T03:04:05Z"
    assert document["test_cases"][0]["scenarios"] == SCENARIOS
    assert document["test_cases"][0]["covered_criteria"] == [1]


async def test_export_story_reads_the_rows_and_names_the_file(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        row = models.UserStory(id="US 7/ä", title="Pay", description="", acceptance_criteria=["a"])
        session.add_all([row, models.UserStory(id="OTHER", title="Other")])
        await session.flush()
        for story_id, title, covered in [
            (row.id, "T[0]", [0]),
            ("OTHER", "not mine", []),
            (row.id, "T[]", []),
        ]:
            session.add(
                models.TestCase(story_id=story_id, title=title, scenarios=SCENARIOS, covered_criteria=covered)
            )
            await session.flush()
        await session.commit()

        gherkin = await export_story(session, row, schemas.ExportFormat.gherkin)
        assert not session.in_transaction()  # the read ended before rendering
        assert (gherkin.media_type, gherkin.filename) == (
            "text/x-gherkin; charset=utf-8",
            "US_7__-test-cases.feature",
        )
        assert "# TC-1: T[0]" in gherkin.content and "# TC-3: T[]" in gherkin.content
        assert "not mine" not in gherkin.content

        as_csv = await export_story(session, row, schemas.ExportFormat.csv)
        assert (as_csv.media_type, as_csv.filename) == ("text/csv; charset=utf-8", "US_7__-test-cases.csv")
        assert as_csv.content.count("\r\n") == 5  # the header and two scenarios of each test case

        as_json = await export_story(session, row, schemas.ExportFormat.json)
        assert (as_json.media_type, as_json.filename) == ("application/json", "US_7__-test-cases.json")
        document = json.loads(as_json.content)
        assert document["story"]["id"] == "US 7/ä"
        assert [c["title"] for c in document["test_cases"]] == ["T[0]", "T[]"]
