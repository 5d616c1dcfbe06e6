from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from testgen.core.config import Settings


def test_provider_defaults_follow_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLM_PROVIDER", raising=False)
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    assert Settings(_env_file=None).provider == "offline"  # type: ignore[call-arg]
    monkeypatch.setenv("GEMINI_API_KEY", "k")
    assert Settings(_env_file=None).provider == "gemini"  # type: ignore[call-arg]


def test_empty_values_mean_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in ("REDIS_URL", "GEMINI_API_KEY", "LLM_PROVIDER", "API_KEYS", "GEMINI_BASE_URL"):
        monkeypatch.setenv(name, "")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.uses_embedded_redis
    assert settings.effective_redis_url.startswith("unix://")
    assert settings.provider == "offline" and settings.api_key_list == []


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-secret")
    monkeypatch.setenv("REDIS_URL", "redis://:hunter2@db:6379/0")
    text = repr(Settings(_env_file=None))  # type: ignore[call-arg]
    assert "AIza-secret" not in text and "hunter2" not in text


def test_the_event_loop_is_uvloop_where_installed_unless_asked_otherwise() -> None:
    import uvloop

    from testgen.core.event_loop import new_event_loop, resolve

    assert resolve("auto") == "uvloop" and resolve("asyncio") == "asyncio"
    for choice, kind in (("auto", uvloop.Loop), ("uvloop", uvloop.Loop), ("asyncio", asyncio.BaseEventLoop)):
        loop = new_event_loop(choice)  # type: ignore[arg-type]
        try:
            assert isinstance(loop, kind)
            assert choice == "asyncio" or not type(loop).__module__.startswith("asyncio")
        finally:
            loop.close()
    assert Settings(_env_file=None, event_loop="asyncio").event_loop == "asyncio"  # type: ignore[call-arg]


SECRET = "a-stream-token-secret-of-32-chars!"


@pytest.mark.parametrize(
    ("keys", "secret", "problem"),
    [
        (", ,", SECRET, "API_KEYS lists no key (only commas and spaces)"),
        (",", SECRET, "leave API_KEYS empty to run without keys"),
        (
            "k9z",
            SECRET,
            "every key needs at least 16 characters (a short key is easy to guess), and key 1 of 1",
        ),
        ("a-key-of-16-char, k9z, q7w", SECRET, "keys 2, 3 of 3 have fewer"),
        ("a-key-of-16-char", None, "STREAM_TOKEN_SECRET is not set"),
        ("a-key-of-16-char", "x" * 31, "STREAM_TOKEN_SECRET is shorter than 32 characters"),
    ],
)
def test_api_keys_that_cannot_guard_the_api(keys: str, secret: str | None, problem: str) -> None:
    settings = Settings(_env_file=None, api_keys=keys, stream_token_secret=secret)  # type: ignore[call-arg]
    found = settings.api_keys_problem()
    assert found is not None and problem in found
    assert "secrets.token_urlsafe" in found or "empty" in found  # it says what to do
    assert keys.strip(", ") == "" or keys.split(",")[-1].strip() not in found  # never a key


def test_api_keys_that_guard_the_api() -> None:
    for keys, secret in ((None, None), ("  ", None), ("a-key-of-16-char , another-key-16ch", SECRET)):
        settings = Settings(_env_file=None, api_keys=keys, stream_token_secret=secret)  # type: ignore[call-arg]
        assert settings.api_keys_problem() is None
    settings = Settings(_env_file=None, stream_token_secret=SecretStr(SECRET))  # type: ignore[call-arg]
    assert settings.api_keys_problem() is None  # a secret without keys is unused
