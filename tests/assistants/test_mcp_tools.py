"""The tools the whole-flow test does not drive: projects, stories written, jobs read and cancelled, a
test case regenerated, a Jira import refused, the review prompt and the resource listing."""

from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from mcp import Client
from mcp.types import CallToolResult, TextContent


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
