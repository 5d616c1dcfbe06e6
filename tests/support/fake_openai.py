"""An OpenAI-compatible fake HTTP server for tests and benchmarks (Chat Completions, as Ollama, vLLM,
LM Studio, llama.cpp's server and OpenAI itself serve it).

It shares FakeGemini's machinery (uvicorn in its own thread on 127.0.0.1, per-call scripts, latency,
hanging calls released on reset) and answers `POST /v1/chat/completions` and Azure's
`POST /openai/deployments/{deployment}/chat/completions`, plus `GET /v1/models`. It misbehaves like
real servers do when asked: it echoes the credential it received (in every error message, an HTML
answer and an `x-received-api-key` header, unless `echo_key=False`; OpenAI itself quotes it in its
401 message), refuses
`json_schema` response formats (`supports_json_schema=False`), wraps JSON in Markdown fences, writes
reasoning first, answers in prose, or says the context is too long. With `enforce()` (FakeGemini's) it
keeps a quota as OpenAI does: past a limit, 429 with `x-ratelimit-limit-*`, `-remaining-*` and
`-reset-*` headers ("1.5s", "120ms").
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from typing import Any

from tests.support.fake_gemini import (
    FakeGemini,
    Receive,
    RecordedCall,
    Scope,
    Send,
    _answer_text,
    _parse_spec,
    _tokens,
    content_text,
)
from tests.support.prompt_cache import PromptCache

OPENAI_BEHAVIOURS = frozenset(
    {
        "ok",
        "429",
        "500",
        "503",
        "bad_key",
        "forbidden",
        "context_too_long",
        "fenced",
        "reasoning",
        "prose",
        "too_few_scenarios",
        "too_few_test_cases",
        "malformed_json",
        "wrong_language",
        "length",
        "not_json_body",
        "hang",
        "repeat",
    }
)
CHAT_RE = re.compile(r"^(?:/v1/chat/completions|/openai/deployments/(?P<deployment>[^/]+)/chat/completions)$")


def _user_text(body: dict[str, Any]) -> str:
    return "\n".join(
        content_text(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "user"
    )


class FakeOpenAI(FakeGemini):
    """`url` is the base URL to give the SDK (ends in /v1); `azure_url` the Azure endpoint."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        latency_per_scenario_s: float = 0.0,
        retry_after: str = "0.2",
        hang_s: float = 30.0,
        valid_keys: set[str] | None = None,
        models: set[str] | None = None,
        supports_json_schema: bool = True,
        supports_json_object: bool = True,
        error_style: str = "openai",
        echo_key: bool = True,
    ) -> None:
        super().__init__(
            latency_s=latency_s,
            latency_per_scenario_s=latency_per_scenario_s,
            hang_s=hang_s,
            valid_keys=valid_keys,
            echo_key=echo_key,
        )
        self.retry_after = retry_after
        self.models = models
        self.supports_json_schema = supports_json_schema
        self.supports_json_object = supports_json_object
        self.error_style = error_style  # how an unknown model is reported: "openai", "ollama" or "vllm"
        self.prompt_cache = PromptCache(min_tokens=1024, step=128)  # OpenAI caches in steps of 128

    @property
    def url(self) -> str:
        return f"{super().url}/v1"

    @property
    def azure_url(self) -> str:
        return super().url

    def script(self, *behaviours: str) -> None:
        unknown = set(behaviours) - OPENAI_BEHAVIOURS
        if unknown:
            raise ValueError(f"unknown behaviours: {sorted(unknown)}")
        with self._lock:
            self._state.script.extend(behaviours)

    def response_formats(self) -> list[str | None]:
        return [(r.body.get("response_format") or {}).get("type") for r in self.requests]

    # --- the ASGI app ---------------------------------------------------------------------------

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._release = asyncio.Event()
        raw = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        if await self._redirect(scope, send):
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        auth = headers.get("authorization", "")
        key = auth[7:] if auth.lower().startswith("bearer ") else headers.get("api-key")
        if scope["method"] == "GET" and scope["path"] == "/v1/models":
            models = sorted(self.models or {"fake-model"})
            await _send(send, 200, {"object": "list", "data": [{"id": m, "object": "model"} for m in models]})
            return
        match = CHAT_RE.match(scope["path"])
        if scope["method"] != "POST" or match is None:
            await _send(send, 404, _error(f"Invalid URL ({scope['method']} {scope['path']})", None))
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            await _send(send, 400, _error("We could not parse the JSON body of your request.", None))
            return
        if match.group("deployment"):
            body.setdefault("model", match.group("deployment"))
        state, record = self._begin(scope["path"], key, body)
        try:
            status, payload, extra = await self._respond(record, receive)
            if status and (status >= 400 or isinstance(payload, bytes)) and self.echo_key:
                payload = self._echo_in(payload, key)
                extra = [*extra, (b"x-received-api-key", (key or "").encode())]
            record.finished = time.monotonic()  # the client cannot have the answer before this time
            if status:
                await _send(send, status, payload, extra)
        finally:
            with self._lock:
                record.finished = record.finished or time.monotonic()
                state.in_flight -= 1

    def _echo_in(self, payload: dict[str, Any] | bytes, key: str | None) -> dict[str, Any] | bytes:
        """The answer with the credential quoted in its message (or at the end of an HTML page)."""
        if isinstance(payload, bytes):
            return payload.replace(b"</body>", f" (key={key})</body>".encode())
        error = payload.get("error")
        if (
            isinstance(error, dict)
            and isinstance(error.get("message"), str)
            and key
            and self._echoed(key) not in error["message"]
        ):
            error["message"] = self._echo(error["message"], key)
        elif isinstance(payload.get("message"), str) and key:
            payload["message"] = self._echo(payload["message"], key)
        return payload

    async def _respond(
        self, record: RecordedCall, receive: Receive
    ) -> tuple[int, dict[str, Any] | bytes, list[tuple[bytes, bytes]]]:
        behaviour, body = record.behaviour, record.body
        model = str(body.get("model", ""))
        if behaviour == "hang":
            await self._wait(receive, self.hang_s, record)
            return 0, b"", []
        if behaviour == "bad_key":  # like OpenAI, with the whole credential in the message
            message = (
                f"Incorrect API key provided: {self._echoed(record.api_key)}. You can find your API key in "
                "your account."
            )
            return 401, _error(message, None, code="invalid_api_key"), []
        if behaviour == "forbidden":
            return 403, _error(f"Key {self._echoed(record.api_key)} may not use this model.", None), []
        if self.models is not None and model not in self.models:
            if self.error_style == "ollama":
                message = f'model "{model}" not found, try pulling it first'
                return (
                    404,
                    {"error": {"message": message, "type": "api_error", "param": None, "code": None}},
                    [],
                )
            if self.error_style == "vllm":  # no "error" wrapper
                message = f"The model `{model}` does not exist."
                return 404, {"object": "error", "message": message, "type": "NotFoundError", "code": 404}, []
            message = f"The model `{model}` does not exist or you do not have access to it."
            return 404, _error(message, None, code="model_not_found"), []
        fmt = (body.get("response_format") or {}).get("type")
        if (fmt == "json_schema" and not self.supports_json_schema) or (
            fmt == "json_object" and not self.supports_json_object
        ):
            message = f"'response_format.type' : value is not one of the allowed values ['text'] (got {fmt})"
            return 400, _error(message, "response_format"), []
        if behaviour == "429":
            headers = [
                (b"retry-after", self.retry_after.encode()),
                (b"x-ratelimit-reset-requests", b"1s"),
            ]
            return 429, _error("Rate limit reached for requests.", None, code="rate_limit_exceeded"), headers
        if behaviour in ("500", "503"):
            return int(behaviour), _error("The server had an error while processing your request.", None), []
        if behaviour == "context_too_long":
            message = (
                "This model's maximum context length is 8192 tokens. "
                "However, your messages resulted in 9100 tokens."
            )
            return 400, _error(message, "messages", code="context_length_exceeded"), []
        spec = _parse_spec(_user_text(body))
        if self.quota is not None:
            refused = self._quota_refusal(record, spec, model)
            if refused is not None:
                return refused
        if not await self._wait(
            receive, self.latency_s + self.latency_per_scenario_s * spec.scenarios, record
        ):
            return 0, b"", []
        if behaviour == "not_json_body":
            return 200, b"<html><body>upstream proxy says hello</body></html>", []
        inner = "too_few_scenarios" if behaviour == "too_few_scenarios" else behaviour
        text = _answer_text(
            inner
            if inner
            in ("too_few_scenarios", "too_few_test_cases", "malformed_json", "wrong_language", "repeat")
            else "ok",
            spec,
        )
        if behaviour == "fenced":
            text = f"Here are the test cases you asked for:\n\n```json\n{text}\n```\n\nLet me know!"
        elif behaviour == "reasoning":
            text = f"<think>The user wants {spec.scenarios} scenarios {{not JSON}}.</think>\nSure.\n{text}"
        elif behaviour == "prose":
            text = "I am sorry, but I can only describe the test cases in words: first, log in..."
        finish = "length" if behaviour == "length" else "stop"
        if behaviour == "length":
            text = text[: len(text) // 2]
        prompt_tokens = _tokens(record.prompt_text) + record.image_tokens
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": _tokens(text)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        cached = self.prompt_cache.cached(model, record.pieces)
        record.usage = {**usage, "cached_tokens": cached}
        answer = {
            "id": f"chatcmpl-fake{id(record):x}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": {**usage, "prompt_tokens_details": {"cached_tokens": cached}},
        }
        return 200, answer, []

    def _quota_refusal(
        self, record: RecordedCall, spec: Any, model: str
    ) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]] | None:
        """A 429 as OpenAI answers past a limit, or None when the call fits the quota."""
        tokens = _tokens(record.prompt_text) + _tokens(_answer_text("ok", spec))
        hit = self._over_quota(tokens, model)
        if hit is None or self.quota is None:
            return None
        limit, retry_s, value = hit
        record.behaviour = "quota"
        with self._lock:
            requests_left, tokens_left = self.quota.remaining()
            now = self._quota_now()
            first = self.quota.calls[0][0] if self.quota.calls else now
            until_empty = max(0.001, first + self.quota.window_s - now)
        what = "requests per min (RPM)" if limit == "rpm" else "tokens per min (TPM)"
        message = (
            f"Rate limit reached for {model} in organization org-fake on {what}: Limit {value}, "
            f"Requested {1 if limit == 'rpm' else tokens}. Please try again in {_reset(retry_s)}."
        )
        headers = [
            (b"x-ratelimit-limit-requests", str(self.quota.rpm).encode()),
            (b"x-ratelimit-limit-tokens", str(self.quota.tpm).encode()),
            (b"x-ratelimit-remaining-requests", str(requests_left).encode()),
            (b"x-ratelimit-remaining-tokens", str(tokens_left).encode()),
            (b"x-ratelimit-reset-requests", _reset(retry_s if limit == "rpm" else until_empty).encode()),
            (b"x-ratelimit-reset-tokens", _reset(retry_s if limit == "tpm" else until_empty).encode()),
        ]
        error = _error(message, None, code="rate_limit_exceeded")
        error["error"]["type"] = "requests" if limit == "rpm" else "tokens"
        return 429, error, headers


def _reset(seconds: float) -> str:
    """A duration as OpenAI writes it: "120ms", "1.5s", "6m0s"."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:.0f}s" if minutes else f"{rest:.3g}s"


def _error(message: str, param: str | None, *, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


async def _send(
    send: Send, status: int, payload: dict[str, Any] | bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    content_type = b"application/json" if isinstance(payload, dict) else b"text/html"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
