"""The tools the whole-flow test does not drive: projects, stories written, jobs read and cancelled, a
test case regenerated, a Jira import refused, the review prompt and the resource listing; stories
imported from Jira (with their comments) and from GitHub; the review gate kept by save_draft; what every
tool's listing states."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from mcp import Client
from mcp.types import CallToolResult, TextContent

from testgen.core.config import Settings
from testgen.mcp_server.server import build_server
from tests.support.fake_github import FakeGitHub
from tests.support.fake_github import issue as github_issue
from tests.support.fake_jira import FakeJira, adf, comments, heading, issue, ordered
from tests.worker.test_jira_import import use_jira


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def test_stories_written_and_jobs_followed_through_the_tools(mcp_url: str, worker: Any) -> None:
    async with AsyncClient(base_url=mcp_url, timeout=30) as http:
        project = (await http.post("/projects", json={"name": "Shop"})).json()["id"]
    async with Client(f"{mcp_url}/mcp") as client:
        projects = structured(await client.call_tool("list_projects", {}))
        assert [p["name"] for p in projects["projects"]] == ["Shop"]

        story = {
            "id": "US-7",
            "title": "Pay by card",
            "project_id": project,
            "acceptance_criteria": ["The card is charged once", "A declined card shows why"],
            "priority": "high",
        }
        created = structured(await client.call_tool("create_story", story))
        assert created["id"] == "US-7" and created["priority"] == "high"
        again = await client.call_tool("create_story", story)
        assert again.is_error and "(HTTP 409)" in text_of(again)
        changed = structured(await client.call_tool("update_story", {"story_id": "US-7", "title": "Pay"}))
        assert changed["title"] == "Pay" and changed["revision"] >= 1
        nothing = await client.call_tool("update_story", {"story_id": "US-7"})
        assert nothing.is_error

        queued = structured(await client.call_tool("generate_test_cases", {"story_id": "US-7"}))
        task = queued["queued"]["task_id"]
        assert queued["job"] is None
        draft = structured(await client.call_tool("generate_test_cases", {"story_id": "US-7", "wait": True}))[
            "job"
        ]
        if draft["task_id"] != task:  # the first one ended before the second call: a new job
            task = draft["task_id"]
        state = structured(await client.call_tool("get_job", {"task_id": task}))["job"]
        assert state["status"] == "completed" and state["kind"] == "generate"

        regenerated = structured(
            await client.call_tool("regenerate_test_case", {"task_id": task, "index": 0, "wait": True})
        )
        assert regenerated["queued"]["parent_id"] == task
        assert regenerated["draft"]["result"]["test_cases"][0]["title"]

        prompt = await client.get_prompt("review_draft", {"task_id": task})
        message = prompt.messages[0].content
        assert isinstance(message, TextContent)
        assert "The card is charged once" in message.text and task in message.text

        listed = await client.list_resources()
        assert {str(r.uri) for r in listed.resources} == {
            "testgen://stories/US-7",
            "testgen://stories/US-7/feature",
        }

        finished = await client.call_tool("cancel_job", {"task_id": task})
        assert finished.is_error and "(HTTP 409)" in text_of(finished)
        unknown = await client.call_tool("get_job", {"task_id": "0f0f0f0f-0000-0000-0000-000000000000"})
        assert unknown.is_error and "(HTTP 404)" in text_of(unknown)

        jira = await client.call_tool("import_from_jira", {"project_id": project, "jql": "project = SHOP"})
        assert jira.is_error and "Jira" in text_of(jira) and "(HTTP 503)" in text_of(jira)


@pytest.fixture
def jira(settings: Settings) -> Iterator[FakeJira]:
    criteria = adf(heading("Acceptance criteria"), ordered("Cards are accepted", "Receipts are mailed"))
    note = ("2026-03-01T09:00:00.000+0000", "Cards only")
    with FakeJira(
        deployment="cloud", issues=[issue("SHOP-1", "Pay", criteria, "High", comment=comments(note))]
    ) as fake:
        use_jira(settings, fake)
        yield fake


async def test_stories_are_imported_from_jira_with_context_and_from_github(
    jira: FakeJira, mcp_url: str, worker: Any
) -> None:
    with FakeGitHub(
        issues=[github_issue(1, "Pay by card", "- [ ] Cards are accepted", labels=("story",))]
    ) as github:
        async with AsyncClient(base_url=mcp_url, timeout=30) as http:
            project = (await http.post("/projects", json={"name": "Shop"})).json()["id"]
            body = {
                **github.settings,
                "token": github.token,
                "name": "Issues",
                "requests_per_minute": 100_000,
            }
            connected = await http.post(f"/projects/{project}/connections", json=body)
            assert connected.status_code == 201, connected.text
        async with Client(f"{mcp_url}/mcp") as client:
            arguments = {"project_id": project, "jql": "project = SHOP", "with": ["comments"], "wait": True}
            imported = structured(await client.call_tool("import_from_jira", arguments))
            assert imported["job"]["options"]["include"] == ["comments"]
            assert imported["job"]["result"]["counts"]["created"] == 1
            assert "comment" in jira.requests[-1].body["fields"]
            story = structured(await client.call_tool("get_story", {"story_id": "SHOP-1"}))["story"]
            assert story["comments"] == ["Cards only"]

            arguments = {"project_id": project, "source": "github", "labels": ["story"], "wait": True}
            imported = structured(await client.call_tool("import_from_jira", arguments))
            assert imported["job"]["options"]["source"] == "github"
            assert imported["job"]["result"]["counts"]["created"] == 1

            other = {"project_id": project, "source": "github", "jql": "project = SHOP"}
            refused = await client.call_tool("import_from_jira", other)
            assert refused.is_error and "jql" in text_of(refused) and "(HTTP 422)" in text_of(refused)
            python_name = {"project_id": project, "jql": "project = SHOP", "with_": ["comments"]}
            refused = await client.call_tool("import_from_jira", python_name)
            assert refused.is_error and "Unknown arguments of import_from_jira: with_" in text_of(refused)


async def test_every_tool_states_its_cost_and_the_schemas_of_its_input_and_answer() -> None:
    async with Client(build_server(_no_api)) as client:
        tools = (await client.list_tools()).tools
    for tool in tools:
        assert "model call" in (tool.description or ""), tool.name
        assert tool.input_schema["additionalProperties"] is False, tool.name
        assert tool.input_schema["properties"], tool.name
        if tool.name == "export_test_cases":  # a file: an embedded resource
            assert tool.output_schema is None
        else:
            assert tool.output_schema is not None and tool.output_schema["properties"], tool.name


def _no_api(_request: object) -> Any:
    raise AssertionError("listing the tools calls no API")


async def test_save_draft_keeps_the_review_gate_which_review_draft_walks(mcp_url: str, worker: Any) -> None:
    async with AsyncClient(base_url=mcp_url, timeout=30) as http:
        project = (await http.post("/projects", json={"name": "Gated"})).json()["id"]
        gated = await http.patch(f"/projects/{project}", json={"review_required": True})
        assert gated.status_code == 200, gated.text
        body = {"id": "US-9", "project_id": project, "title": "Pay", "acceptance_criteria": ["A charge"]}
        assert (await http.post("/user-stories", json=body)).status_code == 201
    async with Client(f"{mcp_url}/mcp") as client:
        arguments = {"story_id": "US-9", "num_test_cases": 1, "wait": True}
        job = structured(await client.call_tool("generate_test_cases", arguments))["job"]
        refused = await client.call_tool("save_draft", {"task_id": job["task_id"]})
        assert refused.is_error and "requires a review" in text_of(refused)
        assert text_of(refused).endswith("(HTTP 409)")
        story = structured(await client.call_tool("get_story", {"story_id": "US-9"}))
        assert story["test_cases"] == []
        task = {"task_id": job["task_id"]}
        submitted = structured(await client.call_tool("review_draft", {**task, "action": "submit"}))
        assert submitted["job"]["review"]["state"] == "in_review"
        changes = {**task, "action": "request_changes", "test_case_comments": {"0": "Name the card"}}
        sent_back = structured(await client.call_tool("review_draft", changes))["job"]["review"]
        assert sent_back["state"] == "changes_requested"
        assert sent_back["steps"][-1]["test_case_comments"] == {"0": "Name the card"}
        await client.call_tool("review_draft", {**task, "action": "submit"})
        approved = structured(await client.call_tool("review_draft", {**task, "action": "approve"}))
        assert approved["job"]["review"]["state"] == "approved"
        assert structured(await client.call_tool("save_draft", task))["saved"]
