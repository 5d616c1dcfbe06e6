"""Fakes of the providers' Batch APIs, beside the model servers they extend (same threads, same scripts).

`FakeGeminiBatches` serves, besides `generateContent`, the Gemini Developer API's batch routes:
`POST /{version}/models/{model}:batchGenerateContent` (inline requests, each with its metadata),
`GET /{version}/batches/{id}` (the batch as a long-running operation: its state, and once it succeeded
its inlined responses, each a GenerateContentResponse or an error, with the request's metadata) and
`POST /{version}/batches/{id}:cancel`.

`FakeOpenAIBatches` serves, besides Chat Completions, `POST /v1/files` (multipart, purpose "batch"),
`GET /v1/files/{id}/content`, `POST /v1/batches`, `GET /v1/batches/{id}` and
`POST /v1/batches/{id}/cancel`: the batch validates the input file's lines (`custom_id`, `method`,
`url`, `body`), and its output and error files are JSONL keyed by `custom_id`, written in an order of
their own (reversed), as OpenAI does not keep the input's order.

A batch stays pending until the test moves it: `finish(id, fail={keys}, bad={keys})` answers every request
(those in `fail` with an error, those in `bad` with text that is not the asked JSON), `expire(id,
answered={keys})` ends it past its window with only those answered, `fail_batch(id)` fails it whole.
Answers are the model server's "ok" answers to each request's prompt, so the counts of its
`BATCH_SPEC` line are honoured.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, ClassVar

from tests.support.fake_gemini import (
    FakeGemini,
    Receive,
    Scope,
    Send,
    _answer_text,
    _parse_spec,
    _tokens,
    content_text,
)
from tests.support.fake_openai import FakeOpenAI
from tests.support.model_servers import RETRY_DELAY_S, GeminiServer, ModelServer, OpenAIServer

GEMINI_CREATE_RE = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):batchGenerateContent$")
GEMINI_BATCH_RE = re.compile(r"^/(?P<version>[^/]+)/batches/(?P<id>[^/:]+)(?P<cancel>:cancel)?$")
GEMINI_LIST_RE = re.compile(r"^/(?P<version>[^/]+)/batches$")
OPENAI_FILES_RE = re.compile(r"^/v1/files(?:/(?P<id>[^/]+)(?P<content>/content)?)?$")
OPENAI_BATCHES_RE = re.compile(r"^/v1/batches(?:/(?P<id>[^/]+)(?P<cancel>/cancel)?)?$")
OPENAI_MAX_REQUESTS = 50_000
BAD_TEXT = "Sure! Here are your test cases."  # an answer that is not the asked JSON
_ids = itertools.count(1)


@dataclass
class FakeBatch:
    """One provider batch as the fake keeps it: the requests by key, and what became of each."""

    id: str
    model: str
    requests: dict[str, dict[str, Any]]  # key -> the request body, as the provider received it
    state: str = "pending"  # pending, running, succeeded, failed, cancelled, expired (our words)
    answered: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    bad: set[str] = field(default_factory=set)
    metadata: dict[str, Any] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    polls: int = 0
    cancels: int = 0


class _Batches:
    """The batches of one fake, and the test's controls over them."""

    def __init__(self) -> None:
        self._batch_lock = threading.Lock()
        self.batches: dict[str, FakeBatch] = {}
        self.creates = 0

    def add(self, batch: FakeBatch) -> None:
        with self._batch_lock:
            self.batches[batch.id] = batch
            self.creates += 1

    def batch(self, batch_id: str) -> FakeBatch:
        return self.batches[batch_id.rsplit("/", 1)[-1]]

    def run_batch(self, batch_id: str) -> None:
        self.batch(batch_id).state = "running"

    def finish(self, batch_id: str, *, fail: set[str] | None = None, bad: set[str] | None = None) -> None:
        batch = self.batch(batch_id)
        batch.failed = set(fail or ())
        batch.bad = set(bad or ())
        batch.answered = set(batch.requests) - batch.failed
        batch.state = "succeeded"

    def expire(self, batch_id: str, *, answered: set[str] | None = None) -> None:
        batch = self.batch(batch_id)
        batch.answered = set(answered or ())
        batch.state = "expired"

    def fail_batch(self, batch_id: str) -> None:
        self.batch(batch_id).state = "failed"

    def reset_batches(self) -> None:
        with self._batch_lock:
            self.batches.clear()
            self.creates = 0


