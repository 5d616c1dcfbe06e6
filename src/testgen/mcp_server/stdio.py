"""`testgen mcp`: the MCP server over stdio, for an assistant that launches it (Claude Desktop and the
like), talking to a running API over HTTP with the user's token. stdout carries the protocol only:
logs go to stderr."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from testgen.mcp_server.remote import remote_api
from testgen.mcp_server.rest import Api
from testgen.mcp_server.server import build_server


async def serve_stdio(base_url: str, token: str | None) -> None:
    """Serve one assistant on stdin/stdout until it closes them; every tool call reaches `base_url`."""
    async with remote_api(base_url, token) as shared:

        @asynccontextmanager
        async def connect(_request: Any) -> AsyncIterator[Api]:
            yield shared

        await build_server(connect).run_stdio_async()


def run_stdio(base_url: str, token: str | None) -> int:
    asyncio.run(serve_stdio(base_url, token))
    return 0
