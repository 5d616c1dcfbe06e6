"""The MCP server's errors are the API's, as tool errors (never a trace), and its inputs are checked as
strictly as the REST bodies; the assistants page names every tool, its snippets are valid JSON and its
Python client runs against the server."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from httpx import AsyncClient
from mcp import Client
from mcp.types import CallToolResult, TextContent
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from testgen.data import usage
from testgen.data.models import LLMUsage
from testgen.mcp_server.server import build_server
from tests.assistants.conftest import serving
from tests.support.harness import LONG_WAIT_S, ROOT


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


async def add_story(http: AsyncClient, story_id: str, **project: Any) -> int:
    answer = await http.post("/projects", json={"name": f"Project of {story_id}", **project})
    assert answer.status_code == 201, answer.text
    project_id = int(answer.json()["id"])
    body = {
        "id": story_id,
        "project_id": project_id,
        "title": "Pay",
        "acceptance_criteria": ["Card is charged"],
    }
    assert (await http.post("/user-stories", json=body)).status_code == 201
    return project_id


async def test_a_rate_limit_is_a_tool_error_with_the_apis_message_and_retry_hint(
    settings: Settings, redis: Redis
) -> None:
    settings.max_jobs_in_flight_per_key = 1  # no worker runs: the first job stays in flight
    async with serving(settings) as mcp_url, AsyncClient(base_url=mcp_url, timeout=30) as http:
        for story in ("US-1", "US-2", "US-3"):
            await add_story(http, story)
        async with Client(f"{mcp_url}/mcp") as client:
            first = await client.call_tool("generate_test_cases", {"story_id": "US-1"})
            assert not first.is_error, text_of(first)
            assert first.structured_content is not None
            assert first.structured_content["queued"]["status"] == "queued"
            refused = await client.call_tool("generate_test_cases", {"story_id": "US-2", "wait": True})
        rest = await http.post("/generate-test-cases/US-3/queue", json={})
    assert rest.status_code == 429
    assert refused.is_error
    assert text_of(refused).endswith(
        f"{rest.json()['detail']} (HTTP 429; retry after {rest.headers['retry-after']} s)"
    )


async def test_a_provider_not_configured_is_a_tool_error(settings: Settings, redis: Redis) -> None:
    settings.llm_provider = "gemini"
    settings.gemini_api_key = None
    async with serving(settings) as mcp_url, AsyncClient(base_url=mcp_url, timeout=30) as http:
        await add_story(http, "US-1")
        rest = await http.post("/generate-test-cases/US-1/queue", json={})
        async with Client(f"{mcp_url}/mcp") as client:
            result = await client.call_tool("generate_test_cases", {"story_id": "US-1"})
    assert rest.status_code == 503
    assert result.is_error and f"{rest.json()['detail']} (HTTP 503" in text_of(result)


async def test_a_spent_budget_is_a_tool_error(
    mcp_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with AsyncClient(base_url=mcp_url, timeout=30) as http:
        project_id = await add_story(http, "US-1")
        budget = await http.patch(f"/projects/{project_id}", json={"token_budget_daily": 1000})
        assert budget.status_code == 200, budget.text
        async with sessionmaker() as session, session.begin():
            session.add(
                LLMUsage(
                    project_id=project_id,
                    task_id="spent",
                    day=usage.today(),
                    provider="gemini",
                    model="gemini-2.5-flash",
                    total_tokens=1000,
                )
            )
        async with Client(f"{mcp_url}/mcp") as client:
            refused = await client.call_tool("generate_test_cases", {"story_id": "US-1", "wait": True})
        rest = await http.post("/generate-test-cases/US-1/queue", json={})
    assert rest.status_code == 429
    assert refused.is_error and f"{rest.json()['detail']} (HTTP 429; retry after" in text_of(refused)


@pytest.mark.parametrize(
    "arguments",
    [
        {"story_id": "US-1", "num_test_cases": "3"},  # a string is not a number, as in a REST body
        {"story_id": "US-1", "num_test_cases": True},
        {"story_id": "US-1", "num_test_cases": 1.5},
        {"story_id": "US-1", "num_test_cases": 10_000},
        {"story_id": "../projects"},
        {"story_id": "US-1", "surprise": 1},
        {"story_id": "US-1", "wait": "yes"},
    ],
)
async def test_inputs_are_checked_as_strictly_as_the_rest_bodies(
    mcp_url: str, arguments: dict[str, Any]
) -> None:
    async with AsyncClient(base_url=mcp_url, timeout=30) as http:
        await add_story(http, "US-1")
        async with Client(f"{mcp_url}/mcp") as client:
            result = await client.call_tool("generate_test_cases", arguments)
        drafts = (await http.get("/user-stories/US-1/drafts")).json()
    assert result.is_error and "Traceback" not in text_of(result)
    assert drafts == []


async def test_an_unknown_story_is_not_found(mcp_url: str) -> None:
    async with Client(f"{mcp_url}/mcp") as client:
        result = await client.call_tool("get_story", {"story_id": "US-404"})
    assert result.is_error and text_of(result).endswith("User story US-404 not found (HTTP 404)")


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "probe", "version": "1"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


async def test_the_hosts_of_allowed_hosts_reach_mcp_and_others_do_not(
    settings: Settings, redis: Redis
) -> None:
    settings.allowed_hosts = "testgen.example.com"
    async with serving(settings) as url, AsyncClient(base_url=url, timeout=30) as http:
        allowed = await http.post(
            "/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": "testgen.example.com:8443"}
        )
        other = await http.post("/mcp", json=INITIALIZE, headers={**MCP_HEADERS, "Host": "evil.example"})
    assert allowed.status_code == 200, allowed.text
    assert other.status_code in (400, 421)


async def test_the_assistants_page_names_every_tool_and_its_snippets_are_json() -> None:
    page = (ROOT / "docs" / "user-guide" / "assistants.md").read_text()
    async with Client(build_server(_no_api)) as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", page, flags=re.MULTILINE))
    assert documented == tools
    snippets = re.findall(r"```json\n(.*?)```", page, flags=re.DOTALL)
    assert len(snippets) == 2
    claude, vscode = (json.loads(snippet) for snippet in snippets)
    assert claude["mcpServers"]["testgen"]["args"] == ["mcp"]
    assert vscode["servers"]["testgen"]["url"].endswith("/mcp")


def _no_api(_request: object) -> Any:
    raise AssertionError("listing the tools calls no API")


async def test_the_assistants_pages_python_client_runs_against_the_server(
    settings: Settings, redis: Redis, worker: Any, tmp_path: Path
) -> None:
    key = "a-service-key-of-the-page-0001"
    settings.api_keys = SecretStr(key)
    page = (ROOT / "docs" / "user-guide" / "assistants.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    async with serving(settings) as url, AsyncClient(base_url=url, timeout=30) as http:
        http.headers["Authorization"] = f"Bearer {key}"
        answer = await http.post("/projects", json={"name": "Shop"})
        body = {
            "id": "US-001",
            "project_id": answer.json()["id"],
            "title": "Checkout with a saved card",
            "acceptance_criteria": ["The saved card is charged", "A receipt is mailed"],
        }
        assert (await http.post("/user-stories", json=body)).status_code == 201
        script = tmp_path / "client.py"
        script.write_text(
            snippet.replace("http://localhost:8000", url).replace("tgp_your_personal_token", key)
        )
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
        )
        out, err = await asyncio.wait_for(process.communicate(), LONG_WAIT_S)
    assert process.returncode == 0, err.decode()[-3000:]
    lines = out.decode().splitlines()
    assert "'id': 'US-001'" in lines[0]
    assert "queued" in lines[1] and "100.0% completed" in lines[-2]
    assert "'status': 'completed'" in lines[-1]
