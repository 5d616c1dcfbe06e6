"""Pairwise Examples: every pair of values of any two parameters is in some row, in fewer rows than
the full product; from the offline provider's extraction, a model's parameters, or typed parameters."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import Any

import pytest
from httpx import AsyncClient

from testgen.domain.techniques import Technique
from testgen.domain.test_cases import Parameter
from testgen.generation.llm.base import StoryText, parse_batch_output
from testgen.generation.llm.offline import build_test_case
from testgen.generation.llm.offline_techniques import parameters
from testgen.generation.llm.prompt import build_prompt, response_schema
from testgen.generation.pairwise import all_pairs, missing_pairs
from testgen.generation.planning import plan_batches
from tests.support.helpers import is_status, make_story, wait_for_job


def every_pair_appears(params: Sequence[Parameter], header: list[str], rows: list[list[str]]) -> bool:
    """Checked on its own, without the module's missing_pairs."""
    column = {name: i for i, name in enumerate(header)}
    for first, second in itertools.combinations(params, 2):
        seen = {(row[column[first.name]], row[column[second.name]]) for row in rows}
        if seen != set(itertools.product(first.values, second.values)):
            return False
    return True


def params(*sizes: int) -> list[Parameter]:
    return [Parameter(name=f"p{k}", values=[f"v{k}.{i}" for i in range(n)]) for k, n in enumerate(sizes)]


@pytest.mark.parametrize(
    ("sizes", "most"),
    [((3, 4, 5), 20), ((3, 3, 3, 3), 9), ((2,) * 10, 8), ((5, 5, 4, 3, 2), 25), ((2, 3, 4, 5, 6), 31)],
)
def test_every_pair_appears_in_fewer_rows(sizes: tuple[int, ...], most: int) -> None:
    found = params(*sizes)
    table = all_pairs(found)
    assert every_pair_appears(found, table.header, table.rows)
    assert missing_pairs(found, table.rows) == []
    assert len(table.rows) <= most < table.full_product
    assert table.sizes == list(sizes)


def test_the_summary_says_rows_against_the_full_product() -> None:
    table = all_pairs(params(3, 4, 5))
    assert table.full_product == 60
    assert table.summary() == "20 rows cover every pair of 3x4x5 = 60 combinations"
    one = all_pairs(params(4))
    assert one.rows == [["v0.0"], ["v0.1"], ["v0.2"], ["v0.3"]] and one.full_product == 4


def test_the_missing_pair_check_finds_a_gap() -> None:
    found = params(2, 2)
    assert missing_pairs(found, [["v0.0", "v1.0"], ["v0.1", "v1.1"]]) == [
        ("p0", "v0.0", "p1", "v1.1"),
        ("p0", "v0.1", "p1", "v1.0"),
    ]


CHECKOUT = [
    "Payment by card, PayPal or bank transfer",
    "Delivery to Spain, Portugal, France or Italy",
    "Shipping is standard, express, next-day, same-day or pickup",
]


def test_offline_pairwise_extracts_parameters_and_covers_every_pair() -> None:
    story = StoryText(id="S", title="Checkout", description="", acceptance_criteria=CHECKOUT)
    batch = plan_batches(story, 1, 3, 15, techniques=[Technique.pairwise])[0]
    case = build_test_case(batch, batch.slots[0])
    assert case.parameters is not None
    sizes = [(p.name, len(p.values)) for p in case.parameters]
    assert sizes == [("payment", 3), ("delivery", 4), ("shipping", 5)]
    outline = case.scenarios[0]
    assert outline.examples is not None and outline.technique is Technique.pairwise
    assert every_pair_appears(case.parameters, outline.examples.header, outline.examples.rows)
    assert len(outline.examples.rows) == 20
    assert "20 rows cover every pair of 3x4x5 = 60 combinations" in case.description
    assert all(s.examples is None for s in case.scenarios[1:])  # a value outside each parameter's


def test_a_story_naming_too_few_parameters_gets_the_usual_ones() -> None:
    found = parameters(["The user signs in"], "es")
    assert [p.name for p in found] == ["navegador", "dispositivo"]
    assert [p.name for p in parameters(["Pay by card or cash"], "en")] == ["pay", "browser"]


def _answer(case: dict[str, Any]) -> str:
    base = {"title": "c", "description": "", "preconditions": [], "priority": "high", "covered_criteria": [0]}
    return json.dumps({"test_cases": [{**base, **case}]})


