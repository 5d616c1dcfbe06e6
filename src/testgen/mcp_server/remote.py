"""The API over HTTP, as `testgen mcp` (stdio) reaches it: TESTGEN_API_URL with the caller's token, job
events read from the API's own event stream (resumed with Last-Event-ID when a connection drops)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import quote

import httpx
from httpx_sse import aconnect_sse
from mcp.server.mcpserver.exceptions import ToolError

from testgen.mcp_server.rest import Api, JobEvent, api_error, read_event

# Reconnections of one job's event stream before the tool gives up (each resumes where the last ended).
MAX_RECONNECTS = 20
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# An event stream sends a comment at least every SSE_PING_INTERVAL_S: a read this long means it is gone.
STREAM_TIMEOUT = httpx.Timeout(30.0, connect=10.0, read=60.0)


class SseEvents:
    """A job's events from `GET /generate-test-cases/status/{id}/events` (the API checks the caller)."""

    async def follow(self, api: Api, task_id: str) -> AsyncIterator[JobEvent]:
        path = f"/generate-test-cases/status/{quote(task_id, safe='')}/events"
        last_id: str | None = None
        for _ in range(MAX_RECONNECTS):
            headers = {"Last-Event-ID": last_id} if last_id else {}
            try:
                async with aconnect_sse(
                    api.client, "GET", path, headers=headers, timeout=STREAM_TIMEOUT
                ) as source:
                    response = source.response
                    if response.status_code == 204:  # ended before: its final state is the job's
                        job = await api.job(task_id)
                        yield JobEvent(job.status, job)
                        return
                    if response.status_code != 200:
                        await response.aread()
                        raise api_error(response)
                    async for sse in source.aiter_sse():
                        if not sse.event or sse.event == "message" or not sse.data:
                            continue
                        last_id = sse.id or last_id
                        event = read_event(sse.event, sse.data)
                        yield event
                        if event.final:
                            return
            except httpx.TransportError:
                continue  # the stream dropped (an API process restarted): resume after the last event
        raise ToolError(f"The event stream of job {task_id} kept dropping; ask get_job for its state")


@asynccontextmanager
async def remote_api(base_url: str, token: str | None) -> AsyncIterator[Api]:
    """An API client of `base_url` sending `token` as a bearer token."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=base_url.rstrip("/"), headers=headers, timeout=TIMEOUT) as client:
        yield Api(client, SseEvents())
