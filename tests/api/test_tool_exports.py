"""Exports for test-management tools (TestRail CSV, Xray JSON, tagged Gherkin), parsed back."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gherkin.parser import Parser
from gherkin.pickles.compiler import Compiler
from httpx import AsyncClient

from testgen.api.services.csv_cells import csv_cell as safe_cell
from testgen.api.services.tool_exports import TESTRAIL_COLUMNS
from tests.api.test_export import WEIRD_CASE, WEIRD_DESCRIPTION, one_line, saved_story

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "support" / "schemas" / "xray_bulk_tests.schema.json").read_text()
)

FORMULA_CASE = {
    "title": '=HYPERLINK("http://evil","click"), with a comma',
    "description": "",
    "preconditions": ["+cmd|' /C calc'!A0", "@SUM(1+1)"],
    "priority": "low",
    "test_type": "negative",
    "covered_criteria": [0],
    "scenarios": [
        {"title": "-2+3", "given": ['a, b and "c"'], "when": ["\tTabbed"], "then": ["=1+1", "done"]},
        {"title": "second", "given": ["g2"], "when": ["w2"], "then": ["t2"]},
        {"title": "third", "given": ["g3"], "when": ["w3"], "then": ["t3"]},
    ],
}


async def saved(client: AsyncClient) -> list[dict[str, Any]]:
    return await saved_story(client, edited=[WEIRD_CASE, FORMULA_CASE])


def test_safe_cell_neutralises_formulas_only() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(start + "x") == "'" + start + "x"
    assert safe_cell("plain = text") == "plain = text"


async def test_testrail_csv_one_row_per_step_with_the_case_on_its_first(
    client: AsyncClient, worker: object
) -> None:
    cases = await saved(client)
    r = await client.get("/user-stories/WEIRD-1/test-cases/export", params={"format": "testrail-csv"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="WEIRD-1-test-cases.testrail.csv"'
    rows = list(csv.reader(io.StringIO(r.text)))
    assert tuple(rows[0]) == TESTRAIL_COLUMNS
    body = [dict(zip(TESTRAIL_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert len(body) == sum(len(c["scenarios"]) for c in cases) == 5
    weird, formula = body[0], body[2]
    assert weird["Title"] == one_line(WEIRD_CASE["title"])
    assert weird["Section"].startswith("WEIRD-1 Pay:")
    assert weird["Template"] == "Test Case (Steps)"
    assert (weird["Type"], weird["Priority"], weird["References"]) == ("Security", "Critical", "WEIRD-1")
    assert weird["Preconditions"] == "# logged in\nhas | an order\nfrom yesterday"
    assert weird["Steps (Step)"].split("\n") == [
        "Scenario: inner # x | y",
        "Given a step with a newline",
        'And """',
        "And | cell |",
        "When # hash first",
        "And @at first",
    ]
    assert weird["Steps (Expected Result)"] == "Then Then: colon\nAnd Examples: none\nAnd \\ backslash"
    second_step = body[1]
    assert [second_step[c] for c in TESTRAIL_COLUMNS[:6]] == [""] * 6 and second_step["References"] == ""
    assert second_step["Steps (Step)"] == "'@tag-like title\nGiven g\nWhen w"  # neutralised
    # Commas, quotes and formulas survive the CSV round trip, neutralised.
    assert formula["Title"] == "'" + FORMULA_CASE["title"]
    assert formula["Type"] == "Destructive"
    assert formula["Preconditions"] == "'+cmd|' /C calc'!A0\n@SUM(1+1)"
    assert formula["Steps (Step)"] == '\'-2+3\nGiven a, b and "c"\nWhen Tabbed'
    assert [row["Steps (Step)"].split("\n")[0] for row in body[3:]] == ["second", "third"]


