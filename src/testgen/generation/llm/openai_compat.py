"""OpenAI-compatible provider (OpenAI, Azure OpenAI, Ollama, vLLM, LM Studio, llama.cpp's server) on the
official `openai` SDK: one Chat Completions call per batch, with the retries and re-asks Gemini has.

Structured output steps down once per process when the server refuses it: a strict `json_schema`
response format first; on a 400 that names `response_format`/`json_schema`, JSON mode with the schema
in the prompt; on a refusal of that too, the schema in the prompt alone. The refused call is asked
again at once in the next mode, so no job fails for it.
"""

from __future__ import annotations

import base64
import enum
import json
import logging
import re
from collections.abc import Sequence
from typing import Any

import httpx2
import openai
import pydantic
from openai.types.chat import ChatCompletion
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from testgen.core.redaction import Scrubber
from testgen.core.redis import redact_url
from testgen.domain.job_errors import ErrorType
from testgen.generation.budget import call_tokens
from testgen.generation.llm.base import BadOutputError, BatchRequest, BatchResult, CallStats, LLMError
from testgen.generation.llm.checks import openai_config_problem
from testgen.generation.llm.clock import SYSTEM_CLOCK, Clock
from testgen.generation.llm.http_pool import model_http_client
from testgen.generation.llm.prompt import (
    SYSTEM_INSTRUCTION,
    prompt_parts,
    response_schema,
    schema_in_prompt,
    strict_schema,
)
from testgen.generation.llm.quota import openai_quota
from testgen.generation.llm.redirects import is_redirect, redirect_error
from testgen.generation.llm.retry import (
    Fault,
    RetryingCaller,
    Usage,
    ask_until_valid,
    retry_after_s,
)
from testgen.generation.llm.story_files import ImagePart

logger = logging.getLogger(__name__)

DISPLAY = "The OpenAI-compatible server"
SCHEMA_NAME = "test_cases_batch"
FREE_SCHEMA_NAME = "answer"  # the schema of a free prompt's answer (complete_json)
MAX_ERROR_TEXT = 300
_CONTEXT_TOO_LONG = re.compile(
    r"context[ _]length|context window|maximum context|too many tokens|prompt is too long"
    r"|exceeds the (?:maximum|max)|input is too long|reduce the length",
    re.IGNORECASE,
)
_MODEL_MISSING = re.compile(
    r"model.{0,200}(?:not found|does not exist|not exist|unknown|no such|try pulling)"
    r"|(?:unknown|invalid) model|model_not_found|deploymentnotfound",
    re.IGNORECASE | re.DOTALL,
)
_FORMAT_REFUSED = re.compile(r"response_format|json_schema|json_object|structured output", re.IGNORECASE)


class OutputMode(enum.IntEnum):
    """How the answer's shape is asked for, strongest first."""

    json_schema = 0
    json_object = 1
    prompt_only = 2


class _FormatRefused(Exception):
    """The server refused the response format of this call (a 400 naming it)."""


class _NotACompletion(Exception):
    """A 200 answer whose body is not a chat completion (a proxy's page, say)."""


