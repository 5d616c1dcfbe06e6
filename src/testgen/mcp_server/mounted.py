"""The MCP server inside every API process, at `/mcp` (streamable HTTP, stateless: any process answers
any call). The request to `/mcp` passed the API's middleware (authentication, limits, hosts); each tool
calls the REST routes in-process with the caller's credentials (httpx's ASGI transport on the app), and
follows a job's events from this process's event hub, as the SSE route does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx
from fastapi import FastAPI
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.routing import Route

from testgen.api.app import create_app as create_api_app
from testgen.api.rate_limits import principal_of, stream_limit_error
from testgen.core.config import Settings
from testgen.data.models import GenerationJob
from testgen.mcp_server.rest import Api, ApiError, JobEvent, read_event
from testgen.mcp_server.server import build_server
from testgen.streaming.job_streams import open_stream

MCP_PATH = "/mcp"
# The request headers a tool's REST call carries on: who is asking, and how they want answers.
FORWARDED = (
    "authorization",
    "cookie",
    "x-csrf-token",
    "host",
    "origin",
    "sec-fetch-site",
    "accept-language",
    "user-agent",
)
MAX_RESUMES = 20  # of one job's event stream cut off (a client too slow, a Redis hiccup)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API with its MCP server at `/mcp`; the app's lifespan runs the MCP session manager."""
    settings = settings or Settings()
    app = create_api_app(settings)
    server = build_server(in_process_api)
    server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=True,
        json_response=False,
        transport_security=transport_security(settings),
    )
    manager = server.session_manager
    endpoint = StreamableHTTPASGIApp(manager)
    app.router.routes.append(Route(MCP_PATH, endpoint=endpoint, methods=["GET", "POST", "DELETE"]))
    api_lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        async with api_lifespan(application) as state, manager.run():
            yield state

    app.router.lifespan_context = lifespan
    return app


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """The MCP transport's Host and Origin checks, the API's own: with API_KEYS any host (the bearer
    token guards the API); without, the hosts of ALLOWED_HOSTS (with any port; `*`: any host) and the
    origins of CORS_ORIGINS, besides this machine's."""
    hosts = settings.allowed_host_list
    if settings.api_key_list or "*" in hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    names = [f"[{h}]" if ":" in h and not h.startswith("[") else h for h in hosts]
    local = [f"http://{n}:*" for n in names] + [f"http://{n}" for n in names]
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[*names, *(f"{n}:*" for n in names)],
        allowed_origins=[*local, *settings.cors_origin_list],
    )


@asynccontextmanager
async def in_process_api(request: Any) -> AsyncIterator[Api]:
    """The REST API of the app that received `request` (the MCP call), as its caller."""
    if not isinstance(request, Request):
        raise ToolError("This tool needs the HTTP request it was called with")
    app = request.scope["app"]
    client = request.scope.get("client") or ("127.0.0.1", 0)
    headers = {k: v for k, v in request.headers.items() if k in FORWARDED}
    transport = httpx.ASGITransport(app=app, client=(str(client[0]), int(client[1])))
    base = f"{request.url.scheme}://{request.url.netloc or 'testgen'}"
    async with httpx.AsyncClient(
        transport=transport, base_url=base, headers=headers, trust_env=False, timeout=None
    ) as http:
        yield Api(http, HubEvents(app, request.scope))


class HubEvents:
    """A job's events from this process's event hub (the reader the SSE route uses), once the REST
    status call said the caller may read the job; the caller's open streams count against
    MAX_STREAMS_PER_KEY as theirs do."""

    def __init__(self, app: FastAPI, scope: Any) -> None:
        self.app = app
        self.scope = scope

    async def follow(self, api: Api, task_id: str) -> AsyncIterator[JobEvent]:
        await api.job(task_id)  # the access check: another project's job is a 404
        state = self.app.state
        cursor: str | None = None
        for _ in range(MAX_RESUMES):
            async with state.read_sessionmaker() as session:
                row = await session.get(GenerationJob, task_id)
            if row is None:  # deleted with its story meanwhile
                await api.job(task_id)
                raise ToolError(f"Job {task_id} is gone")
            limit = state.settings.max_streams_per_key
            slot = state.hub.take_slot(principal_of(self.scope), limit)
            if slot is None:
                error = stream_limit_error(limit)
                raise ApiError(429, error.message, error.retry_after_s)
            try:
                stream = await open_stream(
                    state.hub, state.store, [row], [cursor], multiplexed=False, slot=slot
                )
            finally:
                if not slot.held:
                    slot.release()
            if stream is None:  # the job ended before: its final state is the job's
                job = await api.job(task_id)
                yield JobEvent(job.status, job)
                return
            async with contextlib.aclosing(cast(AsyncGenerator[bytes, None], aiter(stream))) as chunks:
                async for chunk in chunks:
                    parsed = parse_event(chunk)
                    if parsed is None:
                        continue
                    cursor, name, data = parsed
                    event = read_event(name, data)
                    yield event
                    if event.final:
                        return
        raise ToolError(f"The events of job {task_id} kept being cut off; ask get_job for its state")


def parse_event(chunk: bytes) -> tuple[str, str, str] | None:
    """An event's id, name and data from one SSE chunk of a single-job stream; None for a comment
    or a retry hint."""
    ident = name = data = None
    for line in chunk.decode().split("\n"):
        field, _, value = line.partition(": ")
        if field == "id":
            ident = value
        elif field == "event":
            name = value
        elif field == "data":
            data = value
    if ident is None or name is None or data is None:
        return None
    return ident, name, data
