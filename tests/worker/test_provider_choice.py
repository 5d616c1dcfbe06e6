"""Projects that choose their provider and model, and what each provider's configuration allows: two
projects on two providers in one worker at once, a model the server does not have, the providers a
project may choose, /ready's checks of each, a provider missing from the worker or without its key.
Each provider's own pipeline is in test_pipeline.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from httpx import AsyncClient, Response
from pydantic import SecretStr

from testgen.core import messages
from testgen.core.config import Settings
from testgen.core.embedded_redis import free_port
from testgen.core.errors import ConfigurationError
from testgen.worker.lifecycle import startup
from tests.support.fake_gemini import FakeGemini
from tests.support.fake_openai import FakeOpenAI
from tests.support.harness import LONG_WAIT_S, run_worker, wait_for
from tests.support.helpers import make_story, queue, read_events

KEY = "sk-pipeline-key-0d9c8b7a6f5e4d3c"
GEMINI_KEY = "AIzaSy-pipeline-key-0d9c8b7a"
MODEL = "qwen2.5:7b"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(retry_after="0.1", models={MODEL, "llama3.1:8b"}) as server:
        yield server


@pytest.fixture(scope="module")
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini(retry_delay="0.1s") as server:
        yield server


@pytest.fixture
def openai_settings(settings: Settings, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake.reset()
    fake.latency_s = fake.latency_per_scenario_s = 0.0
    fake.supports_json_schema = True
    settings.llm_provider = "openai"
    settings.openai_api_key = SecretStr(KEY)
    settings.openai_base_url = fake.url
    settings.openai_model = MODEL
    settings.openai_timeout_s = 5
    return settings


async def test_unknown_model_fails_the_job_naming_it(
    http: AsyncClient, openai_settings: Settings, fake: FakeOpenAI
) -> None:
    openai_settings.openai_model = "gpt-17"
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=1)
    async with run_worker(openai_settings):
        events = await read_events(http, job["events_url"])
    error = events[-1].data["error"]
    assert error["type"] == "model_not_found"
    assert "'gpt-17'" in error["message"] and fake.url in error["message"]


async def test_a_gemini_model_it_cannot_use_fails_the_job_typed(
    http: AsyncClient, settings: Settings, gemini: FakeGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    gemini.reset()
    gemini.models = {settings.gemini_model}
    settings.llm_provider = "gemini"
    settings.gemini_api_key = SecretStr(GEMINI_KEY)
    settings.gemini_base_url = gemini.url
    settings.gemini_timeout_s = 5
    errors = []
    for story, model in (("US-001", "gemini-2.5-flash?alt=sse"), ("US-002", "gemini-17")):
        project = (await make_story(http, story, project=story))["project_id"]
        r = await http.patch(f"/projects/{project}", json={"llm_model": model})
        assert r.status_code == 200, r.text
        job = await queue(http, story, num_test_cases=1)
        async with run_worker(settings):
            events = await read_events(http, job["events_url"])
        errors.append(events[-1].data["error"])
    unusable, unknown = errors
    assert unusable["type"] == "model_not_found" and "'gemini-2.5-flash?alt=sse'" in unusable["message"]
    assert unknown["type"] == "model_not_found" and "'gemini-17'" in unknown["message"]
    assert "Traceback" not in unusable["message"] + unknown["message"]
    assert [call.path for call in gemini.requests] == ["/v1beta/models/gemini-17:generateContent"]


async def test_two_projects_on_two_providers_in_one_worker_at_once(
    http: AsyncClient, openai_settings: Settings, fake: FakeOpenAI, gemini: FakeGemini
) -> None:
    gemini.reset()
    openai_settings.gemini_api_key = SecretStr(GEMINI_KEY)
    openai_settings.gemini_base_url = gemini.url
    # The servers hold each call until the other's is in flight: a first Gemini call takes seconds to
    # set up on a busy machine, and neither may time out meanwhile.
    openai_settings.gemini_timeout_s = openai_settings.openai_timeout_s = LONG_WAIT_S
    await make_story(http, "US-001", project="Local")
    await make_story(http, "US-002", project="Cloud")
    projects = {p["name"]: p["id"] for p in (await http.get("/projects")).json()}
    r = await http.patch(f"/projects/{projects['Local']}", json={"llm_model": "llama3.1:8b"})
    assert r.status_code == 200 and r.json()["llm_model"] == "llama3.1:8b"
    r = await http.patch(f"/projects/{projects['Cloud']}", json={"llm_provider": "gemini"})
    assert r.status_code == 200 and r.json()["llm_provider"] == "gemini" and r.json()["llm_model"] is None

    a = await queue(http, "US-001", num_test_cases=2)
    b = await queue(http, "US-002", num_test_cases=2)
    fake.pause()
    gemini.pause()
    async with run_worker(openai_settings):
        # Both servers hold their answers until both calls are in flight at the same time.
        await wait_for(lambda: fake.in_flight == gemini.in_flight == 1, what="a call to each server")
        fake.resume()
        gemini.resume()
        done = await asyncio.gather(read_events(http, a["events_url"]), read_events(http, b["events_url"]))
    first, second = (events[-1].data["result"] for events in done)
    assert (first["provider"], first["model"]) == ("openai", "llama3.1:8b")
    assert (second["provider"], second["model"]) == ("gemini", openai_settings.gemini_model)
    assert {r.body["model"] for r in fake.requests} == {"llama3.1:8b"} and fake.calls == 1
    assert gemini.calls == 1 and set(gemini.api_keys) == {GEMINI_KEY}

    regenerated = await http.post(f"/generate-test-cases/{a['task_id']}/test-cases/0/regenerate")
    assert regenerated.status_code == 202, regenerated.text
    async with run_worker(openai_settings):
        events = await read_events(http, regenerated.json()["events_url"])
    result = events[-1].data["result"]
    assert (result["provider"], result["model"]) == ("openai", "llama3.1:8b") and fake.calls == 2

    saved = await http.post(f"/generate-test-cases/{a['task_id']}/save")
    assert saved.status_code in (200, 201), saved.text
    cases = (await http.get("/user-stories/US-001/test-cases")).json()
    assert {(c["provider"], c["model"]) for c in cases} == {("openai", "llama3.1:8b")}


async def test_only_configured_providers_can_be_chosen(client: AsyncClient, settings: Settings) -> None:
    r = await client.post("/projects", json={"name": "Shop"})
    project = r.json()
    assert project["llm_provider"] is None and project["llm_model"] is None
    r = await client.patch(f"/projects/{project['id']}", json={"llm_provider": "gemini"})
    assert r.status_code == 409  # a provider testgen knows, not configured on this server
    assert r.json()["detail"] == messages.provider_not_configured("gemini", ["offline"])
    for unknown in ("x" * 33, "Gemini", " gemini", ""):
        r = await client.patch(f"/projects/{project['id']}", json={"llm_provider": unknown})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "llm_provider"], unknown
    settings.openai_base_url = "http://127.0.0.1:1/v1"
    r = await client.patch(f"/projects/{project['id']}", json={"llm_provider": "openai", "llm_model": "m"})
    assert r.status_code == 200 and (r.json()["llm_provider"], r.json()["llm_model"]) == ("openai", "m")
    r = await client.patch(f"/projects/{project['id']}", json={"llm_provider": None})
    assert r.status_code == 200 and r.json()["llm_provider"] is None and r.json()["llm_model"] is None
    assert (await client.patch("/projects/999", json={"llm_provider": None})).status_code == 404


@pytest.mark.parametrize(
    "model", ["gpt\x00", "gpt\x1b[2J", "a\nb", "a\tb", "x\x7f", "\x9b", "gpt\u202e", "a\u200bb", "m" * 201]
)
async def test_a_model_name_is_printable_and_bounded(
    client: AsyncClient, settings: Settings, model: str
) -> None:
    settings.openai_base_url = "http://127.0.0.1:1/v1"
    project = (await client.post("/projects", json={"name": "Shop"})).json()["id"]
    r = await client.patch(f"/projects/{project}", json={"llm_provider": "openai", "llm_model": model})
    assert r.status_code == 422
    (error,) = r.json()["detail"]
    assert error["loc"] == ["body", "llm_model"]
    assert (await client.get(f"/projects/{project}")).json()["llm_model"] is None
    for fine in ("Qwen/Qwen2.5-7B-Instruct", "llama3.1:8b", "m" * 200, "  gpt-4o  "):
        r = await client.patch(f"/projects/{project}", json={"llm_provider": "openai", "llm_model": fine})
        assert r.status_code == 200 and r.json()["llm_model"] == fine.strip()


async def _ready(client: AsyncClient) -> Response | None:
    r = await client.get("/ready")
    return r if r.status_code == 200 else None


async def test_ready_names_each_providers_problems(
    client: AsyncClient, settings: Settings, fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    async with run_worker(settings):
        r = await wait_for(lambda: _ready(client), what="/ready to answer 200")
        assert "llm:openai" not in r.json()["checks"]  # not configured

        settings.openai_base_url = fake.url  # a local server that answers
        r = await client.get("/ready")
        assert r.status_code == 200 and r.json()["checks"]["llm:openai"] == "ok"

        settings.openai_base_url = f"http://127.0.0.1:{free_port()}/v1"  # one that does not
        r = await client.get("/ready")
        check = r.json()["checks"]["llm:openai"]
        assert r.status_code == 200 and check.startswith("warning: cannot reach the model server at")

        settings.llm_provider = "openai"  # the default provider without what it needs
        settings.openai_base_url = None
        r = await client.get("/ready")
        assert r.status_code == 503
        assert r.json()["checks"]["llm:openai"].startswith("misconfigured: OPENAI_API_KEY is not set")

        settings.llm_provider = "offline"  # a secondary provider without it: a warning
        settings.azure_openai_endpoint = "https://x.openai.azure.com"
        r = await client.get("/ready")
        assert r.status_code == 200
        assert r.json()["checks"]["llm:openai"].startswith("warning: misconfigured: Azure OpenAI needs")


async def test_a_job_for_a_provider_the_worker_lacks_fails_saying_so(
    http: AsyncClient, settings: Settings
) -> None:
    settings.llm_provider, settings.gemini_api_key = "gemini", SecretStr(GEMINI_KEY)
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=1)  # for gemini
    settings.llm_provider, settings.gemini_api_key = "openai", None  # a worker without gemini
    settings.openai_base_url = "http://127.0.0.1:9/v1"
    async with run_worker(settings):
        events = await read_events(http, job["events_url"])
    error = events[-1].data["error"]
    assert events[-1].event == "failed" and error["type"] == "configuration"
    assert "'gemini'" in error["message"] and "openai, offline" in error["message"]


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