async def test_xray_json_validates_in_both_test_types(client: AsyncClient, worker: object) -> None:
    cases = await saved(client)
    url = "/user-stories/WEIRD-1/test-cases/export"
    r = await client.get(url, params={"format": "xray-json", "project_key": "SHOP"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    tests = r.json()
    jsonschema.validate(tests, SCHEMA)
    assert len(tests) == len(cases) == 2
    first = tests[0]
    assert first["testtype"] == "Cucumber"
    assert first["fields"]["summary"] == one_line(WEIRD_CASE["title"])
    assert first["fields"]["project"] == {"key": "SHOP"}
    assert first["update"]["issuelinks"][0]["add"]["outwardIssue"] == {"key": "WEIRD-1"}
    assert "Preconditions:\n- # logged in" in first["fields"]["description"]
    # gherkin_def is a scenario body: inside a Feature and a Scenario it parses, steps intact.
    text = "Feature: f\n  Scenario: s\n" + "\n".join(
        "    " + line for line in first["gherkin_def"].split("\n")
    )
    pickles = Compiler().compile({**Parser().parse(text), "uri": "x.feature"})
    steps = [s["text"] for s in pickles[0]["steps"]]
    expected = WEIRD_CASE["scenarios"]
    assert steps[:3] == ["a step with a newline", '"""', "| cell |"]
    assert len(steps) == sum(len(s["given"]) + len(s["when"]) + len(s["then"]) for s in expected)

    r = await client.get(url, params={"format": "xray-json", "project_key": "SHOP", "xray_type": "Manual"})
    manual = r.json()
    jsonschema.validate(manual, SCHEMA)
    assert [len(t["steps"]) for t in manual] == [2, 3]
    assert manual[1]["steps"][0] == {
        "action": '-2+3\nGiven a, b and "c"\nWhen Tabbed',
        "data": "",
        "result": "Then =1+1\nAnd done",
    }
    bad = await client.get(url, params={"format": "xray-json"})
    assert bad.status_code == 409 and "project_key" in bad.json()["detail"]  # WEIRD-1 is not from Jira
    assert (await client.get(url, params={"format": "xray-json", "project_key": "lower"})).status_code == 422
    with pytest.raises(jsonschema.ValidationError):  # the schema can fail: a Manual test without steps
        jsonschema.validate([{**manual[0], "steps": []}], SCHEMA)


async def test_tagged_gherkin_has_rules_backgrounds_and_tags(client: AsyncClient, worker: object) -> None:
    cases = await saved(client)
    r = await client.get("/user-stories/WEIRD-1/test-cases/export", params={"format": "gherkin-tagged"})
    assert r.status_code == 200
    document = Parser().parse(r.text)
    feature = document["feature"]
    assert [t["name"] for t in feature["tags"]] == ["@WEIRD-1"]
    assert feature["description"].split("\n")[0].strip() == WEIRD_DESCRIPTION.split("\n")[0]
    rules = [child["rule"] for child in feature["children"]]
    assert [rule["name"] for rule in rules] == [one_line(c["title"]) for c in cases]
    background = rules[0]["children"][0]["background"]
    assert [s["text"] for s in background["steps"]] == ["# logged in", "has | an order from yesterday"]
    scenarios = [c["scenario"] for c in rules[0]["children"][1:]]
    assert len(scenarios) == 2
    assert [t["name"] for t in scenarios[0]["tags"]] == [
        "@security",
        "@priority-critical",
        f"@TC-{cases[0]['id']}",
    ]
    pickles = Compiler().compile({**document, "uri": "WEIRD-1.feature"})
    assert len(pickles) == 5
    first = pickles[0]
    assert [s["text"] for s in first["steps"]][:3] == [
        "# logged in",
        "has | an order from yesterday",
        "a step with a newline",
    ]


async def test_project_exports_cover_every_story(client: AsyncClient, worker: object) -> None:
    cases = await saved(client)
    project = (await client.get("/projects")).json()[0]["id"]
    url = f"/projects/{project}/test-cases/export"
    rows = list(csv.reader(io.StringIO((await client.get(url, params={"format": "testrail-csv"})).text)))
    assert len(rows) == 1 + 5
    tests = (await client.get(url, params={"format": "xray-json", "project_key": "SHOP"})).json()
    jsonschema.validate(tests, SCHEMA)
    assert len(tests) == len(cases)
    r = await client.get(url, params={"format": "gherkin-tagged"})
    assert r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as archive:
        assert archive.namelist() == ["WEIRD-1.feature"]
        Parser().parse(archive.read("WEIRD-1.feature").decode())
    document = (await client.get(url, params={"format": "json"})).json()
    assert document["project"] == "Shop" and len(document["stories"][0]["test_cases"]) == 2
    assert (await client.get("/projects/999/test-cases/export")).status_code == 404
