from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from typing import Any

from gherkin.parser import Parser
from gherkin.pickles.compiler import Compiler
from httpx import AsyncClient

from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import TestCaseOut
from testgen.api.services.csv_cells import csv_cell
from testgen.api.services.export import CSV_COLUMNS, to_gherkin
from tests.support.helpers import is_status, make_story, queue, wait_for_job

WEIRD_TITLE = 'Pay: "now" # really @once | maybe """ here\nand on a second line'
WEIRD_DESCRIPTION = "\n".join(
    [
        "As a shopper: I want to pay # fast",
        "# not a comment",
        "@not-a-tag",
        "Scenario: not a scenario",
        "  Rule: not a rule either",
        "| not | a table |",
        '"""',
        "\\ starts with a backslash",
        "Given not a step",
        "",
        "    indented text stays indented",
    ]
)
WEIRD_CRITERIA = ['Amount: "€10" # incl. VAT', "@admin can | refund\nwithin 30 days", "Feature: nested"]


def parse(text: str) -> dict[str, Any]:
    document: dict[str, Any] = Parser().parse(text)
    return document


def unescape_description(description: str) -> list[str]:
    """The exporter's free-text lines: two spaces of indent, then a backslash escape on unsafe lines."""
    lines = []
    for line in description.split("\n"):
        line = line.removeprefix("  ")
        body = line.lstrip()
        if body.startswith("\\"):
            line = line[: len(line) - len(body)] + body[1:]
        lines.append(line)
    return lines


