"""Gemini provider: one batch of test cases per structured-output call, with retries and re-asks."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import aiohttp
import pydantic
from google import genai
from google.genai import errors, types
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.core.redaction import Scrubber
from testgen.domain.job_errors import ErrorType
from testgen.generation.budget import call_tokens
from testgen.generation.llm.base import BadOutputError, BatchRequest, BatchResult, CallStats, LLMError
from testgen.generation.llm.clock import SYSTEM_CLOCK, Clock
from testgen.generation.llm.gemini_request import generate_config
from testgen.generation.llm.http_pool import model_aiohttp_session
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, PromptParts, prompt_parts, shared_prefix
from testgen.generation.llm.quota import gemini_quota
from testgen.generation.llm.redirects import is_redirect, redirect_error
from testgen.generation.llm.retry import Fault, RetryingCaller, Usage, ask_until_valid
from testgen.generation.llm.story_files import ImagePart

logger = logging.getLogger(__name__)

RETRYABLE_SERVER_CODES = frozenset({500, 502, 503, 504})
MIN_API_DEADLINE_S = 10.0
AUTH_HINT = "Set a valid GEMINI_API_KEY in the environment or .env and restart the worker."
DISPLAY = "Gemini"
GEMINI_API_URL = "https://generativelanguage.googleapis.com/"  # the SDK's, when no base URL is set
# A name the Gemini API can take: letters and digits joined by '.', '-' or '_' ("gemini-2.5-flash"),
# maybe after "models/" or "tunedModels/". Any other name would change the call's URL ('..', '#',
# '%2e', '/') or be refused by the SDK (a ValueError): it fails the job before any call.
MODEL_NAME = re.compile(r"(?:models/|tunedModels/)?[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
MODEL_HINT = "Check GEMINI_MODEL or the project's llm_model"


class GeminiProvider:
    name = "gemini"

    def __init__(
        self,
        settings: Settings,
        redis: Redis | None,
        *,
        backoff_base_s: float = 0.5,
        backoff_max_s: float = 30.0,
        retry_delay_cap_s: float = 60.0,
        rpm_window_s: float = 60.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        if settings.gemini_api_key is None or not settings.gemini_api_key.get_secret_value().strip():
            raise ConfigurationError("GEMINI_API_KEY is not set: set it in the environment or .env")
        key = settings.gemini_api_key.get_secret_value().strip()
        self.model = settings.gemini_model
        self._timeout_s = settings.gemini_timeout_s
        if settings.gemini_base_url is None and self._timeout_s < MIN_API_DEADLINE_S:
            logger.warning(
                "GEMINI_TIMEOUT_S=%g is below the %gs deadline the Gemini API accepts; calls will be refused",
                self._timeout_s,
                MIN_API_DEADLINE_S,
            )
        self._max_reasks = settings.llm_max_reasks
        self._redact = Scrubber(key)
        self._caller = RetryingCaller(
            settings,
            redis,
            provider=self.name,
            display=DISPLAY,
            timeout_s=self._timeout_s,
            timeout_setting="GEMINI_TIMEOUT_S",
            redact=self._redact,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            retry_delay_cap_s=retry_delay_cap_s,
            rpm_window_s=rpm_window_s,
            clock=clock,
        )
        self._key = key
        self._base_url = settings.gemini_base_url or None
        self._api_version = settings.gemini_api_version
        self._max_connections = settings.llm_max_concurrency
        self._http: aiohttp.ClientSession | None = None
        self._client: genai.Client | None = None

    def _sdk(self) -> genai.Client:
        """The SDK client, made on first use: its aiohttp session belongs to the running loop."""
        if self._client is None:
            # Our own session sizes the pool to the concurrency bound (http_pool.py says why aiohttp). The
            # SDK applies the timeout to every request. One attempt: our RetryingCaller retries, and an
            # explicit retry_options also turns off the SDK's own retry of aiohttp connection errors
            # (after a random 1-10 s sleep). No redirect is followed (redirects.py says why): the SDK
            # passes `allow_redirects` to each aiohttp request, `follow_redirects` to its httpx clients.
            self._http = model_aiohttp_session(self._max_connections, self._base_url or GEMINI_API_URL)
            self._client = genai.Client(
                api_key=self._key,
                http_options=types.HttpOptions(
                    base_url=self._base_url,
                    api_version=self._api_version,
                    timeout=max(1, round(self._timeout_s * 1000)),
                    aiohttp_client=self._http,
                    client_args={"follow_redirects": False},
                    async_client_args={"allow_redirects": False, "follow_redirects": False},
                    retry_options=types.HttpRetryOptions(attempts=1),
                ),
            )
        return self._client

    async def aclose(self) -> None:
        client, http, self._client, self._http = self._client, self._http, None, None
        if client is not None:
            await client.aio.aclose()
            client.close()
        if http is not None:
            await http.close()

    async def generate_batch(self, request: BatchRequest, model: str | None = None) -> BatchResult:
        stats = CallStats()
        label = f"Batch {request.batch_index + 1}/{request.batch_count}"
        config = generate_config(
            len(request.slots), request.scenarios_per_test_case, tuple(request.techniques)
        )
        if request.cached_context:  # the system instruction and the shared prefix are in the cache
            config = config.model_copy(
                update={"system_instruction": None, "cached_content": request.cached_context}
            )
        model = model or self.model
        if not MODEL_NAME.fullmatch(model):
            raise LLMError(
                ErrorType.model_not_found,
                f"Gemini has no model named {model[:100]!r}: its models are named like 'gemini-2.5-flash' "
                f"(letters and digits joined by '.', '-' or '_', maybe after 'models/'). {MODEL_HINT}.",
            )

        def classify(exc: Exception) -> Fault | None:
            return self._classify(exc, model)

        async def ask(feedback: str | None) -> str:
            parts = prompt_parts(request, feedback)
            prompt = parts.text
            contents = parts.suffix if request.cached_context else with_images(parts, request.files.images)

            async def send() -> types.GenerateContentResponse:
                return await self._sdk().aio.models.generate_content(
                    model=model, contents=contents, config=config
                )

            tokens = call_tokens(SYSTEM_INSTRUCTION, prompt, request.scenario_count)
            tokens += request.files.image_tokens
            response = await self._caller.call(
                send, classify, model=model, stats=stats, label=label, usage=_usage, tokens=tokens
            )
            return _response_text(response)

        drafts = await ask_until_valid(
            ask,
            request,
            max_reasks=self._max_reasks,
            display=DISPLAY,
            label=label,
            stats=stats,
            redact=self._redact,
            on_reask=lambda: self._caller.reasked(model),
        )
        return BatchResult(test_cases=drafts, stats=stats)

    async def cache_context(self, request: BatchRequest, model: str, ttl_s: int) -> str | None:
        """An explicit cache of what every batch of the job shares (the system instruction, the
        prompt's shared prefix and the story's images), living `ttl_s` seconds at most; its name, or
        None when Gemini refuses it (the job then runs on implicit caching)."""
        parts = [types.Part(text=shared_prefix(request))]
        parts += [types.Part.from_bytes(data=i.data, mime_type=i.media_type) for i in request.files.images]
        config = types.CreateCachedContentConfig(
            contents=[types.Content(role="user", parts=parts)],
            system_instruction=SYSTEM_INSTRUCTION,
            ttl=f"{ttl_s}s",
            display_name=f"testgen story {request.story.id}"[:128],
        )
        try:
            cache = await self._sdk().aio.caches.create(model=model, config=config)
        except (errors.APIError, aiohttp.ClientError, TimeoutError, pydantic.ValidationError) as exc:
            logger.warning("Gemini did not cache the job's shared prompt (%s)", self._redact(str(exc))[:300])
            return None
        return cache.name

    async def drop_context(self, name: str) -> None:
        """Delete an explicit cache (it would expire by itself at the end of its time to live)."""
        try:
            await self._sdk().aio.caches.delete(name=name)
        except (errors.APIError, aiohttp.ClientError, TimeoutError) as exc:
            logger.warning("Could not delete Gemini cache %s (%s)", name, self._redact(str(exc))[:300])

    async def complete_json(
        self, system: str, prompt: str, schema: dict[str, Any], *, model: str, label: str
    ) -> tuple[str, CallStats]:
        """One answer in JSON to a free prompt (the model pass over an automation skeleton), with
        the retries and rate limits of a batch; the caller validates it."""
        stats = CallStats()
        if not MODEL_NAME.fullmatch(model):
            raise LLMError(
                ErrorType.model_not_found, f"Gemini has no model named {model[:100]!r}. {MODEL_HINT}."
            )
        config = types.GenerateContentConfig(
            system_instruction=system,
            temperature=0.2,
            response_mime_type="application/json",
            response_json_schema=schema,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )

        def classify(exc: Exception) -> Fault | None:
            return self._classify(exc, model)

        async def send() -> types.GenerateContentResponse:
            return await self._sdk().aio.models.generate_content(model=model, contents=prompt, config=config)

        tokens = call_tokens(system, prompt, None)
        response = await self._caller.call(
            send, classify, model=model, stats=stats, label=label, usage=_usage, tokens=tokens
        )
        return _response_text(response), stats

    def _classify(self, exc: Exception, model: str) -> Fault | None:
        if isinstance(exc, errors.APIError):
            return self._api_fault(exc, model)
        if isinstance(exc, aiohttp.ClientError):  # timeouts are TimeoutErrors: RetryingCaller's own
            return Fault(ErrorType.upstream, f"connection failed: {type(exc).__name__}")
        if isinstance(exc, (json.JSONDecodeError, pydantic.ValidationError)):
            return Fault(ErrorType.upstream, "an answer that is not a Gemini response")
        return None

    def _api_fault(self, exc: errors.APIError, model: str) -> Fault:
        """Classify an HTTP error: raise at once when trying again cannot help."""
        code, status = exc.code, exc.status or ""
        if is_redirect(code):
            response = getattr(exc, "response", None)
            headers = getattr(response, "headers", None) or {}
            raise redirect_error(
                DISPLAY,
                self._base_url or GEMINI_API_URL,
                "GEMINI_BASE_URL",
                code,
                headers.get("Location"),
                str(getattr(response, "url", "") or ""),
                self._redact,
            ) from None
        what = self._redact(f"{code} {status}: {exc.message or 'no message'}".strip())
        details = _error_details(exc)
        reasons = {d.get("reason") for d in details}
        if code in (401, 403) or "API_KEY_INVALID" in reasons:
            raise LLMError(ErrorType.auth, f"Gemini rejected the API key ({what}). {AUTH_HINT}") from None
        retry_after = _retry_delay_s(details)
        if code == 429:
            return Fault(ErrorType.rate_limit, what, retry_after, gemini_quota(details, retry_after))
        if code in RETRYABLE_SERVER_CODES:
            return Fault(ErrorType.upstream, what, retry_after)
        if code == 408:
            return Fault(ErrorType.timeout, what, retry_after)
        if code == 404:  # what the Gemini API answers for a model it does not have
            where = f" at {self._base_url}" if self._base_url else ""
            raise LLMError(
                ErrorType.model_not_found,
                f"Gemini{where} has no model {model!r} in API version {self._api_version} ({what}). "
                f"{MODEL_HINT}, and GEMINI_API_VERSION.",
            ) from None
        if 400 <= code < 500:
            raise LLMError(ErrorType.invalid_request, f"Gemini refused the request ({what})") from None
        raise LLMError(ErrorType.upstream, f"Gemini failed ({what})") from None


def with_images(prompt: PromptParts, images: Sequence[ImagePart]) -> str | list[types.Content]:
    """The call's contents: the prompt alone, or with the story's images as inline data between its
    shared prefix and the batch's part (so every batch of the job begins with the same tokens)."""
    if not images:
        return prompt.text
    parts = [types.Part(text=prompt.prefix)]
    parts += [types.Part.from_bytes(data=image.data, mime_type=image.media_type) for image in images]
    parts.append(types.Part(text=prompt.suffix))
    return [types.Content(role="user", parts=parts)]


