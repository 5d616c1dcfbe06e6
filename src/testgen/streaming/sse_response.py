"""The HTTP response that carries a job event stream."""

from __future__ import annotations

import asyncio

from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from testgen.streaming.job_streams import JobStream

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class EventStreamResponse(StreamingResponse):
    """A StreamingResponse without Starlette's task group per response (two extra tasks, a cancel
    scope and their events, per connection): with thousands of subscribers on one process that is
    a large share of the memory and of the work per broadcast event. One small task notices the
    client leaving and ends the stream at once.
    """

    media_type = "text/event-stream"

    def __init__(self, stream: JobStream) -> None:
        super().__init__(stream, headers=SSE_HEADERS)
        self.stream = stream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        watcher = asyncio.create_task(self._watch(receive))
        try:
            await self.stream_response(send)
        finally:
            watcher.cancel()

    async def _watch(self, receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.stream.close()
