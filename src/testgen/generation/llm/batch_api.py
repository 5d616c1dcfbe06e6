"""The providers' Batch APIs: many generation requests sent as one provider batch, answered within 24 h
at half the price of the same calls one by one (data/usage.py's BATCH_PRICE_FACTOR).

Each request is the one a normal call of the provider sends (the same prompt, system instruction and
answer schema, built by the provider module's own builders), keyed by an id of ours: Gemini's inline
requests carry it in their metadata, OpenAI's JSONL lines in `custom_id`. A client submits the
requests, reads the batch's state, fetches the answers by key and cancels the batch; it never waits:
the caller polls. Answers are validated as a normal call's are (`parse_batch_output`); a request the
provider failed, or answered with something unusable, comes back as a failed item with its reason,
for the caller to ask again another way.

A failure of the Batch API itself raises `BatchCallError` when asking again later can help (the server
failed, a rate limit, a timeout), `LLMError` when it cannot (a refused key, a server without a Batch API).
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pydantic
from google.genai import types as genai_types
from openai.types.chat import ChatCompletion

from testgen.domain.job_errors import ErrorType
from testgen.domain.test_cases import TestCaseDraft
from testgen.generation.llm import gemini, openai_compat
from testgen.generation.llm.base import (
    BadOutputError,
    BatchRequest,
    LLMError,
    LLMProvider,
    parse_batch_output,
)
from testgen.generation.llm.gemini_request import generate_config
from testgen.generation.llm.prompt import prompt_parts, response_schema
from testgen.generation.llm.retry import Fault, Usage

logger = logging.getLogger(__name__)

MAX_BATCH_REQUESTS = 50_000  # requests in one provider batch, at most (OpenAI's limit)
GEMINI_MAX_INLINE_BYTES = 20_000_000  # the inline requests of one Gemini batch, at most (JSON)
OPENAI_ENDPOINT = "/v1/chat/completions"
AZURE_ENDPOINT = "/chat/completions"
KEY_FIELD = "key"  # the metadata field of a Gemini inline request that carries our id
RECENT_BATCHES = 100  # batches looked through to find one by its label (the most recent page)

T = TypeVar("T")


class BatchState(enum.StrEnum):
    """A provider batch's state, in one vocabulary for both providers."""

    pending = "pending"  # queued or being validated
    running = "running"  # in progress, finalizing or being cancelled
    succeeded = "succeeded"
    failed = "failed"  # the whole batch (its input or the provider): no answers
    cancelled = "cancelled"
    expired = "expired"  # not done within the provider's window: some answers, maybe

    @property
    def finished(self) -> bool:
        return self not in (BatchState.pending, BatchState.running)


GEMINI_STATES = {
    "JOB_STATE_PENDING": BatchState.pending,
    "JOB_STATE_QUEUED": BatchState.pending,
    "JOB_STATE_RUNNING": BatchState.running,
    "JOB_STATE_CANCELLING": BatchState.running,
    "JOB_STATE_SUCCEEDED": BatchState.succeeded,
    "JOB_STATE_PARTIALLY_SUCCEEDED": BatchState.succeeded,
    "JOB_STATE_FAILED": BatchState.failed,
    "JOB_STATE_CANCELLED": BatchState.cancelled,
    "JOB_STATE_EXPIRED": BatchState.expired,
}
OPENAI_STATES = {
    "validating": BatchState.pending,
    "in_progress": BatchState.running,
    "finalizing": BatchState.running,
    "cancelling": BatchState.running,
    "completed": BatchState.succeeded,
    "failed": BatchState.failed,
    "expired": BatchState.expired,
    "cancelled": BatchState.cancelled,
}


class BatchCallError(LLMError):
    """A call to the Batch API failed in a way that asking again later can fix."""


@dataclass(frozen=True)
class BatchItem:
    """One request of a provider batch: our id for it (unique in the batch) and what it asks."""

    key: str
    request: BatchRequest


@dataclass(frozen=True)
class ItemResult:
    """What the provider answered to one request: its text, or why there is none."""

    key: str
    text: str | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)

    def drafts(self, request: BatchRequest) -> list[TestCaseDraft]:
        """The answer's test cases, validated as a normal call's; BadOutputError when there are none."""
        if self.text is None:
            raise BadOutputError(self.error or "no answer in the provider's batch")
        return parse_batch_output(self.text, request)


