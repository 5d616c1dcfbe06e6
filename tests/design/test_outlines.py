"""Scenario Outlines: a scenario with Examples, validated (every placeholder a column, every column
used, every row as wide as the header), carried by every export and push document, parsed back by
gherkin-official in several dialects."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from gherkin.parser import Parser
from gherkin.pickles.compiler import Compiler
from httpx import AsyncClient
from pydantic import ValidationError

from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import TestCaseOut
from testgen.api.services import tool_exports
from testgen.api.services.export import ExportOptions, render, to_csv, to_gherkin, to_json
from testgen.core.languages import gherkin_keywords
from testgen.domain.exports import ExportFormat, XrayTestType
from testgen.domain.test_cases import Scenario
from testgen.generation.llm.base import BadOutputError, StoryText, parse_batch_output
from testgen.generation.llm.prompt import response_schema, strict_schema
from testgen.generation.planning import plan_batches
from tests.support.helpers import is_status, make_story, queue, wait_for_job

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
OUTLINE: dict[str, Any] = {
    "title": "Password of <length> characters",
    "given": ["the sign-up form is open"],
    "when": ["the user enters a password of <length> characters"],
    "then": ["the password is <outcome>"],
    "technique": "boundary_values",
    "examples": {
        "header": ["length", "outcome"],
        "rows": [["11", "refused"], ["12", "accepted"], ["13 | a bar", "accepted \\ slash"]],
    },
}
PLAIN: dict[str, Any] = {"title": "plain", "given": ["g"], "when": ["w"], "then": ["t"]}


def story() -> StoryOut:
    return StoryOut(
        id="SHOP-7",
        project_id=1,
        title="Sign up",
        description="",
        acceptance_criteria=["The password has at least 12 characters"],
        priority="high",
        jira_url="https://jira.example/browse/SHOP-7",
        created_at=NOW,
        updated_at=NOW,
    )


def saved_case() -> TestCaseOut:
    return TestCaseOut.model_validate(
        {
            "id": 4,
            "story_id": "SHOP-7",
            "title": "Password length",
            "description": "",
            "preconditions": [],
            "priority": "high",
            "test_type": "boundary",
            "scenarios": [OUTLINE, PLAIN],
            "covered_criteria": [0],
            "task_id": None,
            "provider": "offline",
            "model": "m",
            "created_at": NOW,
            "updated_at": NOW,
        }
    )


def pickles(text: str) -> list[dict[str, Any]]:
    document = Parser().parse(text)
    document["uri"] = "x.feature"
    found: list[dict[str, Any]] = Compiler().compile(document)
    return found


# --- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("examples", "message"),
    [
        ({"header": ["length", "outcome"], "rows": [["11", "refused"], ["12"]]}, "row 2 has 1 cells"),
        ({"header": ["length"], "rows": [["11"]]}, "the steps name <outcome>, which is no column"),
        ({"header": ["length", "outcome", "x"], "rows": [["1", "2", "3"]]}, "column 'x' is named by no step"),
        ({"header": ["length", "length"], "rows": [["1", "2"]]}, "names a column twice"),
        ({"header": ["length", "outcome"], "rows": []}, "at least one row"),
        ({"header": ["le|ngth", "outcome"], "rows": [["1", "2"]]}, "string should match pattern"),
    ],
)
def test_a_mismatched_table_is_refused(examples: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Scenario.model_validate({**OUTLINE, "examples": examples})
    assert message in str(caught.value).lower() or message in str(caught.value)


def test_an_empty_table_is_a_plain_scenario() -> None:
    assert Scenario.model_validate({**PLAIN, "examples": {"header": [], "rows": []}}).examples is None
    assert Scenario.model_validate({**PLAIN, "examples": None}).model_dump() == PLAIN


async def test_the_api_refuses_a_mismatched_table_naming_the_row(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-1")
    job = await queue(client, "US-1", num_test_cases=1, scenarios_per_test_case=1)
    status = await wait_for_job(client, job["status_url"], is_status("completed"), what="the draft")
    case = status["result"]["test_cases"][0]
    bad = {**OUTLINE, "examples": {"header": ["length", "outcome"], "rows": [["11", "refused"], ["12"]]}}
    r = await client.post(
        f"/generate-test-cases/{job['task_id']}/save", json={"test_cases": [{**case, "scenarios": [bad]}]}
    )
    assert r.status_code == 422
    assert "examples row 2 has 1 cells, the header has 2" in r.text
    good = {**case, "scenarios": [OUTLINE]}
    r = await client.post(f"/generate-test-cases/{job['task_id']}/save", json={"test_cases": [good]})
    assert r.status_code == 201, r.text
    saved = (await client.get("/user-stories/US-1/test-cases")).json()[0]
    assert saved["scenarios"][0]["examples"] == OUTLINE["examples"]
    r = await client.patch(f"/test-cases/{saved['id']}", json={"scenarios": [bad]})
    assert r.status_code == 422 and "examples row 2" in r.text
    export = await client.get("/user-stories/US-1/test-cases/export", params={"format": "gherkin"})
    assert len(pickles(export.text)) == 3


# --- the model's answer -------------------------------------------------------------------------------


def _answer(scenarios: list[dict[str, Any]]) -> str:
    case = {"title": "c", "description": "", "preconditions": [], "priority": "high", "covered_criteria": [0]}
    return json.dumps({"test_cases": [{**case, "scenarios": scenarios}]})


def test_the_models_schema_and_answer_carry_outlines_counted_as_one_scenario() -> None:
    text = StoryText(id="S", title="t", description="", acceptance_criteria=["at least 12"])
    batch = plan_batches(text, 1, 1, 15)[0]
    schema = response_schema(batch)["properties"]["test_cases"]["items"]["properties"]["scenarios"]["items"]
    assert schema["properties"]["examples"]["anyOf"][0]["required"] == ["header", "rows"]
    assert "examples" in schema["required"]
    strict = strict_schema(schema)
    assert strict["properties"]["examples"]["anyOf"][0]["additionalProperties"] is False
    cases = parse_batch_output(_answer([{**OUTLINE, "technique": None}]), batch)
    assert cases[0].scenarios[0].examples is not None and len(cases[0].scenarios) == 1
    assert parse_batch_output(_answer([{**PLAIN, "examples": None}]), batch)[0].scenarios[0].examples is None
    bad = {**OUTLINE, "examples": {"header": ["length"], "rows": [["1"]]}}
    with pytest.raises(BadOutputError):
        parse_batch_output(_answer([bad]), batch)


# --- exports --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "es", "fr"])
@pytest.mark.parametrize("fmt", [ExportFormat.gherkin, ExportFormat.gherkin_tagged])
def test_outline_exports_parse_in_each_dialect(language: str, fmt: ExportFormat) -> None:
    words = gherkin_keywords(language)
    if fmt is ExportFormat.gherkin:
        text = to_gherkin(story(), [saved_case()], language)
    else:
        text = tool_exports.to_tagged_gherkin(story(), [saved_case()], language)
    assert f"{words.scenario_outline}: Password of <length> characters" in text
    assert f"{words.examples}:" in text
    if language == "es":
        assert "Esquema del escenario:" in text and "Ejemplos:" in text
    found = pickles(text)
    assert len(found) == 4  # three rows of the outline, and the plain scenario
    names = [p["name"] for p in found]
    assert names[:3] == [
        "Password of 11 characters",
        "Password of 12 characters",
        "Password of 13 | a bar characters",
    ]
    assert found[2]["steps"][-1]["text"] == "the password is accepted \\ slash"


def test_testrail_and_xray_manual_have_one_step_per_row() -> None:
    rows = list(csv.reader(io.StringIO(tool_exports.to_testrail_csv([(story(), [saved_case()])]))))
    steps = [row[6] for row in rows[1:]]
    assert len(steps) == 4
    assert "a password of 11 characters" in steps[0] and "length = 11, outcome = refused" in steps[0]
    assert rows[2][7] == "Then the password is accepted"
    test = tool_exports.xray_test(story(), saved_case(), "SHOP", XrayTestType.manual)
    assert [s["data"] for s in test["steps"]] == [
        "length = 11, outcome = refused",
        "length = 12, outcome = accepted",
        "length = 13 | a bar, outcome = accepted \\ slash",
        "",
    ]
    cucumber = tool_exports.xray_test(story(), saved_case(), "SHOP", XrayTestType.cucumber)["gherkin_def"]
    assert "When the user enters a password of <length> characters" in cucumber
    outline = cucumber.split("\n# plain")[0].split("\n")[1:]  # as Xray runs it: under its outline
    assert "Examples:" in outline and any(line.startswith("  | 11 ") for line in outline)
    assert len(pickles("Feature: f\n  Scenario Outline: o\n" + "\n".join("    " + x for x in outline))) == 3


def test_csv_and_json_carry_the_table() -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv([saved_case()]))))
    assert rows[0]["examples"].split("\n")[:2] == ["| length | outcome |", "| 11 | refused |"]
    assert rows[1]["examples"] == ""
    document = json.loads(to_json(story(), [saved_case()]))
    assert document["test_cases"][0]["scenarios"][0]["examples"] == OUTLINE["examples"]
    assert "examples" not in document["test_cases"][0]["scenarios"][1]
    xray = json.loads(render([(story(), [saved_case()])], ExportFormat.xray_json, ExportOptions()))
    assert "Examples:" in xray[0]["gherkin_def"]


def test_push_documents_carry_outlines() -> None:
    from testgen.data.models import TestCase, UserStory
    from testgen.testmgmt.documents import case_doc

    row = TestCase(
        id=4,
        story_id="SHOP-7",
        title="Password length",
        description="",
        preconditions=[],
        priority="high",
        test_type="boundary",
        scenarios=[OUTLINE, PLAIN],
        covered_criteria=[0],
    )
    user_story = UserStory(id="SHOP-7", title="Sign up", description="", acceptance_criteria=["x"])
    doc = case_doc(row, user_story, "es")
    assert len(doc.steps) == 4
    assert "(example 1 of 3: length = 11, outcome = refused)" in doc.steps[0][0]
    assert "Dado que the sign-up form is open" in doc.steps[0][0] or "the sign-up form" in doc.steps[0][0]
    assert "Esquema del escenario:" in doc.gherkin and len(pickles(doc.gherkin)) == 4
