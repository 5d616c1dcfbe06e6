"""The MCP server through the SDK's own client: over streamable HTTP against two real API processes
(each call of one client lands on the other process than the last), and over stdio by launching
`testgen mcp`; the whole flow from a search to a Gherkin export, then roles and projects."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest
from gherkin.parser import Parser
from httpx import AsyncClient
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, EmbeddedResource, TextContent, TextResourceContents
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.embedded_redis import free_port
from testgen.domain.roles import Role
from tests.processes.test_commands import wait_until_answers
from tests.support.accounts import add_user, bearer_token
from tests.support.harness import LONG_WAIT_S

pytestmark = pytest.mark.slow

CRITERIA = ["A reset link is sent to a known email", "The link expires after one hour"]


@dataclass
class Service:
    """Two API processes (and a worker) on one database and Redis."""

    urls: list[str]
    tmp_path: Path
    admin_token: str


class RoundRobin(httpx2.AsyncBaseTransport):
    """Sends each request to the next of `ports` in turn: one MCP client's calls land on every process."""

    def __init__(self, ports: list[int]) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.ports = itertools.cycle(ports)
        self.used: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = next(self.ports)
        request.url = request.url.copy_with(port=port)
        request.headers["host"] = f"127.0.0.1:{port}"
        self.used.append(port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
def processes(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Start `testgen <args>` against the test's database and Redis; all stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LLM_PROVIDER": "offline",
        "NO_PROXY": "127.0.0.1,localhost",
    }

    def run(*args: str) -> str:
        port = free_port()
        command = [sys.executable, "-m", "testgen", *args]
        if args[0] == "api":
            command += ["--port", str(port)]
        started.append(subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL))
        base = f"http://127.0.0.1:{port}"
        if args[0] == "api":
            wait_until_answers(f"{base}/health", LONG_WAIT_S)
        return base

    yield run
    for process in started:
        process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
async def service(
    processes: Callable[..., str],
    sessionmaker: async_sessionmaker[AsyncSession],
    redis: Redis,
    tmp_path: Path,
) -> Service:
    await add_user(sessionmaker, "admin@example.com", admin=True)
    urls = [processes("api"), processes("api")]
    processes("worker")
    async with AsyncClient(base_url=urls[0], timeout=30) as http:
        token = await bearer_token(http, "admin@example.com")
    return Service(urls, tmp_path, token)


@asynccontextmanager
async def over_http(service: Service, token: str) -> AsyncIterator[Client]:
    """An MCP client of /mcp whose every request goes to the other API process than the one before."""
    ports = [int(url.rsplit(":", 1)[1]) for url in service.urls]
    transport = RoundRobin(ports)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(transport=transport, headers=headers, timeout=60) as http,
        Client(streamable_http_client(f"{service.urls[0]}/mcp", http_client=http)) as client,
    ):
        yield client
    assert set(transport.used) == set(ports), "every API process answered"


