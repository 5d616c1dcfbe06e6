"""The export formats, exactly: the Gherkin, CSV and JSON text of a known story (no server, no worker)."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import TestCaseOut
from testgen.api.services import tool_exports
from testgen.api.services.export import (
    ExportOptions,
    _feature,
    export_project,
    export_story,
    render,
    to_csv,
    to_gherkin,
    to_json,
    unique_file_names,
)
from testgen.core.database import create_sessionmaker
from testgen.core.errors import ConflictError
from testgen.data import models
from testgen.domain.exports import ExportFormat, XrayTestType, jira_project_of

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
DESCRIPTION = "\nAs a shopper\n  # I pay\n\n@once\nScenario: x\n\\ slash\nplain   \n"
SCENARIOS: list[dict[str, Any]] = [
    {"title": "first", "given": ["a  user", "a card"], "when": ["they pay"], "then": ["paid", "mailed"]},
    {"title": "second", "given": ["g"], "when": ["w"], "then": ["t"]},
]


def story(
    description: str = DESCRIPTION, criteria: tuple[str, ...] = ("card  works", "refund\nlater")
) -> Any:
    return StoryOut(
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
    return TestCaseOut.model_validate(
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
        "test_case_id,title,test_type,priority,scenario,given,when,then,covered_criteria,examples\r\n"
        '1,"Case\n1",negative,low,first,"a  user\na card",they pay,"paid\nmailed","AC1\nAC2",\r\n'
        '1,"Case\n1",negative,low,second,g,w,t,"AC1\nAC2",\r\n'
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
        project = models.Project(name="Tienda", language="es")  # the story's language comes from it
        session.add(project)
        await session.flush()
        row = models.UserStory(
            id="US 7/ä", project_id=project.id, title="Pay", description="", acceptance_criteria=["a"]
        )
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

        gherkin = await export_story(session, row, ExportFormat.gherkin)
        assert not session.in_transaction()  # the read ended before rendering
        assert (gherkin.media_type, gherkin.filename) == (
            "text/x-gherkin; charset=utf-8",
            "US_7__-test-cases.feature",
        )
        assert "# TC-1: T[0]" in gherkin.content and "# TC-3: T[]" in gherkin.content
        assert "not mine" not in gherkin.content
        assert gherkin.content.startswith("# language: es\n")

        tagged = await export_story(session, row, ExportFormat.gherkin_tagged)
        assert tagged.filename == "US_7__-test-cases.feature" and tagged.content.startswith(
            "# language: es\n"
        )
        assert tagged.content != gherkin.content  # the tagged variant, not the plain one

        xray = await export_story(session, row, ExportFormat.xray_json, ExportOptions(project_key="SHOP"))
        assert xray.filename == "US_7__-test-cases.xray.json"
        tests = json.loads(xray.content)
        assert [test["fields"]["project"]["key"] for test in tests] == ["SHOP", "SHOP"]

        as_csv = await export_story(session, row, ExportFormat.csv)
        assert (as_csv.media_type, as_csv.filename) == ("text/csv; charset=utf-8", "US_7__-test-cases.csv")
        assert as_csv.content.count("\r\n") == 5  # the header and two scenarios of each test case

        as_json = await export_story(session, row, ExportFormat.json)
        assert (as_json.media_type, as_json.filename) == ("application/json", "US_7__-test-cases.json")
        document = json.loads(as_json.content)
        assert document["story"]["id"] == "US 7/ä"
        assert [c["title"] for c in document["test_cases"]] == ["T[0]", "T[]"]


def test_render_routes_each_format_to_its_writer() -> None:
    """One story: every non-Gherkin format is the writer's own output, exactly."""
    one = [(story(), [case(1, [0], ["pre"]), case(2, [1], [])])]
    options = ExportOptions(project_key="SHOP", xray_type=XrayTestType.cucumber)
    assert render(one, ExportFormat.csv, options) == to_csv(one[0][1])
    assert render(one, ExportFormat.testrail_csv, options) == tool_exports.to_testrail_csv(one)
    xray = render(one, ExportFormat.xray_json, options)
    assert xray.endswith("]\n") and "\n  {" in xray  # two-space indent, a newline at the end
    assert json.loads(xray) == tool_exports.to_xray_tests(one, "SHOP", XrayTestType.cucumber)
    spanish = [(story(), [case(1, [0], []).model_copy(update={"title": "Pago con tarjeta ñ"})])]
    assert "tarjeta ñ" in render(spanish, ExportFormat.xray_json, options)  # UTF-8 kept, not \u escapes
    generic = ExportOptions(project_key="SHOP", xray_type=XrayTestType.manual)
    assert json.loads(render(one, ExportFormat.xray_json, generic)) == tool_exports.to_xray_tests(
        one, "SHOP", XrayTestType.manual
    )
    assert render(one, ExportFormat.json, options) == to_json(*one[0])


