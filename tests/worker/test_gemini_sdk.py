"""What only the Gemini provider does, on the real google-genai client against the fake Gemini server:
the structured-output request it sends (the body the SDK builds from its own types), the errors and
answers only Gemini gives, its aiohttp pool, the environment's proxy, and no retry of the SDK's own.
What every provider does is in test_providers.py."""

from __future__ import annotations

import asyncio
import copy
import socket
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import types

from testgen.generation.llm.base import BatchRequest, LLMError
from testgen.generation.llm.gemini import GeminiProvider
from testgen.generation.llm.gemini_request import generate_config
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, build_prompt, response_schema
from testgen.generation.planning import plan_batches
from tests.support.fake_clock import FakeClock
from tests.support.fake_gemini import FakeGemini
from tests.support.harness import LONG_WAIT_S, wait_for
from tests.support.model_servers import STORY, GeminiServer, MakeProvider, ModelServer, start_model_server

API_KEY = GeminiServer.key


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    with start_model_server("gemini") as server:
        yield server


@pytest.fixture
def fake(provider: ModelServer) -> FakeGemini:
    return provider.fake


def batches(num_test_cases: int = 5, per_case: int = 3, max_scenarios: int = 15) -> list[BatchRequest]:
    return plan_batches(STORY, num_test_cases, per_case, max_scenarios)


async def test_the_request_asks_for_structured_output(fake: FakeGemini, make_provider: MakeProvider) -> None:
    request = batches(10)[1]
    await make_provider().generate_batch(request)

    call = fake.requests[0]
    assert call.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert call.api_key == API_KEY
    config = call.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseJsonSchema"]["properties"]["test_cases"]
    assert schema["minItems"] == schema["maxItems"] == 5
    assert schema["items"]["properties"]["scenarios"]["minItems"] == 3


async def test_other_client_errors_are_not_retried(fake: FakeGemini, make_provider: MakeProvider) -> None:
    fake.script("bad_request", "bad_request")
    with pytest.raises(LLMError) as info:
        await make_provider().generate_batch(batches()[0])
    assert info.value.type == "invalid_request"
    assert fake.calls == 1


@pytest.mark.parametrize(
    "model",
    ["gemini..flash", "gemini?alt=sse", "a&b", "gemini#x", "%2e%2e", "x/../y", "with space", "a\x00b"],
)
async def test_an_unusable_model_name_fails_before_any_call(
    fake: FakeGemini, make_provider: MakeProvider, model: str
) -> None:
    for chosen in (
        make_provider().generate_batch(batches()[0], model),
        make_provider(gemini_model=model).generate_batch(batches()[0]),
    ):
        with pytest.raises(LLMError) as info:  # the project's llm_model, then GEMINI_MODEL
            await chosen
        assert info.value.type == "model_not_found"  # not "internal" (the SDK's ValueError)
        assert repr(model) in info.value.message and "llm_model" in info.value.message
    assert fake.calls == 0


async def test_a_model_gemini_does_not_have_is_model_not_found(
    fake: FakeGemini, make_provider: MakeProvider
) -> None:
    fake.models = {"gemini-2.5-flash"}
    await make_provider().generate_batch(batches()[0], "models/gemini-2.5-flash")  # the API's own spelling
    with pytest.raises(LLMError) as info:
        await make_provider().generate_batch(batches()[0], "gemini-17")
    assert info.value.type == "model_not_found"
    message = info.value.message
    assert "'gemini-17'" in message and "v1beta" in message and fake.url in message
    assert "models/gemini-17 is not found" in message and "GEMINI_MODEL" in message
    assert fake.calls == 2  # not retried


@pytest.mark.parametrize(
    ("behaviour", "feedback"),
    [
        ("wrong_shape", "model output has the wrong shape: test_cases.0.scenarios: Field required"),
        ("empty", ""),
    ],
)
async def test_a_wrong_shape_or_no_text_is_asked_again(
    fake: FakeGemini, make_provider: MakeProvider, behaviour: str, feedback: str
) -> None:
    fake.script(behaviour)
    result = await make_provider().generate_batch(batches()[0])

    assert fake.calls == 2
    assert len(result.test_cases) == 5 and all(len(c.scenarios) == 3 for c in result.test_cases)
    assert (result.stats.calls, result.stats.reasks, result.stats.retries) == (2, 1, 0)
    assert "previous answer was rejected" not in fake.requests[0].user_text
    assert "previous answer was rejected" in fake.requests[1].user_text
    assert feedback in fake.requests[1].user_text  # the model is told what was wrong


