"""The remote providers' model servers behind one face, for tests that hold for every provider: the fake
server (Gemini's or the OpenAI-compatible one), the settings that point testgen at it, the provider
built from them, and the names their messages use."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from pydantic import SecretStr
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.generation.llm.base import StoryText
from testgen.generation.llm.gemini import GeminiProvider
from testgen.generation.llm.openai_compat import OpenAIProvider
from tests.support.fake_gemini import FakeGemini, RecordedCall
from tests.support.fake_openai import FakeOpenAI

PROVIDERS = ["gemini", "openai"]
# The story the provider tests send (three criteria, the last with a number).
STORY = StoryText(
    id="US-1",
    title="Log in",
    description="As a user I want to log in with my email and password.",
    acceptance_criteria=["valid credentials log in", "a wrong password is rejected", "5 failures lock"],
)
RETRY_DELAY_S = 0.1  # what the fakes' 429 asks: far from the tests' backoff base, far below the cap

MakeProvider = Callable[..., GeminiProvider | OpenAIProvider]


class ModelServer:
    """One provider's fake server. `values()` are the settings for it; `build()` the provider."""

    name: ClassVar[str]
    display: ClassVar[str]  # the provider in its log lines and messages
    key: ClassVar[str]
    model: ClassVar[str]
    key_field: ClassVar[str]  # the key's field in Settings
    key_setting: ClassVar[str]
    base_url_setting: ClassVar[str]
    timeout_setting: ClassVar[str]
    usage_fields: ClassVar[tuple[str, str, str]]  # prompt, output and total tokens in the answer
    cached_field: ClassVar[str]  # the cached prompt tokens in a recorded call's usage
    rate_limited: ClassVar[str]  # how a 429 is described in the log
    fake: FakeGemini

    def values(self, *, timeout_s: float = 5.0) -> dict[str, Any]:
        raise NotImplementedError

    def build(
        self, settings: Settings, redis: Redis | None, **options: Any
    ) -> GeminiProvider | OpenAIProvider:
        raise NotImplementedError

    def configure(self, settings: Settings, *, timeout_s: float = 5.0) -> Settings:
        """`settings` (a worker's) pointed at this server, with this provider as the default."""
        for name, value in self.values(timeout_s=timeout_s).items():
            setattr(settings, name, SecretStr(value) if name.endswith("_api_key") else value)
        return settings

    def model_of(self, call: RecordedCall) -> str:
        raise NotImplementedError

    def cached_of(self, call: RecordedCall) -> int:
        """The prompt tokens the server reported as served from its cache."""
        return (call.usage or {}).get(self.cached_field, 0)

    def auth_names(self) -> list[str]:
        """What a rejected key's message names for the user to fix."""
        return [self.key_setting]

    known_models: frozenset[str] | None = None  # the models the fake has (None: any name)

    def reset(self) -> None:
        """Forget the calls and the script; every knob back to the default."""
        self.fake.reset()
        self.fake.latency_s = self.fake.latency_per_scenario_s = 0.0
        self.fake.hang_s = 30.0
        self.fake.valid_keys = None
        self.fake.echo_style = "exact"
        self.fake.redirect_to = None
        self.fake.redirected = 0
        self.fake.enforce()  # no quota
        self.fake.models = None if self.known_models is None else set(self.known_models)


class GeminiServer(ModelServer):
    name = "gemini"
    display = "Gemini"
    key = "AIzaSy-test-key-5e3b1c9d7f"
    model = "gemini-2.5-flash"
    key_field = "gemini_api_key"
    key_setting = "GEMINI_API_KEY"
    base_url_setting = "GEMINI_BASE_URL"
    timeout_setting = "GEMINI_TIMEOUT_S"
    usage_fields = ("promptTokenCount", "candidatesTokenCount", "totalTokenCount")
    cached_field = "cachedContentTokenCount"
    rate_limited = "429 RESOURCE_EXHAUSTED"

    def __init__(self) -> None:
        self.fake = FakeGemini(retry_delay=f"{RETRY_DELAY_S}s")

    def values(self, *, timeout_s: float = 5.0) -> dict[str, Any]:
        return {
            "llm_provider": self.name,
            self.key_field: self.key,
            "gemini_base_url": self.fake.url,
            "gemini_model": self.model,
            "gemini_api_version": "v1beta",
            "gemini_timeout_s": timeout_s,
        }

    def build(self, settings: Settings, redis: Redis | None, **options: Any) -> GeminiProvider:
        return GeminiProvider(settings, redis, **options)

    def model_of(self, call: RecordedCall) -> str:
        return call.path.split("/models/", 1)[1].split(":", 1)[0]


class OpenAIServer(ModelServer):
    name = "openai"
    display = "The OpenAI-compatible server"
    key = "sk-proj-test-5e3b1c9d7f2a4b6c8d0e"
    model = "llama3.1:8b"
    key_field = "openai_api_key"
    key_setting = "OPENAI_API_KEY"
    base_url_setting = "OPENAI_BASE_URL"
    timeout_setting = "OPENAI_TIMEOUT_S"
    usage_fields = ("prompt_tokens", "completion_tokens", "total_tokens")
    cached_field = "cached_tokens"  # the fake's record of usage.prompt_tokens_details.cached_tokens
    rate_limited = "429: Rate limit reached"
    known_models = frozenset({model, "other-model"})
    fake: FakeOpenAI

    def __init__(self) -> None:
        self.fake = FakeOpenAI(retry_after=f"{RETRY_DELAY_S}", models=set(self.known_models))

    def values(self, *, timeout_s: float = 5.0) -> dict[str, Any]:
        return {
            "llm_provider": self.name,
            self.key_field: self.key,
            "openai_base_url": self.fake.url,
            "openai_model": self.model,
            "openai_timeout_s": timeout_s,
        }

    def build(self, settings: Settings, redis: Redis | None, **options: Any) -> OpenAIProvider:
        return OpenAIProvider(settings, redis, **options)

    def model_of(self, call: RecordedCall) -> str:
        return str(call.body["model"])

    def auth_names(self) -> list[str]:
        return [self.key_setting, self.fake.url]  # the server too: a local one may want another key

    def reset(self) -> None:
        super().reset()
        self.fake.supports_json_schema = self.fake.supports_json_object = True
        self.fake.error_style = "openai"


@contextmanager
def start_model_server(name: str) -> Iterator[ModelServer]:
    """The named provider's fake server, started."""
    server: ModelServer = GeminiServer() if name == "gemini" else OpenAIServer()
    with server.fake:
        yield server
