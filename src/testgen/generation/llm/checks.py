"""Whether each LLM provider's settings can work, checked without importing any SDK (the API uses this)."""

from __future__ import annotations

from testgen.core import messages
from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.domain.job_options import LLMChoice


def provider_problem(settings: Settings, name: str) -> str | None:
    """What keeps provider `name` from working with these settings, or None."""
    if not settings.provider_configured(name):
        return messages.provider_not_configured(name, settings.configured_providers)
    if name == "gemini" and not (
        settings.gemini_api_key and settings.gemini_api_key.get_secret_value().strip()
    ):
        return (
            "LLM_PROVIDER=gemini but GEMINI_API_KEY is not set: set GEMINI_API_KEY in the environment "
            "or .env, or use LLM_PROVIDER=offline"
            if name == settings.provider
            else "GEMINI_API_KEY is not set"
        )
    if name == "openai":
        return openai_config_problem(settings)
    return None


def provider_problems(settings: Settings) -> dict[str, str]:
    """Every configured provider's problem, by provider name."""
    found = {name: provider_problem(settings, name) for name in settings.configured_providers}
    return {name: problem for name, problem in found.items() if problem is not None}


def check_provider_config(settings: Settings, name: str | None = None) -> None:
    """Refuse a provider (the default one unless named) that cannot work, saying how to fix it."""
    problem = provider_problem(settings, name or settings.provider)
    if problem is not None:
        raise ConfigurationError(problem)


def openai_config_problem(settings: Settings) -> str | None:
    """What keeps the openai provider from working with these settings, or None."""
    has_key = settings.openai_api_key is not None and bool(settings.openai_api_key.get_secret_value().strip())
    if settings.openai_is_azure:
        if not (settings.azure_openai_endpoint or settings.openai_base_url):
            return "Azure OpenAI needs AZURE_OPENAI_ENDPOINT (https://<resource>.openai.azure.com)"
        if not settings.openai_api_version:
            return "Azure OpenAI needs OPENAI_API_VERSION (e.g. 2024-10-21)"
        if not has_key:
            return "Azure OpenAI needs OPENAI_API_KEY (the resource's key)"
        return None
    if settings.openai_base_url is None and not has_key:
        return (
            "OPENAI_API_KEY is not set: api.openai.com needs one; for a local server (Ollama, vLLM, "
            "LM Studio, llama.cpp) set OPENAI_BASE_URL instead"
        )
    return None


def job_choice(settings: Settings, provider: str | None, model: str | None) -> LLMChoice:
    """The provider and model a job is queued with: the project's choice, else the server's default (a
    model chosen without a provider is a model of the default provider). A chosen provider that is no
    longer configured is refused by check_provider_config, never silently swapped for another."""
    name = provider or settings.provider
    return LLMChoice(llm_provider=name, llm_model=model or settings.default_model(name))