@dataclass(frozen=True)
class BatchStatus:
    id: str
    state: BatchState
    requests: int = 0
    done: int = 0
    failed: int = 0
    raw_state: str = ""  # the provider's own word for it


@dataclass
class BatchResults:
    """Every key of the batch, answered or failed."""

    items: dict[str, ItemResult] = field(default_factory=dict)

    @property
    def answered(self) -> list[str]:
        return [k for k, item in self.items.items() if item.text is not None]

    @property
    def failed(self) -> list[str]:
        return [k for k, item in self.items.items() if item.text is None]


class BatchAPI(Protocol):
    """A provider's Batch API, as the worker uses it."""

    @property
    def provider(self) -> str: ...

    async def submit(self, items: Sequence[BatchItem], *, model: str, label: str) -> str:
        """Send the requests as one batch; its id."""

    async def status(self, batch_id: str) -> BatchStatus: ...

    async def results(self, batch_id: str, keys: Sequence[str]) -> BatchResults:
        """The answers of a finished batch, for every key submitted (in the order submitted)."""

    async def cancel(self, batch_id: str) -> None: ...

    async def find(self, label: str) -> str | None:
        """The id of a recent batch submitted with `label` (one whose submission was not recorded)."""


def batch_api_for(provider: LLMProvider) -> BatchAPI | None:
    """The provider's Batch API client, sharing its SDK client; None for a provider without one."""
    if isinstance(provider, gemini.GeminiProvider):
        return GeminiBatchAPI(provider)
    if isinstance(provider, openai_compat.OpenAIProvider):
        return OpenAIBatchAPI(provider)
    return None


def _missing(key: str, why: str) -> ItemResult:
    return ItemResult(key=key, error=why)


def _check_items(items: Sequence[BatchItem], limit: int) -> None:
    keys = [item.key for item in items]
    if not keys:
        raise ValueError("a provider batch needs at least one request")
    if len(set(keys)) != len(keys):
        raise ValueError("the keys of a provider batch must be unique")
    if len(keys) > limit:
        raise LLMError(ErrorType.invalid_request, f"a provider batch takes {limit} requests at most")