def trim_blank_lines(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


def one_line(text: str) -> str:
    return " ".join(text.split())


async def saved_story(
    client: AsyncClient, edited: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """A story with unusual text whose generated (or `edited`) test cases are saved; returns them."""
    r = await client.post("/projects", json={"name": "Shop"})
    assert r.status_code == 201
    story = {
        "id": "WEIRD-1",
        "project_id": r.json()["id"],
        "title": WEIRD_TITLE,
        "description": WEIRD_DESCRIPTION,
        "acceptance_criteria": WEIRD_CRITERIA,
        "priority": "high",
    }
    assert (await client.post("/user-stories", json=story)).status_code == 201
    job = await queue(client, "WEIRD-1", num_test_cases=3, scenarios_per_test_case=2)
    await wait_for_job(client, job["status_url"], is_status("completed"), what="the job to complete")
    body = {"test_cases": edited} if edited else None
    r = await client.post(f"/generate-test-cases/{job['task_id']}/save", json=body)
    assert r.status_code == 201, r.text
    listed = (await client.get("/user-stories/WEIRD-1/test-cases")).json()
    assert all(c.pop("stale_criteria") == [] for c in listed)  # the list says which are stale; exports do not
    cases: list[dict[str, Any]] = listed
    return cases


WEIRD_CASE = {
    "title": 'Refunds: "#1" @ | """\nsecond line',
    "description": "free text",
    "preconditions": ["# logged in", "has | an order\nfrom yesterday"],
    "priority": "critical",
    "test_type": "security",
    "covered_criteria": [1, 2],
    "scenarios": [
        {
            "title": "Scenario: inner # x | y",
            "given": ["a step\nwith a newline", '"""', "| cell |"],
            "when": ["# hash first", "@at first"],
            "then": ["Then: colon", "Examples: none", "\\ backslash"],
        },
        {"title": "@tag-like title", "given": ["g"], "when": ["w"], "then": ["t"]},
    ],
}


async def test_gherkin_export_parses_and_round_trips(client: AsyncClient, worker: object) -> None:
    generated = await saved_story(client)
    r = await client.get("/user-stories/WEIRD-1/test-cases/export", params={"format": "gherkin"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/x-gherkin; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="WEIRD-1-test-cases.feature"'
    document = parse(r.text)
    feature = document["feature"]
    assert feature["name"] == one_line(WEIRD_TITLE)
    assert [t["name"] for t in feature["tags"]] == ["@story-WEIRD-1"]
    lines = unescape_description(feature["description"])
    assert lines[: len(WEIRD_DESCRIPTION.split("\n"))] == WEIRD_DESCRIPTION.split("\n")
    assert lines[-4:] == [
        "Acceptance criteria:",
        *(f"  AC{i + 1}. {one_line(c)}" for i, c in enumerate(WEIRD_CRITERIA)),
    ]

    scenarios = [child["scenario"] for child in feature["children"]]
    expected = [(case, s) for case in generated for s in case["scenarios"]]
    assert len(scenarios) == len(expected) == 6
    for scenario, (case, source) in zip(scenarios, expected, strict=True):
        assert scenario["name"] == one_line(source["title"])
        tags = [t["name"] for t in scenario["tags"]]
        assert tags[:3] == [f"@{case['test_type']}", f"@priority-{case['priority']}", f"@TC-{case['id']}"]
        assert tags[3:] == [f"@AC{i + 1}" for i in case["covered_criteria"]]
        steps = [(s["keyword"].strip(), s["text"]) for s in scenario["steps"]]
        want = [
            (keyword if n == 0 else "And", one_line(text))
            for keyword, part in (("Given", "given"), ("When", "when"), ("Then", "then"))
            for n, text in enumerate(source[part])
        ]
        assert steps == want
    pickles = Compiler().compile({**document, "uri": "WEIRD-1-test-cases.feature"})
    assert [p["name"] for p in pickles] == [one_line(s["title"]) for _, s in expected]


async def test_gherkin_export_of_unusual_edited_text(client: AsyncClient, worker: object) -> None:
    [case] = await saved_story(client, [WEIRD_CASE])
    r = await client.get("/user-stories/WEIRD-1/test-cases/export?format=gherkin")
    document = parse(r.text)
    first, second = (child["scenario"] for child in document["feature"]["children"])
    assert first["name"] == "Scenario: inner # x | y" and second["name"] == "@tag-like title"
    assert [t["name"] for t in first["tags"]] == [
        "@security",
        "@priority-critical",
        f"@TC-{case['id']}",
        "@AC2",
        "@AC3",
    ]
    assert [(s["keyword"], s["text"]) for s in first["steps"]] == [
        ("Given ", "a step with a newline"),
        ("And ", '"""'),
        ("And ", "| cell |"),
        ("When ", "# hash first"),
        ("And ", "@at first"),
        ("Then ", "Then: colon"),
        ("And ", "Examples: none"),
        ("And ", "\\ backslash"),
    ]
    assert all("docString" not in s and "dataTable" not in s for s in first["steps"])
    comments = [c["text"].strip() for c in document["comments"]]
    assert f'# TC-{case["id"]}: Refunds: "#1" @ | """ second line' in comments
    assert "# Preconditions: # logged in; has | an order from yesterday" in comments


async def test_csv_export(client: AsyncClient, worker: object) -> None:
    [case] = await saved_story(client, [WEIRD_CASE])
    r = await client.get("/user-stories/WEIRD-1/test-cases/export?format=csv")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="WEIRD-1-test-cases.csv"'
    rows = list(csv.reader(io.StringIO(r.text, newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    assert len(records) == 2
    for record, scenario in zip(records, WEIRD_CASE["scenarios"], strict=True):
        assert record == {
            "test_case_id": str(case["id"]),
            "title": 'Refunds: "#1" @ | """\nsecond line',
            "test_type": "security",
            "priority": "critical",
            "scenario": csv_cell(scenario["title"]),  # '@tag-like title: a quote against formulas
            "given": "\n".join(scenario["given"]),
            "when": "\n".join(scenario["when"]),
            "then": "\n".join(scenario["then"]),
            "covered_criteria": "AC2\nAC3",
            "examples": "",
        }


async def test_json_export(client: AsyncClient, worker: object) -> None:
    cases = await saved_story(client)
    r = await client.get("/user-stories/WEIRD-1/test-cases/export?format=json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.headers["content-disposition"] == 'attachment; filename="WEIRD-1-test-cases.json"'
    body = json.loads(r.text)
    assert body["story"]["id"] == "WEIRD-1" and body["story"]["title"] == WEIRD_TITLE
    assert body["test_cases"] == cases
    default = await client.get("/user-stories/WEIRD-1/test-cases/export")
    assert default.headers["content-type"] == "application/json" and default.json() == body


async def test_export_of_a_story_without_test_cases(client: AsyncClient) -> None:
    await make_story(client, "US-001", criteria=0)
    r = await client.get("/user-stories/US-001/test-cases/export?format=gherkin")
    feature = parse(r.text)["feature"]
    assert feature["name"] == "Checkout US-001" and feature["children"] == []
    assert feature["description"].strip() == "As a shopper I want to pay for my basket"
    r = await client.get("/user-stories/US-001/test-cases/export?format=csv")
    assert r.text == ",".join(CSV_COLUMNS) + "\r\n"
    r = await client.get("/user-stories/US-001/test-cases/export?format=xml")
    assert r.status_code == 422 and [e["loc"] for e in r.json()["detail"]] == [["query", "format"]]
    r = await client.get("/user-stories/NOPE/test-cases/export?format=csv")
    assert r.status_code == 404 and r.json()["detail"] == "User story NOPE not found"


ALPHABET = (
    *('"""', "```", "#", "@", "|", ":", "\\", "\n", "\r\n", "\t", " ", "  ", "<x>", "a", "*", "€", "-"),
    *("\u2028", "\x0c", "Given ", "And ", "Scenario:", "Feature:", "Rule:", "Examples:", "Background:"),
)


def _text(rng: random.Random, *, min_length: int = 1) -> str:
    while True:
        text = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(min_length, 12)))
        if text.strip() or min_length == 0:
            return text.strip() if min_length else text


def test_any_text_makes_a_valid_feature() -> None:
    for seed in range(500):
        try:
            check_round_trip(seed)
        except Exception as exc:
            raise AssertionError(f"seed {seed}: {exc!r}") from exc


def check_round_trip(seed: int) -> None:
    """Random text full of Gherkin syntax survives the export: it parses and reads back the same."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC)
    story = StoryOut(
        id="S-1",
        project_id=1,
        title=_text(rng),
        description=_text(rng, min_length=0),
        acceptance_criteria=[_text(rng) for _ in range(rng.randint(0, 3))],
        priority="medium",
        created_at=now,
        updated_at=now,
    )
    case = TestCaseOut.model_validate(
        {
            "id": 7,
            "story_id": "S-1",
            "title": _text(rng),
            "description": "",
            "preconditions": [_text(rng)],
            "priority": "low",
            "test_type": "boundary",
            "scenarios": [
                {
                    "title": _text(rng),
                    "given": [_text(rng)],
                    "when": [_text(rng)],
                    "then": [_text(rng), _text(rng)],
                }
                for _ in range(2)
            ],
            "covered_criteria": [],
            "task_id": None,
            "provider": None,
            "model": None,
            "created_at": now,
            "updated_at": now,
        }
    )
    document = parse(to_gherkin(story, [case]))
    feature = document["feature"]
    assert feature["name"] == one_line(story.title)
    expected = trim_blank_lines([line.rstrip() for line in story.description.splitlines()])
    criteria = [f"  AC{i + 1}. {one_line(c)}" for i, c in enumerate(story.acceptance_criteria)]
    got = unescape_description(feature.get("description", "")) if expected or criteria else []
    assert got[: len(expected)] == expected
    if criteria:
        assert got[-len(criteria) - 1 :] == ["Acceptance criteria:", *criteria]
    else:
        assert trim_blank_lines(got) == expected
    scenarios = [child["scenario"] for child in feature["children"]]
    assert [s["name"] for s in scenarios] == [one_line(s.title) for s in case.scenarios]
    for parsed, source in zip(scenarios, case.scenarios, strict=True):
        texts = [s["text"] for s in parsed["steps"]]
        assert texts == [one_line(t) for t in (*source.given, *source.when, *source.then)]