def _response_text(response: types.GenerateContentResponse) -> str:
    """The answer's text; BadOutputError when there is none (blocked, cut off, empty)."""
    candidates = response.candidates or []
    parts = (candidates[0].content.parts or []) if candidates and candidates[0].content else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    if text:
        return text
    reason = candidates[0].finish_reason if candidates else None
    blocked = response.prompt_feedback.block_reason if response.prompt_feedback else None
    why = (
        f"prompt blocked: {blocked.value}"
        if blocked
        else f"finish reason {reason.value if reason else 'none'}"
    )
    raise BadOutputError(f"model returned no text ({why})")


def _usage(response: types.GenerateContentResponse) -> Usage:
    """Prompt, output, total and cached tokens of an answer (thinking tokens are billed as output;
    the cached ones, implicitly or from an explicit cache, are part of the prompt's)."""
    usage = response.usage_metadata
    if usage is None:
        return Usage()
    prompt = usage.prompt_token_count or 0
    output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
    cached = usage.cached_content_token_count or 0
    return Usage(prompt, output, usage.total_token_count or prompt + output, cached)


def _error_details(exc: errors.APIError) -> list[dict[str, Any]]:
    body = exc.details if isinstance(exc.details, dict) else {}
    error = body.get("error", body)
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _retry_delay_s(details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        if str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = re.fullmatch(r"\s*(\d+(?:\.\d*)?)s\s*", str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None