def _answer(request_text: str, bad: bool) -> tuple[str, dict[str, int]]:
    text = BAD_TEXT if bad else _answer_text("ok", _parse_spec(request_text))
    prompt, output = _tokens(request_text), _tokens(text)
    return text, {"prompt": prompt, "output": output, "total": prompt + output}


async def _read(receive: Receive) -> bytes | None:
    raw = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        raw += message.get("body", b"")
        if not message.get("more_body"):
            return raw


async def _reply(send: Send, status: int, body: bytes, content_type: bytes = b"application/json") -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _rfc3339(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class FakeGeminiBatches(FakeGemini, _Batches):
    """The Gemini fake with the Batch API's routes."""

    GEMINI_STATES: ClassVar[dict[str, str]] = {
        "pending": "BATCH_STATE_PENDING",
        "running": "BATCH_STATE_RUNNING",
        "succeeded": "BATCH_STATE_SUCCEEDED",
        "failed": "BATCH_STATE_FAILED",
        "cancelled": "BATCH_STATE_CANCELLED",
        "expired": "BATCH_STATE_EXPIRED",
    }

    def __init__(self, **options: Any) -> None:
        FakeGemini.__init__(self, **options)
        _Batches.__init__(self)

    def reset(self) -> None:
        super().reset()
        self.reset_batches()

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        create, batch = GEMINI_CREATE_RE.match(path), GEMINI_BATCH_RE.match(path)
        listing = GEMINI_LIST_RE.match(path)
        if scope["type"] != "http" or (create is None and batch is None and listing is None):
            await super()._app(scope, receive, send)
            return
        raw = await _read(receive)
        if raw is None:
            return
        if listing is not None and scope["method"] == "GET":  # newest first, one page
            found = sorted(self.batches.values(), key=lambda b: -b.created)
            status, payload = 200, {"operations": [self._operation(b) for b in found]}
        elif create is not None and scope["method"] == "POST":
            status, payload = self._create(create["model"], raw)
        elif batch is not None and batch["id"] in self.batches:
            found = self.batches[batch["id"]]
            if batch["cancel"] and scope["method"] == "POST":
                found.cancels += 1
                if found.state in ("pending", "running"):
                    found.state = "cancelled"
                status, payload = 200, {}
            elif not batch["cancel"] and scope["method"] == "GET":
                found.polls += 1
                status, payload = 200, self._operation(found)
            else:
                status, payload = 404, _gemini_error(404, "NOT_FOUND", f"no route for {path}")
        else:
            status, payload = 404, _gemini_error(404, "NOT_FOUND", f"Batch {path} not found.")
        await _reply(send, status, json.dumps(payload).encode())

    def _create(self, model: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(raw or b"{}")
            inline = body["batch"]["inputConfig"]["requests"]["requests"]
        except (json.JSONDecodeError, KeyError, TypeError):
            return 400, _gemini_error(400, "INVALID_ARGUMENT", "Invalid batch: inline requests expected.")
        requests: dict[str, dict[str, Any]] = {}
        for i, item in enumerate(inline):
            key = str((item.get("metadata") or {}).get("key", i))
            if key in requests or "request" not in item:
                return 400, _gemini_error(400, "INVALID_ARGUMENT", f"Invalid request {i} in the batch.")
            requests[key] = item["request"]
        batch = FakeBatch(
            id=f"fake{next(_ids)}",
            model=model,
            requests=requests,
            metadata={"displayName": body["batch"].get("displayName", "")},
        )
        self.add(batch)
        return 200, self._operation(batch)

    def _operation(self, batch: FakeBatch) -> dict[str, Any]:
        metadata: dict[str, Any] = {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "model": f"models/{batch.model}",
            "displayName": batch.metadata.get("displayName", ""),
            "state": self.GEMINI_STATES[batch.state],
            "createTime": _rfc3339(batch.created),
            "updateTime": _rfc3339(time.time()),
            "batchStats": {"requestCount": str(len(batch.requests))},
        }
        done = batch.state not in ("pending", "running")
        if batch.state in ("succeeded", "expired", "cancelled"):
            responses = []
            for key, request in batch.requests.items():
                if key in batch.answered:
                    text, usage = _answer(_gemini_text(request), key in batch.bad)
                    response = {
                        "candidates": [
                            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
                        ],
                        "usageMetadata": {
                            "promptTokenCount": usage["prompt"],
                            "candidatesTokenCount": usage["output"],
                            "totalTokenCount": usage["total"],
                        },
                        "modelVersion": batch.model,
                    }
                    responses.append({"response": response, "metadata": {"key": key}})
                elif key in batch.failed:
                    error = {"code": 13, "message": "Internal error while processing the request."}
                    responses.append({"error": error, "metadata": {"key": key}})
            if responses:
                metadata["output"] = {"inlinedResponses": {"inlinedResponses": responses}}
        operation: dict[str, Any] = {"name": f"batches/{batch.id}", "metadata": metadata}
        if done:
            operation["done"] = True
        return operation


def _gemini_text(request: dict[str, Any]) -> str:
    return "\n".join(p.get("text", "") for c in request.get("contents", []) for p in c.get("parts", []))


def _gemini_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


class FakeOpenAIBatches(FakeOpenAI, _Batches):
    """The OpenAI-compatible fake with the Files and Batch APIs."""

    OPENAI_STATES: ClassVar[dict[str, str]] = {
        "pending": "validating",
        "running": "in_progress",
        "succeeded": "completed",
        "failed": "failed",
        "cancelled": "cancelled",
        "expired": "expired",
    }

    def __init__(self, **options: Any) -> None:
        FakeOpenAI.__init__(self, **options)
        _Batches.__init__(self)
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (purpose, content)
        self.cancel_steps = 1  # polls a cancelled batch stays "cancelling" before it is "cancelled"

    def reset(self) -> None:
        super().reset()
        self.reset_batches()
        self.files.clear()

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        files, batches = OPENAI_FILES_RE.match(path), OPENAI_BATCHES_RE.match(path)
        if scope["type"] != "http" or (files is None and batches is None):
            await super()._app(scope, receive, send)
            return
        raw = await _read(receive)
        if raw is None:
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        method = scope["method"]
        if files is not None and files["id"] is None and method == "POST":
            status, payload = self._upload(headers.get("content-type", ""), raw)
        elif files is not None and files["content"] and method == "GET" and files["id"] in self.files:
            await _reply(send, 200, self.files[files["id"]][1], b"application/octet-stream")
            return
        elif batches is not None and batches["id"] is None and method == "POST":
            status, payload = self._create(raw)
        elif batches is not None and batches["id"] is None and method == "GET":  # newest first, one page
            found = [self._batch_object(b) for b in sorted(self.batches.values(), key=lambda b: -b.created)]
            status, payload = 200, {"object": "list", "data": found, "has_more": False}
        elif batches is not None and batches["id"] in self.batches:
            batch = self.batches[batches["id"]]
            if batches["cancel"] and method == "POST":
                batch.cancels += 1
                if batch.state in ("pending", "running"):
                    batch.state = "cancelling"
                    batch.polls = 0
                status, payload = 200, self._batch_object(batch)
            elif not batches["cancel"] and method == "GET":
                batch.polls += 1
                if batch.state == "cancelling" and batch.polls >= self.cancel_steps:
                    batch.state = "cancelled"
                status, payload = 200, self._batch_object(batch)
            else:
                status, payload = 404, _openai_error(f"Invalid URL ({method} {path})")
        else:
            status, payload = 404, _openai_error(f"No such object: {path}")
        await _reply(send, status, json.dumps(payload).encode())

    def _upload(self, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields: dict[str, tuple[str | None, bytes]] = {}
        for part in message.iter_parts():  # type: ignore[attr-defined]
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True) or b"")
        if "file" not in fields or fields.get("purpose", (None, b""))[1] != b"batch":
            return 400, _openai_error("A file with purpose 'batch' is expected.")
        file_id = f"file-fake{next(_ids)}"
        self.files[file_id] = ("batch", fields["file"][1])
        return 200, _file_object(file_id, fields["file"][0] or "input.jsonl", fields["file"][1], "batch")

    def _create(self, raw: bytes) -> tuple[int, dict[str, Any]]:
        try:
            body = json.loads(raw or b"{}")
            _, content = self.files[body["input_file_id"]]
        except (json.JSONDecodeError, KeyError, TypeError):
            return 400, _openai_error("input_file_id names no uploaded file.")
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return 400, _openai_error("endpoint must be /v1/chat/completions and completion_window 24h.")
        requests: dict[str, dict[str, Any]] = {}
        for number, line in enumerate(content.decode().splitlines(), 1):
            try:
                item = json.loads(line)
                valid = item["method"] == "POST" and item["url"] == body["endpoint"]
                key, request = str(item["custom_id"]), dict(item["body"])
            except (json.JSONDecodeError, KeyError, TypeError):
                valid = False
            if not valid or key in requests:
                return 400, _openai_error(f"Line {number} of the input file is not a valid request.")
            requests[key] = request
        if not requests or len(requests) > OPENAI_MAX_REQUESTS:
            return 400, _openai_error("The input file holds no requests or too many.")
        batch = FakeBatch(
            id=f"batch_fake{next(_ids)}",
            model=str(next(iter(requests.values())).get("model", "")),
            requests=requests,
            metadata={"input_file_id": body["input_file_id"], "metadata": body.get("metadata")},
        )
        self.add(batch)
        return 200, self._batch_object(batch)

    def _batch_object(self, batch: FakeBatch) -> dict[str, Any]:
        output_id = error_id = None
        if batch.state in ("succeeded", "expired", "cancelled"):
            output, errors = self._result_lines(batch)
            if output:
                output_id = f"file-out-{batch.id}"
                self.files[output_id] = ("batch_output", output)
            if errors:
                error_id = f"file-err-{batch.id}"
                self.files[error_id] = ("batch_output", errors)
        answered = len(batch.answered) if batch.state != "pending" else 0
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": None,
            "input_file_id": batch.metadata["input_file_id"],
            "completion_window": "24h",
            "status": self.OPENAI_STATES.get(batch.state, batch.state),
            "output_file_id": output_id,
            "error_file_id": error_id,
            "created_at": int(batch.created),
            "expires_at": int(batch.created) + 86_400,
            "request_counts": {
                "total": len(batch.requests),
                "completed": answered,
                "failed": len(batch.requests) - answered if batch.state != "running" else 0,
            },
            "metadata": batch.metadata.get("metadata"),
        }

    def _result_lines(self, batch: FakeBatch) -> tuple[bytes, bytes]:
        output, errors = [], []
        for key, request in reversed(batch.requests.items()):
            line: dict[str, Any] = {"id": f"batch_req_{key}", "custom_id": key}
            if key in batch.answered:
                text, usage = _answer(_openai_text(request), key in batch.bad)
                completion = {
                    "id": f"chatcmpl-{key}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": batch.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": usage["prompt"],
                        "completion_tokens": usage["output"],
                        "total_tokens": usage["total"],
                    },
                }
                line |= {
                    "response": {"status_code": 200, "request_id": key, "body": completion},
                    "error": None,
                }
                output.append(line)
            elif key in batch.failed:
                body = _openai_error("The server had an error while processing your request.")
                line |= {"response": {"status_code": 500, "request_id": key, "body": body}, "error": None}
                errors.append(line)
            else:
                code = "batch_expired" if batch.state == "expired" else "batch_cancelled"
                error = {"code": code, "message": "This request was not executed before the batch ended."}
                line |= {"response": None, "error": error}
                errors.append(line)
        return _jsonl(output), _jsonl(errors)


def _openai_text(request: dict[str, Any]) -> str:
    return "\n".join(
        content_text(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "user"
    )


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def _file_object(file_id: str, name: str, content: bytes, purpose: str) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(content),
        "created_at": int(time.time()),
        "filename": name,
        "purpose": purpose,
        "status": "processed",
    }


def _openai_error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}


BatchFake = FakeGeminiBatches | FakeOpenAIBatches


@contextmanager
def start_batch_server(name: str) -> Iterator[tuple[ModelServer, BatchFake]]:
    """The named provider's model server whose fake also serves its Batch API, started."""
    server: ModelServer
    fake: BatchFake
    if name == "gemini":
        server, fake = GeminiServer(), FakeGeminiBatches(retry_delay=f"{RETRY_DELAY_S}s")
    else:
        server = OpenAIServer()
        fake = FakeOpenAIBatches(retry_after=f"{RETRY_DELAY_S}", models=set(OpenAIServer.known_models or ()))
    server.fake = fake
    with fake:
        yield server, fake
