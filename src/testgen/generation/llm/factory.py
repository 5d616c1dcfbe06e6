"""Builds the configured LLM provider (one per worker process)."""

from __future__ import annotations

from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.generation.llm.base import LLMProvider


def check_provider_config(settings: Settings) -> None:
    """Refuse a configuration that cannot work, with a message that says how to fix it."""
    if settings.provider == "gemini" and not settings.gemini_api_key:
        raise ConfigurationError(
            "LLM_PROVIDER=gemini but GEMINI_API_KEY is not set: set GEMINI_API_KEY in the environment "
            "or .env, or use LLM_PROVIDER=offline"
        )


def create_provider(settings: Settings, redis: Redis) -> LLMProvider:
    check_provider_config(settings)
    if settings.provider == "gemini":
        from testgen.generation.llm.gemini import GeminiProvider

        return GeminiProvider(settings, redis)
    from testgen.generation.llm.offline import OfflineProvider

    return OfflineProvider(delay_s=settings.offline_llm_delay_s)
