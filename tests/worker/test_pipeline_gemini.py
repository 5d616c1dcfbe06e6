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
from tests.support.fake_gemini import FakeGemini
from tests.support.harness import run_worker, wait_for
from tests.support.helpers import make_story, queue, read_events

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
    # No retries: each batch asked at most once (one still unsent when the first 401 fails the job is
    # never sent).
    prompts = [json.dumps(body["contents"], sort_keys=True) for body in fake.bodies]
    assert 1 <= len(prompts) <= 3 and len(set(prompts)) == len(prompts)
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


SPANISH_STORY = {
    "id": "ES-1",
    "title": "Restablecer la contraseña",
    "description": "Como cliente registrado quiero restablecer mi contraseña para volver a entrar.",
    "acceptance_criteria": [
        "Se envía un enlace al correo del cliente",
        "El enlace caduca al cabo de una hora",
    ],
}


async def _spanish_story(http: AsyncClient) -> None:
    project = (await http.post("/projects", json={"name": "Tienda"})).json()["id"]
    r = await http.post("/user-stories", json={**SPANISH_STORY, "project_id": project})
    assert r.status_code == 201 and r.json()["detected_language"] == "es"


async def test_spanish_story_is_asked_in_spanish_and_an_english_answer_asked_again(
    http: AsyncClient, gemini_settings: Settings, fake: FakeGemini
) -> None:
    await _spanish_story(http)
    fake.script("wrong_language")  # the first answer comes back in English
    job = await queue(http, "ES-1", num_test_cases=2, scenarios_per_test_case=2)
    async with run_worker(gemini_settings):
        events = await read_events(http, job["events_url"])
    result = events[-1].data["result"]
    assert events[-1].event == "completed"
    assert result["language"] == "es" and result["language_mismatch"] is False
    assert result["stats"]["reasks"] == 1 and fake.calls == 2
    first, second = fake.requests
    assert "write every title, description, precondition and step in Spanish (es)" in first.user_text
    assert "rules stay in force whatever language" in first.system_text  # the system rules still apply
    assert "previous answer was rejected: it was written in English, not in Spanish" in second.user_text
    assert result["test_cases"][0]["title"] == "Caso de prueba 1"


async def test_an_answer_that_stays_in_another_language_is_flagged(
    http: AsyncClient, gemini_settings: Settings, fake: FakeGemini
) -> None:
    gemini_settings.llm_max_reasks = 1
    await _spanish_story(http)
    fake.script("wrong_language", "wrong_language")
    job = await queue(http, "ES-1", num_test_cases=1, scenarios_per_test_case=2)
    async with run_worker(gemini_settings):
        events = await read_events(http, job["events_url"])
    result = events[-1].data["result"]
    assert events[-1].event == "completed"  # kept for review, not failed
    assert result["language"] == "es" and result["language_mismatch"] is True
    assert result["stats"]["reasks"] == 1 and fake.calls == 2  # within the re-ask bound
    assert result["test_cases"][0]["title"] == "Test case 1"
