"""The whole pipeline with Gemini: real worker, real google-genai client, fake Gemini on 127.0.0.1."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from httpx import AsyncClient
from pydantic import SecretStr

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.worker.lifecycle import startup
from tests.conftest import run_worker
from tests.fake_gemini import FakeGemini
from tests.helpers import make_story, queue, read_events, wait_for

KEY = "AIzaSy-pipeline-key-0d9c8b7a"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(retry_delay="0.1s") as server:
        yield server


@pytest.fixture
def gemini_settings(settings: Settings, fake: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake.reset()
    fake.latency_s = fake.latency_per_scenario_s = 0.0
    settings.llm_provider = "gemini"
    settings.gemini_api_key = SecretStr(KEY)
    settings.gemini_base_url = fake.url
    settings.gemini_timeout_s = 5
    return settings


async def test_job_runs_all_batches_at_once_and_reports_usage(
    http: AsyncClient, gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.latency_s = 0.3
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=15, scenarios_per_test_case=3)
    async with run_worker(gemini_settings):
        events = await read_events(http, job["events_url"])
    result = events[-1].data["result"]
    assert events[-1].event == "completed"
    assert len(result["test_cases"]) == 15 and {len(t["scenarios"]) for t in result["test_cases"]} == {3}
    assert result["provider"] == "gemini" and result["model"] == gemini_settings.gemini_model
    stats = result["stats"]
    assert stats["llm_calls"] == 3 == fake.calls and stats["retries"] == 0
    assert stats["tokens"]["total"] > 0 and stats["duration_s"] > 0.3
    assert 2 <= fake.max_in_flight <= 3  # the batches overlap (each call takes 0.3 s)
    assert set(fake.api_keys) == {KEY}


async def test_rate_limited_call_is_retried_inside_the_job(
    http: AsyncClient, gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.script("429")
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=1, scenarios_per_test_case=2)
    async with run_worker(gemini_settings):
        events = await read_events(http, job["events_url"])
    assert events[-1].event == "completed"
    assert events[-1].data["result"]["stats"]["retries"] == 1 and fake.calls == 2


async def test_invalid_key_fails_the_job_fast_without_leaking_it(
    http: AsyncClient, gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.script(*["bad_key"] * 10)
    await make_story(http, "US-001")
    async with run_worker(gemini_settings):
        t0 = time.monotonic()
        job = await queue(http, "US-001", num_test_cases=15)
        events = await read_events(http, job["events_url"])
        elapsed = time.monotonic() - t0
    assert events[-1].event == "failed" and elapsed < 10  # not retried with backoff
    error = events[-1].data["error"]
    assert error["type"] == "auth"
    assert "GEMINI_API_KEY" in error["message"] and "rejected" in error["message"]
    assert fake.calls == 3  # one per batch, no retries
    status = (await http.get(job["status_url"])).text
    assert KEY not in status and all(KEY not in json.dumps(e.data) for e in events)


async def test_cancel_interrupts_a_call_in_flight(
    http: AsyncClient, gemini_settings: Settings, fake: FakeGemini
) -> None:
    fake.script("hang", "hang")
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=10)
    async with run_worker(gemini_settings):
        await wait_for(lambda: fake.in_flight == 2, what="both batches to be in flight")
        t0 = time.monotonic()
        assert (await http.post(f"/generate-test-cases/{job['task_id']}/cancel")).status_code == 202
        # The calls hang for 30 s and time out after 5 s: only the cancel closes them sooner.
        await wait_for(lambda: fake.in_flight == 0, what="the calls to be closed", timeout_s=4)
        assert time.monotonic() - t0 < 4
    assert (await http.get(job["status_url"])).json()["status"] == "cancelled"
    assert fake.calls == 2


async def test_gemini_without_key_is_refused_at_enqueue_and_worker_start(
    client: AsyncClient, settings: Settings
) -> None:
    await make_story(client, "US-001")
    settings.llm_provider = "gemini"
    settings.gemini_api_key = None
    r = await client.post("/generate-test-cases/US-001/queue")
    assert r.status_code == 503
    assert "GEMINI_API_KEY is not set" in r.json()["detail"]
    with pytest.raises(ConfigurationError, match="GEMINI_API_KEY"):
        await startup({"settings": settings, "redis": None})