def test_a_models_pairwise_table_is_completed_to_every_pair() -> None:
    story = StoryText(id="S", title="Checkout", description="", acceptance_criteria=CHECKOUT)
    batch = plan_batches(story, 1, 1, 15, techniques=[Technique.pairwise])[0]
    prompt = build_prompt(batch)
    assert "lists the inputs it varies in parameters" in prompt
    schema = response_schema(batch)["properties"]["test_cases"]["items"]
    assert "parameters" in schema["required"]
    given = [
        {"name": "os", "values": ["iOS", "Android"]},
        {"name": "browser", "values": ["Chrome", "Firefox", "Safari"]},
        {"name": "lang", "values": ["en", "es"]},
    ]
    outline = {
        "title": "Pay on <os>",
        "given": ["<os> with <browser> in <lang>"],
        "when": ["the user pays"],
        "then": ["it works"],
        "examples": {"header": ["os", "browser", "lang"], "rows": [["iOS", "Chrome", "en"]]},
    }
    case = parse_batch_output(_answer({"parameters": given, "scenarios": [outline]}), batch)[0]
    examples = case.scenarios[0].examples
    assert examples is not None and len(examples.rows) >= 6
    assert every_pair_appears(case.parameters or [], examples.header, examples.rows)
    no_table = {**outline, "examples": None}
    case = parse_batch_output(_answer({"parameters": given, "scenarios": [no_table]}), batch)[0]
    assert case.scenarios[0].examples is not None
    assert case.scenarios[0].examples.header == ["os", "browser", "lang"]


async def test_the_review_dialogs_pairwise_endpoint(client: AsyncClient) -> None:
    body = {
        "parameters": [
            {"name": "a", "values": ["1", "2", "3"]},
            {"name": "b", "values": ["x", "y", "z", "w"]},
            {"name": "c", "values": ["p", "q", "r", "s", "t"]},
        ]
    }
    r = await client.post("/test-design/pairwise", json=body)
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["full_product"] == 60 and answer["sizes"] == [3, 4, 5] and len(answer["rows"]) == 20
    assert answer["summary"] == "20 rows cover every pair of 3x4x5 = 60 combinations"
    typed = [Parameter.model_validate(p) for p in body["parameters"]]
    assert every_pair_appears(typed, answer["header"], answer["rows"])
    for bad in (
        {"parameters": []},
        {"parameters": [{"name": "a", "values": ["1"]}, {"name": "a", "values": ["2"]}]},
        {"parameters": [{"name": "a", "values": ["1", "1"]}]},
        {"parameters": [{"name": "a<b", "values": ["1"]}]},
        {"parameters": [{"name": f"p{i}", "values": ["1"]} for i in range(11)]},
    ):
        assert (await client.post("/test-design/pairwise", json=bad)).status_code == 422, bad


async def test_a_pairwise_draft_saves_its_outline(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-1")
    body = {"num_test_cases": 1, "scenarios_per_test_case": 1, "techniques": ["pairwise"]}
    r = await client.post("/generate-test-cases/US-1/queue", json=body)
    status = await wait_for_job(client, r.json()["status_url"], is_status("completed"), what="the draft")
    case = status["result"]["test_cases"][0]
    assert [p["name"] for p in case["parameters"]] == ["browser", "device"]
    r = await client.post(f"/generate-test-cases/{r.json()['task_id']}/save", json={"test_cases": [case]})
    assert r.status_code == 201, r.text
    saved = (await client.get("/user-stories/US-1/test-cases")).json()[0]
    assert saved["scenarios"][0]["examples"]["header"] == ["browser", "device"]
    assert len(saved["scenarios"][0]["examples"]["rows"]) == 9 and "parameters" not in saved


def test_the_offline_summary_is_in_the_storys_language() -> None:
    criteria = ["Pago con tarjeta, PayPal o transferencia", "Envío a España, Portugal, Francia o Italia"]
    story = StoryText(id="S", title="Pago", description="", acceptance_criteria=criteria, language="es")
    batch = plan_batches(story, 1, 1, 15, techniques=[Technique.pairwise])[0]
    case = build_test_case(batch, batch.slots[0])
    assert "12 filas cubren cada par de 3x4 = 12 combinaciones." in case.description
