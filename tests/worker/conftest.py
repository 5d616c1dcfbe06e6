"""Fixtures of the tests that hold for every remote provider: `provider` is each provider's fake model
server in turn (a module of one provider's tests overrides `model_server` with that one), and
`make_provider` builds providers against it on a fake clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.generation.llm.gemini import GeminiProvider
from testgen.generation.llm.openai_compat import OpenAIProvider
from tests.support.fake_clock import FakeClock
from tests.support.model_servers import PROVIDERS, MakeProvider, ModelServer, start_model_server


@pytest.fixture(scope="module", params=PROVIDERS)
def model_server(request: pytest.FixtureRequest) -> Iterator[ModelServer]:
    """Each provider's fake server, started once per module."""
    with start_model_server(request.param) as server:
        yield server


@pytest.fixture
def provider(model_server: ModelServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModelServer]:
    """The model server with nothing scripted or recorded, reached without a proxy."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    model_server.reset()
    yield model_server
    model_server.reset()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_provider(
    provider: ModelServer, redis: Redis, redis_url: str, clock: FakeClock
) -> AsyncIterator[MakeProvider]:
    """`make(timeout_s=..., **settings)`: a provider for the model server; every backoff and RPM wait
    of the test's providers goes to `clock`."""
    providers: list[GeminiProvider | OpenAIProvider] = []

    def make(
        *, backoff_base_s: float = 0.01, rpm_window_s: float = 60.0, timeout_s: float = 5.0, **overrides: Any
    ) -> GeminiProvider | OpenAIProvider:
        values: dict[str, Any] = {
            **provider.values(timeout_s=timeout_s),
            "llm_max_attempts": 3,
            "llm_max_reasks": 2,
            "llm_max_concurrency": 32,
            "llm_rpm": 0,
            "redis_url": redis_url,
            **overrides,
        }
        settings = Settings(_env_file=None, **values)
        built = provider.build(
            settings, redis, backoff_base_s=backoff_base_s, rpm_window_s=rpm_window_s, clock=clock.clock
        )
        providers.append(built)
        return built

    yield make
    for built in providers:
        await built.aclose()