async def test_a_wrong_shape_gives_up_after_max_reasks(fake: FakeGemini, make_provider: MakeProvider) -> None:
    fake.script(*["wrong_shape"] * 3)
    with pytest.raises(LLMError) as info:
        await make_provider(llm_max_reasks=2).generate_batch(batches()[0])
    assert info.value.type == "bad_output"  # not "internal": the answer was understood and refused
    assert "shape" in info.value.message and "3 times in a row" in info.value.message
    assert fake.calls == 3


async def test_many_calls_at_once_share_one_aiohttp_pool_sized_to_the_bound(
    fake: FakeGemini, make_provider: MakeProvider
) -> None:
    """150 calls at once: all in flight together, through one aiohttp pool of 150 connections (the
    transport that costs the least CPU per call, see generation/llm/http_pool.py). The server holds its
    answers until all 150 are in flight."""
    # 150 calls take seconds to open on a busy machine: the first ones wait, paused, for the last.
    provider = make_provider(llm_max_concurrency=150, timeout_s=LONG_WAIT_S)
    request = batches(1, 1)[0]
    fake.pause()
    calls = asyncio.gather(*(provider.generate_batch(request) for _ in range(150)))
    await wait_for(lambda: fake.in_flight == 150, what="150 calls in flight", timeout_s=LONG_WAIT_S)
    fake.resume()
    results = await calls
    assert len(results) == 150 and fake.max_in_flight == 150
    assert isinstance(provider, GeminiProvider)
    session = provider._http
    assert isinstance(session, aiohttp.ClientSession) and session.connector is not None
    assert session.connector.limit == 150


async def test_a_refused_connection_is_retried_by_us_only(
    make_provider: MakeProvider, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing listens: each of our attempts is one request that fails at once (the SDK's own retry of
    aiohttp connection errors, after a 1-10 s sleep, is off) and the error names the failure."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    requests: list[str] = []
    send = aiohttp.ClientSession._request

    def counted(self: aiohttp.ClientSession, method: str, url: Any, **kwargs: Any) -> Any:
        requests.append(str(url))
        return send(self, method, url, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "_request", counted)
    with pytest.raises(LLMError) as info:
        await make_provider(gemini_base_url=f"http://127.0.0.1:{port}", llm_max_attempts=2).generate_batch(
            batches()[0]
        )
    assert len(requests) == 2 and len(clock.sleeps) == 1  # two attempts, our one backoff between them
    assert info.value.type == "upstream"
    assert "connection failed: ClientConnectorError" in info.value.message
    assert API_KEY not in info.value.message


async def test_the_body_sent_is_the_one_the_sdk_builds_from_its_own_types(
    fake: FakeGemini, make_provider: MakeProvider
) -> None:
    """The cached config of generation/llm/gemini_request.py changes what the SDK costs, not what it
    sends: the same body as a plain client with the SDK's own types, for two batch shapes. The SDK
    gets it without a copy, and after the calls it is still what was built."""
    shared = generate_config(5, 3)
    built = shared.model_dump()
    assert copy.deepcopy(shared) is shared
    provider = make_provider()
    session = aiohttp.ClientSession()
    options = types.HttpOptions(base_url=fake.url, api_version="v1beta", aiohttp_client=session)
    plain = genai.Client(api_key=API_KEY, http_options=options)
    try:
        for request in (batches(5, 3)[0], batches(2, 1)[0]):
            await provider.generate_batch(request)
            config = types.GenerateContentConfig(
                system_instruction=SYSTEM_INSTRUCTION,
                temperature=0.7,
                response_mime_type="application/json",
                response_json_schema=response_schema(request),
                automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
            )
            await plain.aio.models.generate_content(
                model="gemini-2.5-flash", contents=build_prompt(request), config=config
            )
            ours, theirs = fake.requests[-2:]
            assert ours.body == theirs.body and ours.path == theirs.path
        assert generate_config(5, 3) is shared and shared.model_dump() == built
    finally:
        await plain.aio.aclose()
        await session.close()


@pytest.mark.parametrize("exempt", [False, True])
async def test_the_environment_proxy_is_used_unless_no_proxy_exempts_the_host(
    fake: FakeGemini, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch, exempt: bool
) -> None:
    """HTTP_PROXY names a proxy that refuses connections: a call goes through it (and fails) unless
    NO_PROXY exempts the server's host (then it reaches the fake)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{port}")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, "127.0.0.1" if exempt else "")
    provider = make_provider(llm_max_attempts=1)
    if exempt:
        assert len((await provider.generate_batch(batches()[0])).test_cases) == 5
        assert fake.calls == 1
    else:
        with pytest.raises(LLMError, match="connection failed"):
            await provider.generate_batch(batches()[0])
        assert fake.calls == 0
