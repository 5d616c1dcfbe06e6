"""OpenAIProvider with the real openai SDK against the OpenAI-compatible fake server."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.generation.llm.base import BatchRequest, LLMError, StoryText
from testgen.generation.llm.openai_compat import OpenAIProvider, OutputMode
from testgen.generation.llm.retry import Redactor, retry_after_s
from testgen.generation.planning import plan_batches
from tests.support.fake_openai import FakeOpenAI
from tests.support.harness import wait_for
from tests.support.helpers import capture_logs_as_configured

API_KEY = "sk-proj-test-5e3b1c9d7f2a4b6c8d0e"
MODEL = "llama3.1:8b"
STORY = StoryText(
    id="US-1",
    title="Log in",
    description="As a user I want to log in with my email and password.",
    acceptance_criteria=["valid credentials log in", "a wrong password is rejected", "5 failures lock"],
)

MakeProvider = Callable[..., OpenAIProvider]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(retry_after="0.3", models={MODEL, "other-model"}) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_fake(fake: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    fake.reset()
    fake.latency_s = fake.latency_per_scenario_s = 0.0
    fake.supports_json_schema = fake.supports_json_object = True
    fake.valid_keys = None
    yield
    fake.reset()


@pytest.fixture
async def make_provider(fake: FakeOpenAI, redis: Redis, redis_url: str) -> AsyncIterator[MakeProvider]:
    providers: list[OpenAIProvider] = []

    def make(*, backoff_base_s: float = 0.01, **overrides: Any) -> OpenAIProvider:
        values: dict[str, Any] = {
            "llm_provider": "openai",
            "openai_api_key": API_KEY,
            "openai_base_url": fake.url,
            "openai_model": MODEL,
            "openai_timeout_s": 5.0,
            "llm_max_attempts": 3,
            "llm_max_reasks": 2,
            "llm_max_concurrency": 32,
            "llm_rpm": 0,
            "redis_url": redis_url,
        }
        values.update(overrides)
        settings = Settings(_env_file=None, **values)
        provider = OpenAIProvider(settings, redis, backoff_base_s=backoff_base_s)
        providers.append(provider)
        return provider

    yield make
    for provider in providers:
        await provider.aclose()


def batches(num_test_cases: int = 5, per_case: int = 3, max_scenarios: int = 15) -> list[BatchRequest]:
    return plan_batches(STORY, num_test_cases, per_case, max_scenarios)


async def test_success_with_a_strict_json_schema(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    request = batches(10)[1]
    result = await make_provider().generate_batch(request)

    assert [c.title for c in result.test_cases] == [f"Test case {n}" for n in range(6, 11)]
    assert all(len(c.scenarios) == 3 for c in result.test_cases)
    assert (result.stats.calls, result.stats.retries, result.stats.reasks) == (1, 0, 0)
    usage = fake.requests[0].usage
    assert usage is not None
    assert result.stats.prompt_tokens == usage["prompt_tokens"] > 0
    assert result.stats.output_tokens == usage["completion_tokens"] > 0
    assert result.stats.total_tokens == usage["total_tokens"]

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


async def test_a_model_per_call(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    await make_provider().generate_batch(batches()[0], "other-model")
    assert fake.requests[0].body["model"] == "other-model"


async def test_429_is_retried_after_retry_after(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake.script("429")
    started = time.monotonic()
    result = await make_provider().generate_batch(batches()[0])
    assert fake.calls == 2, "one call by us, one retry by us: the SDK's own retries are off"
    assert result.stats.calls == 2 and result.stats.retries == 1
    gap = fake.requests[1].started - fake.requests[0].started
    assert gap >= 0.3, "Retry-After of 0.3 s is honoured, not the tiny backoff base"
    assert time.monotonic() - started < 10  # and not the retry-delay cap


def test_retry_after_headers() -> None:
    assert retry_after_s({"Retry-After": "2"}) == 2.0
    assert retry_after_s({"retry-after-ms": "150", "Retry-After": "9"}) == 0.15
    assert retry_after_s({"x-ratelimit-reset-requests": "1s", "x-ratelimit-reset-tokens": "6m0s"}) == 360.0
    assert retry_after_s({"x-ratelimit-reset-tokens": "120ms"}) == pytest.approx(0.12)
    assert retry_after_s({"x-ratelimit-reset-requests": "1h2m3.5s"}) == 3723.5
    assert retry_after_s({"Retry-After": "soon"}) is None and retry_after_s({}) is None


async def test_500_then_success(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake.script("500", "503")
    result = await make_provider().generate_batch(batches()[0])
    assert fake.calls == 3 and result.stats.retries == 2 and len(result.test_cases) == 5


async def test_persistent_5xx_fails_after_max_attempts(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake.script(*["500"] * 4)
    with pytest.raises(LLMError) as info:
        await make_provider(llm_max_attempts=4).generate_batch(batches()[0])
    assert info.value.type == "upstream" and "after 4 attempts" in info.value.message
    assert fake.calls == 4


@pytest.mark.parametrize("behaviour", ["bad_key", "forbidden"])
async def test_rejected_key_fails_fast_and_never_shows_the_key(
    fake: FakeOpenAI, make_provider: MakeProvider, behaviour: str, caplog: pytest.LogCaptureFixture
) -> None:
    capture_logs_as_configured(caplog)  # LOG_LEVEL=DEBUG
    fake.script(*[behaviour] * 5)
    started = time.monotonic()
    with pytest.raises(LLMError) as info:
        await make_provider(llm_max_attempts=5).generate_batch(batches()[0])
    assert time.monotonic() - started < 10  # no backoff
    assert info.value.type == "auth" and fake.calls == 1
    assert "OPENAI_API_KEY" in info.value.message and fake.url in info.value.message
    assert fake.requests[0].api_key == API_KEY  # the fake did echo it...
    for text in (info.value.message, str(info.value), repr(info.value.__cause__), caplog.text):
        assert API_KEY not in text and API_KEY[-12:] not in text  # ...and it went no further
    assert "[redacted]" in info.value.message


async def test_a_key_checked_by_the_server(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake.valid_keys = {"sk-the-right-one-123456"}
    with pytest.raises(LLMError) as info:
        await make_provider().generate_batch(batches()[0])
    assert info.value.type == "auth"
    result = await make_provider(openai_api_key="sk-the-right-one-123456").generate_batch(batches()[0])
    assert len(result.test_cases) == 5


@pytest.mark.parametrize("style", ["openai", "ollama", "vllm"])
async def test_unknown_model_names_the_model_and_the_base_url(
    fake: FakeOpenAI, make_provider: MakeProvider, style: str
) -> None:
    fake.error_style = style
    try:
        with pytest.raises(LLMError) as info:
            await make_provider(openai_model="no-such-model").generate_batch(batches()[0])
    finally:
        fake.error_style = "openai"
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
    result = await provider.generate_batch(batches()[0])
    assert len(result.test_cases) == 5 and provider.mode == OutputMode.prompt_only
    assert fake.response_formats() == ["json_schema", "json_object", None]


@pytest.mark.parametrize("behaviour", ["fenced", "reasoning"])
async def test_fenced_and_reasoning_answers_are_read_without_asking_again(
    fake: FakeOpenAI, make_provider: MakeProvider, behaviour: str
) -> None:
    fake.script(behaviour)
    result = await make_provider().generate_batch(batches()[0])
    assert len(result.test_cases) == 5 and result.stats.reasks == 0 and fake.calls == 1


@pytest.mark.parametrize("behaviour", ["prose", "too_few_scenarios", "malformed_json", "length"])
async def test_unusable_answers_are_asked_again(
    fake: FakeOpenAI, make_provider: MakeProvider, behaviour: str
) -> None:
    fake.script(behaviour)
    result = await make_provider().generate_batch(batches()[0])
    assert len(result.test_cases) == 5 and all(len(c.scenarios) == 3 for c in result.test_cases)
    assert result.stats.reasks == 1 and fake.calls == 2
    assert "Your previous answer was rejected" in fake.user_texts()[1]


async def test_unusable_answers_give_up_after_max_reasks(
    fake: FakeOpenAI, make_provider: MakeProvider
) -> None:
    fake.script("prose", "prose", "prose")
    with pytest.raises(LLMError) as info:
        await make_provider().generate_batch(batches()[0])
    assert info.value.type == "bad_output" and fake.calls == 3


async def test_non_json_body_is_retried(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake.script("not_json_body")
    result = await make_provider().generate_batch(batches()[0])
    assert len(result.test_cases) == 5 and fake.calls == 2


async def test_slow_answer_times_out_and_is_retried(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake.script("hang")
    result = await make_provider(openai_timeout_s=0.3).generate_batch(batches()[0])
    assert result.stats.retries == 1 and fake.calls == 2


async def test_cancel_stops_the_call_in_flight_within_a_second(
    fake: FakeOpenAI, make_provider: MakeProvider
) -> None:
    fake.script("hang", "hang")
    provider = make_provider()
    tasks = [asyncio.create_task(provider.generate_batch(b)) for b in batches(10)]
    await wait_for(lambda: fake.in_flight == 2, what="two calls in flight")
    started = time.monotonic()
    for task in tasks:
        task.cancel()
    # The calls hang for 30 s and time out after 5 s: only the cancel closes them sooner.
    await wait_for(lambda: fake.in_flight == 0, what="the calls to be closed", timeout_s=4)
    assert time.monotonic() - started < 4
    assert all(t.cancelled() for t in tasks)


async def test_unreachable_server_is_retried_then_reported(make_provider: MakeProvider) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(LLMError) as info:
        await make_provider(openai_base_url=f"http://127.0.0.1:{port}/v1").generate_batch(batches()[0])
    assert info.value.type == "upstream" and "connection to" in info.value.message


async def test_concurrent_calls_are_bounded(fake: FakeOpenAI, make_provider: MakeProvider) -> None:
    fake.latency_s = 0.2
    provider = make_provider(llm_max_concurrency=2)
    await asyncio.gather(*(provider.generate_batch(b) for b in batches(15, 1, 1)))
    assert fake.calls == 15 and fake.max_in_flight <= 2  # the bound; that calls overlap is not timed


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


def test_redactor_hides_the_key_and_parts_of_it() -> None:
    redact = Redactor(API_KEY)
    assert redact(f"bad key {API_KEY}!") == "bad key [redacted]!"
    assert redact(f"key ending {API_KEY[-10:]}") == "key ending [redacted]"
    assert redact("no secret here, only 5e3b1c9") == "no secret here, only 5e3b1c9"  # 7 characters
    assert Redactor(None)("anything") == "anything"
