"""Builds the LLM providers of a worker process: one client per configured provider, shared by its jobs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.domain.job_errors import ErrorType
from testgen.domain.job_options import LLMChoice
from testgen.generation.llm.base import BatchRequest, BatchResult, LLMError, LLMProvider
from testgen.generation.llm.checks import (
    check_provider_config,
    provider_problem,
)

logger = logging.getLogger(__name__)


def create_provider(settings: Settings, redis: Redis | None, name: str | None = None) -> LLMProvider:
    name = name or settings.provider
    check_provider_config(settings, name)
    if name == "gemini":
        from testgen.generation.llm.gemini import GeminiProvider

        return GeminiProvider(settings, redis)
    if name == "openai":
        from testgen.generation.llm.openai_compat import OpenAIProvider

        return OpenAIProvider(settings, redis)
    from testgen.generation.llm.offline import OfflineProvider

    return OfflineProvider(delay_s=settings.offline_llm_delay_s)


@dataclass(frozen=True)
class BoundProvider:
    """A provider with the model one job uses."""

    provider: LLMProvider
    model: str

    @property
    def name(self) -> str:
        return self.provider.name

    async def generate_batch(self, request: BatchRequest, model: str | None = None) -> BatchResult:
        return await self.provider.generate_batch(request, model or self.model)

    async def aclose(self) -> None:
        return None


class ProviderSet:
    """One provider (one client, one connection pool) per provider configured on the server."""

    def __init__(self, providers: Mapping[str, LLMProvider], settings: Settings) -> None:
        self._providers = dict(providers)
        self._settings = settings

    @classmethod
    def build(cls, settings: Settings, redis: Redis | None) -> ProviderSet:
        """Every configured provider that can work; the default one must."""
        check_provider_config(settings)
        providers: dict[str, LLMProvider] = {}
        for name in settings.configured_providers:
            problem = provider_problem(settings, name)
            if problem is None:
                providers[name] = create_provider(settings, redis, name)
            else:
                logger.warning("LLM provider %s is not usable (%s); jobs that ask for it fail", name, problem)
        return cls(providers, settings)

    @property
    def names(self) -> list[str]:
        return list(self._providers)

    def for_job(self, options: LLMChoice) -> BoundProvider:
        """The provider and model named in a job's options (the default for jobs queued without)."""
        name = options.llm_provider or self._settings.provider
        provider = self._providers.get(name)
        if provider is None:
            raise LLMError(
                ErrorType.configuration,
                f"This job asks for LLM provider '{name}', which this worker has not configured "
                f"(it has: {', '.join(self._providers)}). Configure it on every worker, or change the "
                "project's llm_provider.",
            )
        model = options.llm_model or self._settings.default_model(name)
        return BoundProvider(provider, model)

    async def aclose(self) -> None:
        for provider in self._providers.values():
            await provider.aclose()


__all__ = ["check_provider_config", "provider_problem"]
