"""Compression on a real uvicorn: the page, its scripts and styles and the JSON come gzipped when the
client asks; an event stream never does, and its events arrive while it is open."""

from __future__ import annotations

import asyncio
import gzip

from httpx import AsyncClient

from tests.support.harness import WAIT_S
from tests.support.helpers import make_story, queue

GZIP = {"Accept-Encoding": "gzip"}


async def test_page_scripts_styles_and_json_are_gzipped_when_asked(http: AsyncClient) -> None:
    for sid in ("US-001", "US-002", "US-003"):
        await make_story(http, sid)
    for path in ("/", "/static/app.js", "/static/app.css", "/static/messages.js", "/user-stories"):
        async with http.stream("GET", path, headers=GZIP) as r:
            raw = b"".join([chunk async for chunk in r.aiter_raw()])
        assert r.status_code == 200, path
        assert r.headers["content-encoding"] == "gzip", path
        assert "accept-encoding" in r.headers["vary"].lower(), path
        plain = await http.get(path, headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers, path
        assert gzip.decompress(raw) == plain.content, path
        assert len(raw) < len(plain.content), path
    # HEAD names the encoding and length its GET would have
    head = await http.head("/static/app.js", headers=GZIP)
    assert head.headers["content-encoding"] == "gzip" and head.content == b""


async def test_an_event_stream_is_never_compressed_and_its_events_are_not_held(http: AsyncClient) -> None:
    await make_story(http, "US-001")
    job = await queue(http, "US-001")  # no worker: the job stays queued and its stream open
    seen = b""
    async with http.stream("GET", job["events_url"], headers=GZIP) as r, asyncio.timeout(WAIT_S):
        assert r.headers["content-type"].startswith("text/event-stream")
        assert "content-encoding" not in r.headers
        chunks = r.aiter_raw()
        while b"event: queued" not in seen:  # the replay, as plain text
            seen += await anext(chunks)
        cancelled = await http.post(f"/generate-test-cases/{job['task_id']}/cancel")
        assert cancelled.status_code == 202
        while b"event: cancelled" not in seen:  # a live event, on the stream still open
            seen += await anext(chunks)
    assert seen.decode().startswith(("id:", "event:", ":", "retry:"))