class _Calls:
    """Runs one Batch API call, turning its failure into BatchCallError or LLMError as the provider's
    own classification says (it raises LLMError itself when asking again cannot help)."""

    def __init__(self, classify: Callable[[Exception, str], Fault | None], display: str) -> None:
        self._classify = classify
        self._display = display

    async def __call__(self, what: str, model: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except LLMError:
            raise
        except Exception as exc:
            fault = self._classify(exc, model)  # raises LLMError when asking again cannot help
            if fault is None:
                raise
            raise BatchCallError(
                fault.type, f"{self._display} batch {what} failed: {fault.description}"
            ) from exc


class GeminiBatchAPI:
    """Gemini's Batch API (`client.batches`) with inline requests, each keyed in its metadata."""

    def __init__(self, provider: gemini.GeminiProvider) -> None:
        self._provider = provider
        self._calls = _Calls(provider._classify, gemini.DISPLAY)

    @property
    def provider(self) -> str:
        return self._provider.name

    def inline_request(self, item: BatchItem) -> genai_types.InlinedRequest:
        """The request a normal call sends for this batch, with our key in its metadata."""
        request = item.request
        config = generate_config(
            len(request.slots), request.scenarios_per_test_case, tuple(request.techniques)
        )
        contents = gemini.with_images(prompt_parts(request), request.files.images)
        return genai_types.InlinedRequest(contents=contents, config=config, metadata={KEY_FIELD: item.key})

    async def submit(self, items: Sequence[BatchItem], *, model: str, label: str) -> str:
        _check_items(items, MAX_BATCH_REQUESTS)
        if not gemini.MODEL_NAME.fullmatch(model):
            raise LLMError(ErrorType.model_not_found, f"Gemini has no model named {model[:100]!r}.")
        inlined = [self.inline_request(item) for item in items]
        size = sum(len(r.model_dump_json(exclude_none=True)) for r in inlined)
        if size > GEMINI_MAX_INLINE_BYTES:
            raise LLMError(
                ErrorType.input_too_long,
                f"the batch's requests are {size} bytes, past the {GEMINI_MAX_INLINE_BYTES} bytes Gemini "
                "takes inline",
            )
        config = genai_types.CreateBatchJobConfig(display_name=label[:128])
        sdk = self._provider._sdk()
        job = await self._calls(
            "submission", model, lambda: sdk.aio.batches.create(model=model, src=inlined, config=config)
        )
        if not job.name:
            raise BatchCallError(ErrorType.upstream, "Gemini answered a batch without a name")
        return job.name

    async def _job(self, batch_id: str) -> genai_types.BatchJob:
        sdk = self._provider._sdk()
        return await self._calls("check", self._provider.model, lambda: sdk.aio.batches.get(name=batch_id))

    async def status(self, batch_id: str) -> BatchStatus:
        job = await self._job(batch_id)
        raw = job.state.value if job.state else ""
        state = GEMINI_STATES.get(raw, BatchState.running)
        responses = (job.dest.inlined_responses or []) if job.dest else []
        failed = sum(1 for r in responses if r.error is not None)
        return BatchStatus(batch_id, state, done=len(responses) - failed, failed=failed, raw_state=raw)

    async def results(self, batch_id: str, keys: Sequence[str]) -> BatchResults:
        job = await self._job(batch_id)
        responses = (job.dest.inlined_responses or []) if job.dest else []
        found: dict[str, ItemResult] = {}
        for index, answer in enumerate(responses):
            key = (answer.metadata or {}).get(KEY_FIELD)
            if key is None and index < len(keys):  # in the order submitted when no metadata came back
                key = keys[index]
            if key is None or key not in keys or key in found:
                continue
            found[key] = self._item(key, answer)
        why = f"no answer in the batch (the batch {_state_word(job)})"
        return BatchResults({key: found.get(key) or _missing(key, why) for key in keys})

    def _item(self, key: str, answer: genai_types.InlinedResponse) -> ItemResult:
        if answer.error is not None or answer.response is None:
            error = answer.error
            code = error.code if error else None
            message = (error.message if error else None) or "no response"
            return _missing(key, f"Gemini failed the request ({code}: {message})"[:300])
        usage = gemini._usage(answer.response)
        try:
            return ItemResult(key=key, text=gemini._response_text(answer.response), usage=usage)
        except BadOutputError as exc:
            return ItemResult(key=key, error=exc.message, usage=usage)

    async def cancel(self, batch_id: str) -> None:
        sdk = self._provider._sdk()
        await self._calls("cancellation", self._provider.model, lambda: sdk.aio.batches.cancel(name=batch_id))

    async def find(self, label: str) -> str | None:
        sdk = self._provider._sdk()
        config = genai_types.ListBatchJobsConfig(page_size=RECENT_BATCHES)
        pager = await self._calls("lookup", self._provider.model, lambda: sdk.aio.batches.list(config=config))
        return next((job.name for job in pager.page if job.display_name == label[:128] and job.name), None)


def _state_word(job: genai_types.BatchJob) -> str:
    state = GEMINI_STATES.get(job.state.value if job.state else "", BatchState.running)
    return f"ended {state.value}" if state.finished else "is not finished"


class OpenAIBatchAPI:
    """OpenAI's Batch API: the requests as a JSONL file (`/v1/files`), then `/v1/batches`; the answers
    in its output and error files, keyed by `custom_id` in an order of their own."""

    def __init__(self, provider: openai_compat.OpenAIProvider) -> None:
        self._provider = provider
        self._calls = _Calls(provider._classify, openai_compat.DISPLAY)
        self._endpoint = AZURE_ENDPOINT if provider.azure else OPENAI_ENDPOINT

    @property
    def provider(self) -> str:
        return self._provider.name

    def line(self, item: BatchItem, model: str) -> dict[str, Any]:
        """The input file's line for one request: the body a normal call sends, in the provider's
        current output mode."""
        request = item.request
        prompt = prompt_parts(request)
        fields = openai_compat._request_fields(
            self._provider.mode,
            prompt.text,
            response_schema(request),
            images=request.files.images,
            images_at=len(prompt.prefix),
        )
        return {
            "custom_id": item.key,
            "method": "POST",
            "url": self._endpoint,
            "body": {"model": model, **fields},
        }

    async def submit(self, items: Sequence[BatchItem], *, model: str, label: str) -> str:
        _check_items(items, MAX_BATCH_REQUESTS)
        content = "".join(json.dumps(self.line(item, model)) + "\n" for item in items).encode()
        client, headers = self._provider._client, self._provider._headers
        uploaded = await self._calls(
            "upload",
            model,
            lambda: client.files.create(
                file=("batch.jsonl", content, "application/jsonl"), purpose="batch", extra_headers=headers
            ),
        )
        batch = await self._calls(
            "submission",
            model,
            lambda: client.batches.create(
                input_file_id=uploaded.id,
                endpoint=self._endpoint,  # type: ignore[arg-type]  # Azure's has no /v1
                completion_window="24h",
                metadata={"label": label[:512]},
                extra_headers=headers,
            ),
        )
        return batch.id

    async def _batch(self, batch_id: str) -> Any:
        client, headers = self._provider._client, self._provider._headers
        return await self._calls(
            "check", self._provider.model, lambda: client.batches.retrieve(batch_id, extra_headers=headers)
        )

    async def status(self, batch_id: str) -> BatchStatus:
        batch = await self._batch(batch_id)
        counts = batch.request_counts
        return BatchStatus(
            batch_id,
            OPENAI_STATES.get(batch.status, BatchState.running),
            requests=counts.total if counts else 0,
            done=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            raw_state=batch.status,
        )

    async def _lines(self, file_id: str | None) -> list[dict[str, Any]]:
        if not file_id:
            return []
        client, headers = self._provider._client, self._provider._headers
        content = await self._calls(
            "download", self._provider.model, lambda: client.files.content(file_id, extra_headers=headers)
        )
        lines = []
        for text in content.text.splitlines():
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if isinstance(line, dict):
                lines.append(line)
        return lines

    async def results(self, batch_id: str, keys: Sequence[str]) -> BatchResults:
        batch = await self._batch(batch_id)
        found: dict[str, ItemResult] = {}
        for line in [*await self._lines(batch.output_file_id), *await self._lines(batch.error_file_id)]:
            key = line.get("custom_id")
            if isinstance(key, str) and key in keys and key not in found:
                found[key] = _openai_item(key, line)
        why = f"no answer in the batch (the batch ended {OPENAI_STATES.get(batch.status, batch.status)})"
        return BatchResults({key: found.get(key) or _missing(key, why) for key in keys})

    async def cancel(self, batch_id: str) -> None:
        client, headers = self._provider._client, self._provider._headers
        await self._calls(
            "cancellation",
            self._provider.model,
            lambda: client.batches.cancel(batch_id, extra_headers=headers),
        )

    async def find(self, label: str) -> str | None:
        client, headers = self._provider._client, self._provider._headers
        page = await self._calls(
            "lookup",
            self._provider.model,
            lambda: client.batches.list(limit=RECENT_BATCHES, extra_headers=headers),
        )
        return next((b.id for b in page.data if (b.metadata or {}).get("label") == label[:512]), None)


def _openai_item(key: str, line: dict[str, Any]) -> ItemResult:
    """One line of an output or error file: the completion's text, or why there is none."""
    response = line.get("response") if isinstance(line.get("response"), dict) else None
    error = line.get("error") if isinstance(line.get("error"), dict) else None
    status = response.get("status_code") if response else None
    body = response.get("body") if response else None
    if status != 200 or not isinstance(body, dict):
        detail = error or (body.get("error") if isinstance(body, dict) else None) or {}
        message = detail.get("message") if isinstance(detail, dict) else None
        code = detail.get("code") if isinstance(detail, dict) else None
        why = f"the server failed the request ({code or status or 'no status'}: {message or 'no message'})"
        return _missing(key, why[:300])
    try:
        completion = ChatCompletion.model_validate(body)
    except pydantic.ValidationError:
        return _missing(key, "an answer that is not a chat completion")
    usage = openai_compat._usage(completion)
    try:
        return ItemResult(key=key, text=openai_compat._answer_text(completion), usage=usage)
    except BadOutputError as exc:
        return ItemResult(key=key, error=exc.message, usage=usage)