def test_render_a_project_as_one_json_document() -> None:
    shop = story(criteria=("paga con tarjeta", "reembolso"))
    other = StoryOut.model_validate({**shop.model_dump(), "id": "US-8"})
    stories = [(shop, [case(1, [0], [])]), (other, [])]
    text = render(stories, ExportFormat.json, ExportOptions(), project="Tienda ñ")
    assert text.endswith("}\n") and '\n  "project": "Tienda ñ"' in text  # UTF-8 kept, indented
    document = json.loads(text)
    assert document["project"] == "Tienda ñ"
    assert [s["story"]["id"] for s in document["stories"]] == ["US-7", "US-8"]
    assert document["stories"][0]["test_cases"] == [stories[0][1][0].model_dump(mode="json")]
    assert document["stories"][1]["test_cases"] == []
    assert document["stories"][0]["story"] == shop.model_dump(mode="json")


def test_xray_needs_a_project_key_for_a_story_not_from_jira() -> None:
    with pytest.raises(ConflictError) as refused:
        render([(story(), [case(1, [0], [])])], ExportFormat.xray_json, ExportOptions())
    assert str(refused.value) == (
        "format=xray-json needs project_key, the Jira project the tests go to (e.g. project_key=SHOP): "
        "story US-7 was not imported from Jira, so its project is not known"
    )
    assert render([(story(), [])], ExportFormat.xray_json, ExportOptions()) == "[]\n"  # no test, no key


def from_jira(ident: str) -> Any:
    return story().model_copy(update={"id": ident, "jira_url": f"https://jira.example/browse/{ident}"})


def test_xray_tests_go_to_the_jira_project_of_their_story() -> None:
    stories = [(from_jira("SHOP-12"), [case(1, [0], [])]), (from_jira("PAY_2-7"), [case(2, [0], [])])]
    tests = json.loads(render(stories, ExportFormat.xray_json, ExportOptions()))
    assert [t["fields"]["project"] for t in tests] == [{"key": "SHOP"}, {"key": "PAY_2"}]
    chosen = json.loads(render(stories, ExportFormat.xray_json, ExportOptions(project_key="QA")))
    assert [t["fields"]["project"] for t in chosen] == [{"key": "QA"}, {"key": "QA"}]  # the key given wins
    mixed = [*stories, (story(), [case(3, [0], [])])]
    with pytest.raises(ConflictError, match="story US-7 was not imported from Jira"):
        render(mixed, ExportFormat.xray_json, ExportOptions())


@pytest.mark.parametrize(
    ("ident", "jira_url", "key"),
    [
        ("SHOP-123", "https://jira.example/browse/SHOP-123", "SHOP"),
        ("A1_B-1", "u", "A1_B"),
        ("SHOP-123", None, None),  # written here: its id only looks like a key
        ("shop-123", "u", None),
        ("SHOP-0123", "u", None),
        ("SHOP-", "u", None),
        ("SHOP-12-3", "u", None),
        ("1SHOP-1", "u", None),
        ("K" * 50 + "-1", "u", "K" * 50),
        ("K" * 51 + "-1", "u", None),  # longer than a Jira project key may be
    ],
)
def test_the_jira_project_of_a_story(ident: str, jira_url: str | None, key: str | None) -> None:
    assert jira_project_of(ident, jira_url) == key


def test_the_feature_of_each_gherkin_format_in_the_story_language() -> None:
    cases = [case(1, [0], ["pre"])]
    assert _feature(story(), cases, ExportFormat.gherkin, "es") == to_gherkin(story(), cases, "es")
    tagged = _feature(story(), cases, ExportFormat.gherkin_tagged, "es")
    assert tagged == tool_exports.to_tagged_gherkin(story(), cases, "es")
    assert tagged.startswith("# language: es")