class OpenAIProvider:
    name = "openai"

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
        problem = openai_config_problem(settings)
        if problem is not None:
            raise ConfigurationError(problem)
        key = settings.openai_api_key.get_secret_value().strip() if settings.openai_api_key else ""
        self.model = settings.openai_model
        self.azure = settings.openai_is_azure
        self.endpoint = redact_url(settings.openai_endpoint)
        self.mode = OutputMode.json_schema
        self._timeout_s = settings.openai_timeout_s
        self._max_reasks = settings.llm_max_reasks
        self._redact = Scrubber(key)
        self._caller = RetryingCaller(
            settings,
            redis,
            provider=self.name,
            display=DISPLAY,
            timeout_s=self._timeout_s,
            timeout_setting="OPENAI_TIMEOUT_S",
            redact=self._redact,
            backoff_base_s=backoff_base_s,
            backoff_max_s=backoff_max_s,
            retry_delay_cap_s=retry_delay_cap_s,
            rpm_window_s=rpm_window_s,
            clock=clock,
        )
        self._http = model_http_client(settings.llm_max_concurrency)
        timeout = httpx2.Timeout(self._timeout_s, connect=min(10.0, self._timeout_s))
        # max_retries=0: our RetryingCaller retries, within the shared budget. The key, the endpoint and
        # the API version are passed explicitly, so the SDK never takes them from its own variables.
        self._client: openai.AsyncOpenAI
        if self.azure:
            self._client = openai.AsyncAzureOpenAI(
                api_key=key,
                azure_endpoint=settings.openai_endpoint,
                api_version=settings.openai_api_version or "",
                max_retries=0,
                timeout=timeout,
                http_client=self._http,
            )
        else:
            # Without a key (a local server) no Authorization header is sent; the SDK would refuse to
            # build a client without credentials unless told not to enforce them.
            self._client = openai.AsyncOpenAI(
                api_key=key,
                base_url=settings.openai_endpoint,
                max_retries=0,
                timeout=timeout,
                http_client=self._http,
                _enforce_credentials=bool(key),
            )
        self._headers: dict[str, Any] = {} if key else {"Authorization": openai.Omit()}

    async def aclose(self) -> None:
        await self._client.close()
        await self._http.aclose()

    async def generate_batch(self, request: BatchRequest, model: str | None = None) -> BatchResult:
        stats = CallStats()
        label = f"Batch {request.batch_index + 1}/{request.batch_count}"
        model = model or self.model
        schema = response_schema(request)

        async def ask(feedback: str | None) -> str:
            parts = prompt_parts(request, feedback)
            prompt = parts.text
            tokens = call_tokens(SYSTEM_INSTRUCTION, prompt, request.scenario_count)
            tokens += request.files.image_tokens
            return await self._ask(
                prompt,
                schema,
                SYSTEM_INSTRUCTION,
                SCHEMA_NAME,
                model,
                stats,
                label,
                tokens,
                images=request.files.images,
                images_at=len(parts.prefix),
            )

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

    async def complete_json(
        self, system: str, prompt: str, schema: dict[str, Any], *, model: str, label: str
    ) -> tuple[str, CallStats]:
        """One answer in JSON to a free prompt (the model pass over an automation skeleton), with
        the retries, rate limits and output modes of a batch; the caller validates it."""
        stats = CallStats()
        tokens = call_tokens(system, prompt, None)
        return await self._ask(prompt, schema, system, FREE_SCHEMA_NAME, model, stats, label, tokens), stats

    async def _ask(
        self,
        prompt: str,
        schema: dict[str, Any],
        system: str,
        name: str,
        model: str,
        stats: CallStats,
        label: str,
        tokens: int,
        images: Sequence[ImagePart] = (),
        images_at: int | None = None,
    ) -> str:
        """One answer's text, in the strongest output mode the server takes (stepping down on a
        refusal), with the caller's retries and rate limits (`tokens`: the call's estimate)."""

        def classify(exc: Exception) -> Fault | None:
            return self._classify(exc, model)

        while True:
            mode = self.mode

            async def send(mode: OutputMode = mode) -> ChatCompletion:
                completion: object = await self._client.chat.completions.create(
                    model=model,
                    extra_headers=self._headers,
                    **_request_fields(
                        mode, prompt, schema, system=system, name=name, images=images, images_at=images_at
                    ),
                )
                if not isinstance(completion, ChatCompletion):  # the SDK returns a text body as is
                    raise _NotACompletion
                return completion

            try:
                completion = await self._caller.call(
                    send, classify, model=model, stats=stats, label=label, usage=_usage, tokens=tokens
                )
            except _FormatRefused as refused:
                self._step_down(mode, str(refused))
                continue
            return _answer_text(completion)

    def _step_down(self, refused: OutputMode, why: str) -> None:
        """Use the next weaker output mode from now on (once per process: concurrent refusals of the
        same mode step down once)."""
        if self.mode != refused:
            return
        self.mode = OutputMode(refused + 1)
        logger.warning(
            "%s at %s refused response format %s (%s); using %s from now on, with the schema in the prompt",
            DISPLAY,
            self.endpoint,
            refused.name,
            why,
            self.mode.name,
        )

    def _classify(self, exc: Exception, model: str) -> Fault | None:
        if isinstance(exc, openai.APIStatusError):
            return self._status_fault(exc, model)
        if isinstance(exc, openai.APITimeoutError):
            return Fault(ErrorType.timeout, f"no answer within {self._timeout_s:g}s")
        if isinstance(exc, openai.APIConnectionError):
            cause = type(exc.__cause__).__name__ if exc.__cause__ else type(exc).__name__
            return Fault(ErrorType.upstream, f"connection to {self.endpoint} failed: {cause}")
        if isinstance(
            exc,
            (
                _NotACompletion,
                openai.APIResponseValidationError,
                json.JSONDecodeError,
                pydantic.ValidationError,
            ),
        ):
            return Fault(ErrorType.upstream, "an answer that is not a chat completion")
        return None

    def _status_fault(self, exc: openai.APIStatusError, model: str) -> Fault:
        """Classify an HTTP error: raise at once when trying again cannot help."""
        code = exc.status_code
        if is_redirect(code):  # the client follows none (http_pool.py): the key stays with this server
            raise redirect_error(
                DISPLAY,
                self.endpoint,
                "AZURE_OPENAI_ENDPOINT" if self.azure else "OPENAI_BASE_URL",
                code,
                exc.response.headers.get("Location"),
                str(exc.response.url),
                self._redact,
            ) from None
        message, err_code, param = _error_fields(exc)
        what = self._redact(f"{code}: {message}")[:MAX_ERROR_TEXT]
        where = f"at {self.endpoint}"
        if code in (401, 403):
            raise LLMError(
                ErrorType.auth,
                f"{DISPLAY} {where} rejected the API key ({what}). Set a valid OPENAI_API_KEY in the "
                "environment or .env and restart the worker.",
            ) from None
        if (
            code in (400, 422)
            and self.mode < OutputMode.prompt_only
            and (param in ("response_format", "json_schema") or _FORMAT_REFUSED.search(message))
        ):
            raise _FormatRefused(what)
        if (
            code == 404
            or err_code == "model_not_found"
            or (code in (400, 422) and _MODEL_MISSING.search(message))
        ):
            hint = (
                "AZURE_OPENAI_ENDPOINT and the deployment name"
                if self.azure
                else "OPENAI_BASE_URL (it usually ends in /v1)"
            )
            raise LLMError(
                ErrorType.model_not_found,
                f"Model '{model}' was not found {where} ({what}). Check OPENAI_MODEL or the project's "
                f"llm_model (a local server may need the model pulled or loaded first), and {hint}.",
            ) from None
        if code in (400, 413, 422) and (
            err_code == "context_length_exceeded" or _CONTEXT_TOO_LONG.search(message)
        ):
            raise LLMError(
                ErrorType.input_too_long,
                f"The prompt is longer than model '{model}' accepts ({what}). Shorten the story or its "
                "acceptance criteria, lower BATCH_MAX_SCENARIOS, or choose a model with a longer context.",
            ) from None
        retry_after = retry_after_s(exc.response.headers)
        if code == 429:
            if err_code == "insufficient_quota":
                raise LLMError(
                    ErrorType.rate_limit,
                    f"{DISPLAY} {where} says the account's quota is used up ({what}). Check the plan and "
                    "billing of the key in OPENAI_API_KEY.",
                ) from None
            quota = openai_quota(exc.response.headers, retry_after)
            return Fault(ErrorType.rate_limit, what, retry_after, quota)
        if code >= 500 or code == 409:
            return Fault(ErrorType.upstream, what, retry_after)
        if code == 408:
            return Fault(ErrorType.timeout, what, retry_after)
        raise LLMError(ErrorType.invalid_request, f"{DISPLAY} {where} refused the request ({what})") from None


