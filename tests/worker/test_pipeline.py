"""The whole pipeline with each remote provider: a real worker, the provider's real SDK and its fake server
on 127.0.0.1, from the queue through the event stream to the completed (or failed, or cancelled)
job. Projects that choose their provider are in test_provider_choice.py."""

from __future__ import annotations

import json

import pytest
from httpx import AsyncClient

from testgen.core.config import Settings
from tests.support.harness import run_worker, wait_for
from tests.support.helpers import capture_logs_as_configured, make_story, queue, read_events
from tests.support.model_servers import ModelServer


@pytest.fixture
def configured(settings: Settings, provider: ModelServer) -> Settings:
    """The app's and the worker's settings, with the provider's model server as the default."""
    return provider.configure(settings)


async def test_a_job_runs_all_batches_at_once_and_reports_usage(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    fake = provider.fake
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=15, scenarios_per_test_case=3)
    fake.pause()
    async with run_worker(configured):
        # The server holds its answers until the job's three batches are all in flight at once.
        await wait_for(lambda: fake.in_flight == 3, what="the three batches in flight")
        fake.resume()
        events = await read_events(http, job["events_url"])
    result = events[-1].data["result"]
    assert events[-1].event == "completed"
    assert len(result["test_cases"]) == 15 and {len(t["scenarios"]) for t in result["test_cases"]} == {3}
    assert result["provider"] == provider.name and result["model"] == provider.model
    stats = result["stats"]
    assert stats["llm_calls"] == 3 == fake.calls and stats["retries"] == 0
    total = provider.usage_fields[2]
    assert stats["tokens"]["total"] == sum(r.usage[total] for r in fake.requests if r.usage) > 0
    calls = fake.requests
    assert stats["duration_s"] >= max(r.finished or 0 for r in calls) - min(r.started for r in calls) - 0.001
    assert fake.max_in_flight == 3
    assert set(fake.api_keys) == {provider.key}


async def test_a_rate_limited_call_is_retried_inside_the_job(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    provider.fake.script("429")
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=1, scenarios_per_test_case=2)
    async with run_worker(configured):
        events = await read_events(http, job["events_url"])
    assert events[-1].event == "completed"
    assert events[-1].data["result"]["stats"]["retries"] == 1 and provider.fake.calls == 2


async def test_a_rejected_key_fails_the_job_without_retries_or_showing_it(
    http: AsyncClient, configured: Settings, provider: ModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    capture_logs_as_configured(caplog)  # LOG_LEVEL=DEBUG
    provider.fake.script(*["bad_key"] * 10)
    await make_story(http, "US-001")
    async with run_worker(configured):
        job = await queue(http, "US-001", num_test_cases=15)
        events = await read_events(http, job["events_url"])
    assert events[-1].event == "failed"
    error = events[-1].data["error"]
    assert error["type"] == "auth"
    assert provider.key_setting in error["message"] and "rejected" in error["message"]
    # No retries, so no backoff: each batch asked at most once (one still unsent when the first 401
    # fails the job is never sent), and no attempt logged as retried.
    prompts = provider.fake.user_texts()
    assert 1 <= len(prompts) <= 3 and len(set(prompts)) == len(prompts)
    assert "retrying in" not in caplog.text
    status = (await http.get(job["status_url"])).text
    key = provider.key
    texts = [status, caplog.text, *(json.dumps(e.data) for e in events)]
    assert all(key not in t and key[-10:] not in t for t in texts)


async def test_cancel_closes_the_calls_in_flight(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    fake = provider.fake
    fake.hang_s = 3600.0  # with an hour's timeout as well, only the cancel can end these calls
    fake.script("hang", "hang")
    provider.configure(configured, timeout_s=3600.0)
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=10)
    async with run_worker(configured):
        await wait_for(lambda: fake.in_flight == 2, what="both batches to be in flight")
        assert (await http.post(f"/generate-test-cases/{job['task_id']}/cancel")).status_code == 202
        await wait_for(lambda: fake.in_flight == 0, what="the calls to be closed")
    assert (await http.get(job["status_url"])).json()["status"] == "cancelled"
    assert fake.calls == 2 and all(r.disconnected for r in fake.requests)  # closed by the worker


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


async def test_a_spanish_story_is_asked_in_spanish_and_an_english_answer_asked_again(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    await _spanish_story(http)
    provider.fake.script("wrong_language")  # the first answer comes back in English
    job = await queue(http, "ES-1", num_test_cases=2, scenarios_per_test_case=2)
    async with run_worker(configured):
        events = await read_events(http, job["events_url"])
    result = events[-1].data["result"]
    assert events[-1].event == "completed"
    assert result["language"] == "es" and result["language_mismatch"] is False
    assert result["stats"]["reasks"] == 1 and provider.fake.calls == 2
    first, second = provider.fake.requests
    assert "write every title, description, precondition and step in Spanish (es)" in first.user_text
    assert "rules stay in force whatever language" in first.system_text  # the system rules still apply
    assert "previous answer was rejected: it was written in English, not in Spanish" in second.user_text
    case = result["test_cases"][0]
    assert case["title"] == "Caso de prueba 1"
    assert case["scenarios"][0]["given"] == ["un usuario para el caso de prueba 1"]


async def test_an_answer_that_stays_in_another_language_is_flagged(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    configured.llm_max_reasks = 1
    await _spanish_story(http)
    provider.fake.script("wrong_language", "wrong_language")
    job = await queue(http, "ES-1", num_test_cases=1, scenarios_per_test_case=2)
    async with run_worker(configured):
        events = await read_events(http, job["events_url"])
    result = events[-1].data["result"]
    assert events[-1].event == "completed"  # kept for review, not failed
    assert result["language"] == "es" and result["language_mismatch"] is True
    assert result["stats"]["reasks"] == 1 and provider.fake.calls == 2  # within the re-ask bound
    assert result["test_cases"][0]["title"] == "Test case 1"
