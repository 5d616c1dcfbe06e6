"""What only the OpenAI-compatible provider does, on the real openai SDK against the fake server: the
strict json_schema request and its step-down when a server refuses it (in a job too), the errors of
the servers it talks to (unknown models in three styles, a context too long), fenced, reasoning,
prose and cut-off answers, Azure, local servers without a key, configuration problems and Retry-After
headers. What every provider does is in test_providers.py."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.generation.llm.base import BatchRequest, LLMError
from testgen.generation.llm.openai_compat import OpenAIProvider, OutputMode
from testgen.generation.llm.retry import retry_after_s
from testgen.generation.planning import plan_batches
from tests.support.fake_openai import FakeOpenAI
from tests.support.harness import run_worker
from tests.support.helpers import make_story, queue, read_events
from tests.support.model_servers import STORY, MakeProvider, ModelServer, OpenAIServer, start_model_server

API_KEY = OpenAIServer.key
MODEL = OpenAIServer.model


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    with start_model_server("openai") as server:
        yield server


@pytest.fixture
def fake(provider: ModelServer) -> FakeOpenAI:
    assert isinstance(provider.fake, FakeOpenAI)
    return provider.fake


def batches(num_test_cases: int = 5, per_case: int = 3, max_scenarios: int = 15) -> list[BatchRequest]:
    return plan_batches(STORY, num_test_cases, per_case, max_scenarios)


async def test_the_request_asks_for_a_strict_json_schema(
    fake: FakeOpenAI, make_provider: MakeProvider
) -> None:
    request = batches(10)[1]
    await make_provider().generate_batch(request)

    call = fake.requests[0]
    assert call.path == "/v1/chat/completions" and call.api_key == API_KEY
    assert call.body["model"] == MODEL
    fmt = call.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    schema = fmt["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    case = schema["properties"]["test_cases"]["items"]
    assert case["additionalProperties"] is False and set(case["required"]) == set(case["properties"])
    assert case["properties"]["scenarios"]["items"]["additionalProperties"] is False
    assert [m["role"] for m in call.body["messages"]] == ["system", "user"]
    assert "#6 to #10" in call.body["messages"][1]["content"]


def test_retry_after_headers() -> None:
    assert retry_after_s({"Retry-After": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "150", "Retry-After": "9"}) == 0.15
    assert retry_after_s({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}) == 360.0
    assert retry_after_s({"x-ratelimit-reset-tokens": "120ms"}) == pytest.approx(0.12)
    assert retry_after_s({"x-ratelimit-reset-requests": "1h2m3.5s"}) == 3723.5
    assert retry_after_s({"Retry-After": "soon"}) is None and retry_after_s({}) is None


@pytest.mark.parametrize("style", ["openai", "ollama", "vllm"])
async def test_unknown_model_names_the_model_and_the_base_url(
    fake: FakeOpenAI, make_provider: MakeProvider, style: str
) -> None:
    fake.error_style = style
    with pytest.raises(LLMError) as info:
        await make_provider(openai_model="no-such-model").generate_batch(batches()[0])
    assert info.value.type == "model_not_found" and fake.calls == 1
    assert "'no-such-model'" in info.value.message and fake.url in info.value.message
    assert "no-such-model" in info.value.message.split("(", 1)[1]  # the server's own words too


async def test_context_length_refusal_is_input_too_long(
    fake: FakeOpenAI, make_provider: MakeProvider
) -> None:
    fake.script("context_too_long")
    with pytest.raises(LLMError) as info:
        await make_provider().generate_batch(batches()[0])
    assert info.value.type == "input_too_long" and fake.calls == 1
    assert "BATCH_MAX_SCENARIOS" in info.value.message


async def test_json_schema_refused_falls_back_to_json_mode_once(
    fake: FakeOpenAI, make_provider: MakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    fake.supports_json_schema = False
    provider = make_provider()
    assert isinstance(provider, OpenAIProvider)
    with caplog.at_level(logging.WARNING):
        results = await asyncio.gather(*(provider.generate_batch(b) for b in batches(15)))
        again = await provider.generate_batch(batches()[0])
    assert all(len(r.test_cases) == 5 for r in [*results, again])
    assert provider.mode == OutputMode.json_object
    formats = fake.response_formats()
    assert formats.count("json_schema") == 3 and formats.count("json_object") == 4  # 3 refused in flight
    assert formats[-1] == "json_object"
    json_mode = [
        r for r in fake.requests if (r.body.get("response_format") or {}).get("type") == "json_object"
    ]
    assert all('"test_cases"' in r.body["messages"][1]["content"] for r in json_mode)  # the schema
    refusals = [r for r in caplog.records if "refused response format" in r.getMessage()]
    assert len(refusals) == 1 and "json_schema" in refusals[0].getMessage()
    assert all(r.stats.retries == 0 and r.stats.reasks == 0 for r in results)


async def test_no_response_format_at_all_falls_back_to_the_prompt(
    fake: FakeOpenAI, make_provider: MakeProvider
) -> None:
    fake.supports_json_schema = fake.supports_json_object = False
    provider = make_provider()
    assert isinstance(provider, OpenAIProvider)
    result = await provider.generate_batch(batches()[0])
    assert len(result.test_cases) == 5 and provider.mode == OutputMode.prompt_only
    assert fake.response_formats() == ["json_schema", "json_object", None]


async def test_refused_json_schema_costs_no_failed_job(
    http: AsyncClient, settings: Settings, provider: ModelServer, fake: FakeOpenAI
) -> None:
    fake.supports_json_schema = False
    provider.configure(settings)
    await make_story(http, "US-001")
    await make_story(http, "US-002")
    first = await queue(http, "US-001", num_test_cases=2)
    async with run_worker(settings):
        assert (await read_events(http, first["events_url"]))[-1].event == "completed"
        second = await queue(http, "US-002", num_test_cases=2)
        assert (await read_events(http, second["events_url"]))[-1].event == "completed"
    assert fake.response_formats() == ["json_schema", "json_object", "json_object"]


@pytest.mark.parametrize("behaviour", ["fenced", "reasoning"])
async def test_fenced_and_reasoning_answers_are_read_without_asking_again(
    fake: FakeOpenAI, make_provider: MakeProvider, behaviour: str
) -> None:
    fake.script(behaviour)
    result = await make_provider().generate_batch(batches()[0])
    assert len(result.test_cases) == 5 and result.stats.reasks == 0 and fake.calls == 1


@pytest.mark.parametrize("behaviour", ["prose", "length"])
async def test_prose_and_cut_off_answers_are_asked_again(
    fake: FakeOpenAI, make_provider: MakeProvider, behaviour: str
) -> None:
    fake.script(behaviour)
    result = await make_provider().generate_batch(batches()[0])
    assert len(result.test_cases) == 5 and all(len(c.scenarios) == 3 for c in result.test_cases)
    assert result.stats.reasks == 1 and fake.calls == 2
    assert "Your previous answer was rejected" in fake.user_texts()[1]


async def test_prose_gives_up_after_max_reasks(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake.script("prose", "prose", "prose")
    with pytest.raises(LLMError) as info:
        await make_provider().generate_batch(batches()[0])
    assert info.value.type == "bad_output" and fake.calls == 3


async def test_unreachable_server_is_retried_then_reported(make_provider: MakeProvider) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LLMError) as info:
        await make_provider(openai_base_url=f"http://127.0.0.1:{port}/v1").generate_batch(batches()[0])
    assert info.value.type == "upstream" and "connection to" in info.value.message


async def test_a_local_server_needs_no_key(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    result = await make_provider(openai_api_key=None).generate_batch(batches()[0])
    assert len(result.test_cases) == 5 and fake.requests[0].api_key is None


async def test_azure_openai(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    provider = make_provider(
        openai_base_url=None, azure_openai_endpoint=fake.azure_url, openai_api_version="2024-10-21"
    )
    await provider.generate_batch(batches()[0])
    call = fake.requests[0]
    assert call.path == f"/openai/deployments/{MODEL}/chat/completions" and call.api_key == API_KEY


def test_configuration_problems_are_refused(redis_url: str) -> None:
    def settings(**values: Any) -> Settings:
        return Settings(_env_file=None, llm_provider="openai", redis_url=redis_url, **values)  # type: ignore[call-arg]

    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY is not set"):
        OpenAIProvider(settings(), None)
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        OpenAIProvider(settings(openai_api_key="k", openai_api_version="2024-10-21"), None)
    with pytest.raises(ConfigurationError, match="Azure OpenAI needs OPENAI_API_KEY"):
        OpenAIProvider(
            settings(azure_openai_endpoint="https://x.openai.azure.com", openai_api_version="v"), None
        )
