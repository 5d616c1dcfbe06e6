"""Techniques through the API and the worker: named at queueing (single and bulk), a project's default,
recorded in the result and on every scenario; the built-in mix when none is named."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient

from tests.support.helpers import is_status, make_story, wait_for_job


async def _draft(client: AsyncClient, story_id: str, body: dict[str, Any] | None) -> dict[str, Any]:
    r = await client.post(f"/generate-test-cases/{story_id}/queue", json=body)
    assert r.status_code == 202, r.text
    done = is_status("completed", "failed")
    status = await wait_for_job(client, r.json()["status_url"], done, what="draft")
    assert status["status"] == "completed", status
    return dict(status["result"])


def _techniques(result: dict[str, Any]) -> list[list[str | None]]:
    return [[s.get("technique") for s in case["scenarios"]] for case in result["test_cases"]]


async def test_named_techniques_label_every_scenario(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-1")
    body = {"num_test_cases": 3, "scenarios_per_test_case": 2, "techniques": ["boundary_values", "pairwise"]}
    result = await _draft(client, "US-1", body)
    assert result["techniques"] == ["boundary_values", "pairwise"]
    assert _techniques(result) == [["boundary_values"] * 2, ["pairwise"] * 2, ["boundary_values"] * 2]
    assert result["quality"]["scenarios_per_technique"] == {"boundary_values": 4, "pairwise": 2}
    assert result["quality"]["criteria"][0]["techniques"] == {"boundary_values": 2}


async def test_no_technique_named_keeps_the_default(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-1")
    result = await _draft(client, "US-1", {"num_test_cases": 2, "scenarios_per_test_case": 2})
    assert "techniques" not in result
    assert _techniques(result) == [[None, None], [None, None]]
    assert "scenarios_per_technique" not in result["quality"]


async def test_a_projects_default_applies_when_none_is_named(client: AsyncClient, worker: object) -> None:
    story = await make_story(client, "US-1")
    project = f"/projects/{story['project_id']}"
    r = await client.patch(project, json={"default_techniques": ["error_guessing", "error_guessing"]})
    assert r.status_code == 200 and r.json()["default_techniques"] == ["error_guessing"]
    result = await _draft(client, "US-1", {"num_test_cases": 2, "scenarios_per_test_case": 1})
    assert result["techniques"] == ["error_guessing"]
    assert _techniques(result) == [["error_guessing"], ["error_guessing"]]
    named = {"num_test_cases": 1, "scenarios_per_test_case": 1, "techniques": ["happy_path"]}
    assert _techniques(await _draft(client, "US-1", named)) == [["happy_path"]]
    r = await client.patch(project, json={"default_techniques": []})
    assert r.status_code == 200 and r.json()["default_techniques"] is None
    result = await _draft(client, "US-1", {"num_test_cases": 1, "scenarios_per_test_case": 1})
    assert _techniques(result) == [[None]]


async def test_bulk_queueing_takes_techniques(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-1")
    await make_story(client, "US-2")
    body = {"story_ids": ["US-1", "US-2"], "num_test_cases": 1, "techniques": ["decision_table"]}
    r = await client.post("/generate-test-cases/queue", json=body)
    assert r.status_code == 202, r.text
    for job in r.json()["jobs"]:
        status = await wait_for_job(client, job["status_url"], is_status("completed"), what="draft")
        assert status["options"]["techniques"] == ["decision_table"]
        assert {s["technique"] for s in status["result"]["test_cases"][0]["scenarios"]} == {"decision_table"}


async def test_unknown_or_repeated_techniques_are_refused(client: AsyncClient) -> None:
    await make_story(client, "US-1")
    for techniques in (["guessing"], ["pairwise", "pairwise"], [], "pairwise"):
        r = await client.post("/generate-test-cases/US-1/queue", json={"techniques": techniques})
        assert r.status_code == 422, techniques
    r = await client.patch("/projects/1", json={"default_techniques": ["nope"]})
    assert r.status_code == 422
