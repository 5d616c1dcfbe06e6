from __future__ import annotations

import asyncio

import pytest

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