async def test_export_project_reads_its_stories_and_names_the_files(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        project = models.Project(name="Tienda/1", language="es")
        elsewhere = models.Project(name="Other")
        session.add_all([project, elsewhere])
        await session.flush()
        stories = [
            models.UserStory(id="US/1", project_id=project.id, title="Pagar", language="en"),
            models.UserStory(id="US-2", project_id=project.id, title="Reembolso"),
            models.UserStory(id="US-3", project_id=project.id, title="Sin pruebas"),
            models.UserStory(id="X-1", project_id=elsewhere.id, title="Not mine"),
        ]
        session.add_all(stories)
        await session.flush()
        for story_id, title in [
            ("US/1", "first"),
            ("US-2", "second"),
            ("US-2", "third"),
            ("X-1", "not mine"),
        ]:
            session.add(
                models.TestCase(story_id=story_id, title=title, scenarios=SCENARIOS, covered_criteria=[])
            )
            await session.flush()
        await session.commit()

        zipped = await export_project(session, project, ExportFormat.gherkin)
        assert not session.in_transaction()
        assert (zipped.media_type, zipped.filename) == ("application/zip", "Tienda_1-test-cases-features.zip")
        with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
            files = {name: archive.read(name).decode() for name in archive.namelist()}
            assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_DEFLATED}
        assert sorted(files) == ["US-2.feature", "US_1.feature"]  # a story without tests has no file
        assert files["US_1.feature"].startswith("# language: en\n")  # its own language
        assert files["US-2.feature"].startswith("# language: es\n")  # the project's
        assert "TC-2: second" in files["US-2.feature"] and "TC-3: third" in files["US-2.feature"]
        tagged = await export_project(session, project, ExportFormat.gherkin_tagged)
        with zipfile.ZipFile(io.BytesIO(tagged.content)) as archive:
            assert archive.read("US-2.feature").decode() != files["US-2.feature"]

        as_json = await export_project(session, project, ExportFormat.json)
        assert (as_json.media_type, as_json.filename) == ("application/json", "Tienda_1-test-cases.json")
        document = json.loads(as_json.content)
        assert document["project"] == "Tienda/1"
        assert [(s["story"]["id"], [c["title"] for c in s["test_cases"]]) for s in document["stories"]] == [
            ("US/1", ["first"]),
            ("US-2", ["second", "third"]),
        ]
        xray = await export_project(
            session, project, ExportFormat.xray_json, ExportOptions(project_key="SHOP")
        )
        assert [t["fields"]["summary"] for t in json.loads(xray.content)] == ["first", "second", "third"]
        other = await export_project(session, elsewhere, ExportFormat.gherkin)  # no language set: detected
        with zipfile.ZipFile(io.BytesIO(other.content)) as archive:
            assert archive.read("X-1.feature").decode().startswith("# language: en\n")
        assert (
            await export_project(session, project, ExportFormat.csv)
        ).filename == "Tienda_1-test-cases.csv"


def test_file_names_are_unique_whatever_their_case() -> None:
    stems = ["US-1", "us-1", "Us-1", "us-1-2", "US_1", "US_1"]
    assert unique_file_names(stems, "feature") == [
        "US-1.feature",
        "us-1-2.feature",
        "Us-1-3.feature",
        "us-1-2-2.feature",  # "us-1-2" was taken by the second story
        "US_1.feature",
        "US_1-2.feature",
    ]


async def test_a_project_zip_holds_one_file_per_story_whatever_the_case_of_its_id(
    engine: AsyncEngine,
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session:
        project = models.Project(name="Shop")
        session.add(project)
        await session.flush()
        ids = [
            "SHOP-1",
            "shop-1",
            "Shop-1",
            "US/2",
            "US_2",
        ]  # "US/2" (stored before ids were checked) is US_2
        session.add_all(models.UserStory(id=i, project_id=project.id, title=f"Story {i}") for i in ids)
        await session.flush()
        for story_id in ids:
            session.add(
                models.TestCase(
                    story_id=story_id, title=f"for {story_id}", scenarios=SCENARIOS, covered_criteria=[]
                )
            )
        await session.commit()
        zipped = await export_project(session, project, ExportFormat.gherkin)
    with zipfile.ZipFile(io.BytesIO(zipped.content)) as archive:
        names = archive.namelist()
        assert len({name.casefold() for name in names}) == len(names) == len(ids)
        story_of = {name: archive.read(name).decode().split("@story-")[1].split("\n")[0] for name in names}
    assert sorted(story_of.values()) == sorted(ids)
