"""What the MCP tests share: the API with its MCP server behind a real uvicorn."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.mcp_server.mounted import create_app
from tests.support.harness import wait_for


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The API with its MCP server behind a real uvicorn; yields the server's base URL. The lifespan and
    the server run in one task of their own (the MCP session manager's task group is left where it was
    entered)."""
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            await server.serve()

    task = asyncio.create_task(run())
    await wait_for(lambda: server.started or task.done(), what="uvicorn to start")
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def mcp_url(settings: Settings, redis: Redis) -> AsyncIterator[str]:
    async with serving(settings) as url:
        yield url