@asynccontextmanager
async def over_stdio(service: Service, token: str) -> AsyncIterator[Client]:
    """`testgen mcp` launched as an assistant launches it, on the first API process."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "testgen", "mcp"],
        env={"TESTGEN_API_URL": service.urls[0], "TESTGEN_API_KEY": token, "NO_PROXY": "127.0.0.1"},
        cwd=service.tmp_path,
    )
    async with Client(params) as client:
        yield client


TRANSPORTS = {"http": over_http, "stdio": over_stdio}


def text_of(result: CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def add_project(http: AsyncClient, name: str) -> int:
    response = await http.post("/projects", json={"name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def add_story(http: AsyncClient, story_id: str, project_id: int) -> None:
    body = {
        "id": story_id,
        "project_id": project_id,
        "title": "Reset a forgotten password",
        "acceptance_criteria": CRITERIA,
    }
    response = await http.post("/user-stories", json=body)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("transport", sorted(TRANSPORTS))
async def test_an_assistant_searches_generates_edits_saves_and_exports(
    service: Service, transport: str
) -> None:
    headers = {"Authorization": f"Bearer {service.admin_token}"}
    async with AsyncClient(base_url=service.urls[0], headers=headers, timeout=30) as http:
        await add_story(http, "PW-1", await add_project(http, "Accounts"))

    async with TRANSPORTS[transport](service, service.admin_token) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"search_stories", "generate_test_cases", "save_draft", "export_test_cases"} <= names

        page = structured(await client.call_tool("search_stories", {"query": "forgotten"}))
        assert page["total"] == 1 and page["stories"][0]["id"] == "PW-1"

        progress: list[tuple[float, str]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, message or ""))

        arguments = {"story_id": "PW-1", "num_test_cases": 2, "scenarios_per_test_case": 2, "wait": True}
        outcome = structured(
            await client.call_tool("generate_test_cases", arguments, progress_callback=on_progress)
        )
        job = outcome["job"]
        assert job["status"] == "completed" and len(job["result"]["test_cases"]) == 2
        stages = [message.partition(":")[0] for _, message in progress]
        assert stages[0] == "queued" and stages[1] == "started" and stages[-1] == "completed", stages
        assert "progress" in stages
        values = [value for value, _ in progress]
        assert values == sorted(set(values)) and values[-1] == 100, values

        case = job["result"]["test_cases"][0]
        edited = {key: case[key] for key in ("title", "description", "preconditions", "scenarios")}
        edited |= {"title": "Reset link for a known email", "covered_criteria": [0]}
        edit = {"task_id": job["task_id"], "index": 0, "test_case": edited}
        after_edit = structured(await client.call_tool("edit_draft_test_case", edit))
        assert after_edit["job"]["result"]["test_cases"][0]["title"] == "Reset link for a known email"

        saved = structured(await client.call_tool("save_draft", {"task_id": job["task_id"]}))
        assert saved["saved"] == 2

        exported = await client.call_tool("export_test_cases", {"story_id": "PW-1", "format": "gherkin"})
        assert not exported.is_error, text_of(exported)
        resource = exported.content[0]
        assert isinstance(resource, EmbeddedResource)
        assert isinstance(resource.resource, TextResourceContents)
        assert resource.resource.mime_type == "text/x-gherkin"
        feature = Parser().parse(resource.resource.text)["feature"]
        assert feature["name"] == "Reset a forgotten password"
        scenarios = [child["scenario"] for child in feature["children"] if "scenario" in child]
        assert len(scenarios) == 4
        assert "# TC-1: Reset link for a known email" in resource.resource.text

        read = await client.read_resource("testgen://stories/PW-1/feature")
        assert [c.text for c in read.contents if isinstance(c, TextResourceContents)] == [
            resource.resource.text
        ]
        story = structured(await client.call_tool("get_story", {"story_id": "PW-1"}))
        assert len(story["test_cases"]) == 2


async def test_roles_and_projects_apply_as_on_the_rest_routes(
    service: Service, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    admin = {"Authorization": f"Bearer {service.admin_token}"}
    async with AsyncClient(base_url=service.urls[0], headers=admin, timeout=30) as http:
        accounts, billing = await add_project(http, "Accounts"), await add_project(http, "Billing")
        await add_story(http, "PW-1", accounts)
        await add_user(sessionmaker, "viewer@example.com", roles={accounts: Role.viewer})
        await add_user(sessionmaker, "other@example.com", roles={billing: Role.editor})
        viewer = await bearer_token(http, "viewer@example.com")
        other = await bearer_token(http, "other@example.com")
        refused = await http.post(
            "/generate-test-cases/PW-1/queue", json={}, headers={"Authorization": f"Bearer {viewer}"}
        )
    assert refused.status_code == 403

    async with over_http(service, viewer) as client:
        page = structured(await client.call_tool("search_stories", {}))
        assert [story["id"] for story in page["stories"]] == ["PW-1"]
        result = await client.call_tool("generate_test_cases", {"story_id": "PW-1", "wait": True})
        assert result.is_error
        assert refused.json()["detail"] in text_of(result) and "HTTP 403" in text_of(result)
        assert "Traceback" not in text_of(result)

    async with over_http(service, other) as client:
        page = structured(await client.call_tool("search_stories", {}))
        assert page["stories"] == [] and page["total"] == 0
        result = await client.call_tool("get_story", {"story_id": "PW-1"})
        assert result.is_error and "HTTP 404" in text_of(result)
        result = await client.call_tool("generate_test_cases", {"story_id": "PW-1"})
        assert result.is_error and "HTTP 404" in text_of(result)
        listed = await client.list_resources()
        assert not [r for r in listed.resources if "PW-1" in str(r.uri)]
        with pytest.raises(MCPError, match="not found"):
            await client.read_resource("testgen://stories/PW-1")
        result = await client.call_tool("search_stories", {"project_id": accounts})
        assert result.is_error and "HTTP 404" in text_of(result)

    async with httpx2.AsyncClient(timeout=30) as anonymous:
        response = await anonymous.post(f"{service.urls[1]}/mcp", json={"jsonrpc": "2.0", "id": 1})
        assert response.status_code == 401