def _request_fields(
    mode: OutputMode,
    prompt: str,
    schema: dict[str, Any],
    *,
    system: str = SYSTEM_INSTRUCTION,
    name: str = SCHEMA_NAME,
    images: Sequence[ImagePart] = (),
    images_at: int | None = None,
) -> dict[str, Any]:
    if mode == OutputMode.json_schema:
        return {
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": _user_content(prompt, images, images_at)},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "schema": strict_schema(schema), "strict": True},
            },
        }
    fields: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": _user_content(f"{prompt}\n\n{schema_in_prompt(schema)}", images, images_at),
            },
        ]
    }
    if mode == OutputMode.json_object:
        fields["response_format"] = {"type": "json_object"}
    return fields


def _user_content(
    text: str, images: Sequence[ImagePart], images_at: int | None = None
) -> str | list[dict[str, Any]]:
    """The user message: the text alone, or with each image as a data URL (detail high) at character
    `images_at` of the text (the end of the prompt's shared prefix; None: after the text), so that the
    images are part of the prefix every batch of a job repeats."""
    if not images:
        return text
    at = len(text) if images_at is None else images_at
    parts: list[dict[str, Any]] = [{"type": "text", "text": text[:at]}]
    for image in images:
        url = f"data:{image.media_type};base64,{base64.b64encode(image.data).decode()}"
        parts.append({"type": "image_url", "image_url": {"url": url, "detail": "high"}})
    if text[at:]:
        parts.append({"type": "text", "text": text[at:]})
    return parts


def _error_fields(exc: openai.APIStatusError) -> tuple[str, str | None, str | None]:
    """The server's message, error code and parameter, from any of the error bodies servers send."""
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("detail") or body.get("error") or ""
        code = body.get("code")
        param = body.get("param")
        return str(message) or exc.message, str(code) if code is not None else None, param
    if isinstance(body, str) and body.strip():
        return body.strip(), None, None
    return exc.message, None, None


def _answer_text(completion: ChatCompletion) -> str:
    """The answer's text; BadOutputError when there is none (refused, cut off, empty)."""
    choices = completion.choices or []
    if not choices:
        raise BadOutputError("model returned no choices")
    choice = choices[0]
    refusal = getattr(choice.message, "refusal", None)
    if refusal:
        raise BadOutputError(f"model refused: {str(refusal)[:200]}")
    if choice.finish_reason == "length":
        raise BadOutputError("the answer was cut off at the model's output limit (finish reason length)")
    if not choice.message.content:
        raise BadOutputError(f"model returned no text (finish reason {choice.finish_reason or 'none'})")
    return choice.message.content


def _usage(completion: ChatCompletion) -> Usage:
    """Prompt, output, total and cached prompt tokens of an answer (0 when the server does not say)."""
    usage = completion.usage
    if usage is None:
        return Usage()
    prompt, output = usage.prompt_tokens or 0, usage.completion_tokens or 0
    details = usage.prompt_tokens_details
    cached = (details.cached_tokens or 0) if details is not None else 0
    return Usage(prompt, output, usage.total_tokens or prompt + output, cached)
