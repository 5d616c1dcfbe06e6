"""Helpers shared by the tests: creating stories, reading SSE streams, waiting for a state with a deadline."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from httpx import AsyncClient
from httpx_sse import aconnect_sse
from pydantic import SecretStr

from testgen.core.config import Settings
from testgen.core.embedded_redis import free_port
from testgen.core.logs import QUIET_LOGGERS
from tests.support.harness import run_worker, wait_for

T = TypeVar("T")

# The tests' STREAM_TOKEN_SECRET (conftest's settings carry it, so API_KEYS may be turned on).
STREAM_TOKEN_SECRET = "stream-token-secret-of-the-tests-0123456789"


def capture_logs_as_configured(caplog: pytest.LogCaptureFixture) -> None:
    """Capture everything down to DEBUG, except the loggers configure_logging keeps at WARNING."""
    caplog.set_level(logging.DEBUG)
    for name in QUIET_LOGGERS:
        caplog.set_level(logging.WARNING, logger=name)
    caplog.handler.setLevel(logging.DEBUG)  # set_level per logger also raised the handler's level


async def wait_for_job(
    client: AsyncClient, status_url: str, until: Callable[[dict[str, Any]], bool], *, what: str, **kw: float
) -> dict[str, Any]:
    """Poll a job's status until `until(status)` holds; returns that status."""

    async def check() -> dict[str, Any] | None:
        status: dict[str, Any] = (await client.get(status_url)).json()
        return status if until(status) else None

    status: dict[str, Any] = await wait_for(check, what=what, **kw)
    return status


def is_status(*names: str) -> Callable[[dict[str, Any]], bool]:
    return lambda status: status["status"] in names


@dataclass
class Event:
    id: str
    event: str
    data: dict[str, Any]


def use_unreachable_gemini(settings: Settings, key: str) -> None:
    """Point the Gemini provider at a local port where nothing listens: every call fails at once."""
    settings.llm_provider = "gemini"
    settings.gemini_api_key = SecretStr(key)
    settings.gemini_base_url = f"http://127.0.0.1:{free_port()}"
    settings.gemini_timeout_s = 5
    settings.llm_max_attempts = 1


async def make_story(
    client: AsyncClient, story_id: str = "US-001", *, project: str | None = "Shop", criteria: int = 3
) -> dict[str, Any]:
    project_id = None
    if project is not None:
        r = await client.post("/projects", json={"name": project})
        project_id = r.json()["id"] if r.status_code == 201 else None
        if project_id is None:
            projects = (await client.get("/projects")).json()
            project_id = next(p["id"] for p in projects if p["name"] == project)
    r = await client.post(
        "/user-stories",
        json={
            "id": story_id,
            "project_id": project_id,
            "title": f"Checkout {story_id}",
            "description": "As a shopper I want to pay for my basket",
            "acceptance_criteria": [f"Criterion {i + 1} of {story_id} holds" for i in range(criteria)],
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def queue(client: AsyncClient, story_id: str, **options: int) -> dict[str, Any]:
    r = await client.post(f"/generate-test-cases/{story_id}/queue", json=options or None)
    assert r.status_code == 202, r.text
    return dict(r.json())


async def read_events(
    client: AsyncClient, url: str, *, last_event_id: str | None = None, limit: int | None = None
) -> list[Event]:
    """Read a stream until it closes (or `limit` events), returning its events (pings skipped)."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    events: list[Event] = []
    async with aconnect_sse(client, "GET", url, headers=headers) as source:
        assert source.response.status_code == 200, source.response.status_code
        async for sse in source.aiter_sse():
            if not sse.data:
                continue
            events.append(Event(sse.id, sse.event, json.loads(sse.data)))
            if limit is not None and len(events) >= limit:
                break
    return events


async def generate_with_worker(
    client: AsyncClient, settings: Settings, story_id: str, **options: int
) -> dict[str, Any]:
    """Queue a generation of the story, run a worker until its events end, and answer the draft."""
    job = await queue(client, story_id, **options)
    async with run_worker(settings):
        events = await read_events(client, job["events_url"])
    assert events[-1].event == "completed", events[-1].data
    return dict(events[-1].data["result"])


def resume_cursor(events: list[Event]) -> str:
    """What a client of a multiplexed stream sends to resume: the latest position of each job."""
    latest: dict[str, str] = {}
    for event in events:
        task, _, entry = event.id.partition("=")
        latest[task] = entry
    return ";".join(f"{task}={entry}" for task, entry in latest.items())
