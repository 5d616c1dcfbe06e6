"""A Gemini-compatible fake HTTP server for tests, benchmarks and end-to-end runs.

It serves `POST /{api_version}/models/{model}:generateContent` on 127.0.0.1 from a uvicorn server
in its own thread (with its own event loop), so a client on any loop can call it without deadlock.
Behaviours are scripted per call (`script("429", "ok")`); once the script is used up every call
answers "ok". Counts are read from the `BATCH_SPEC: {...}` line the provider writes in its prompt.

Like some servers and proxies, it echoes the API key it received (`echo_key`, on by default) in every
error message, in the HTML of a non-JSON answer and in an `x-received-api-key` header: a leak test
against this fake fails when testgen's redaction is missing. `echo_style` alters the key it quotes in
its messages (cut short, upper-cased, spaced out, percent-encoded: tests/support/echoes.py). With
`redirect_to` set it answers every call with a 307 to that origin (the same path), as a moved server does.
With `enforce(rpm=..., tpm=..., window_s=...)` it keeps a quota as the real API does: past either limit in
the sliding window, a call is answered 429 with the quota it hit (`QuotaFailure`) and when to try again
(`RetryInfo`), and counted in `quota_refusals`.
Prompt caching is modelled as the API documents it: a call's prompt prefix shared with an earlier call
to the model is reported as `cachedContentTokenCount` (implicit caching, tests/support/prompt_cache.py),
and explicit caches are created (`POST /{api_version}/cachedContents`), used through a call's
`cachedContent` and deleted (`DELETE /{api_version}/cachedContents/{id}`); `caches` holds the live ones.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import math
import re
import socket
import threading
import time
from base64 import urlsafe_b64decode
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from PIL import Image

from tests.support.echoes import altered
from tests.support.prompt_cache import Piece, PromptCache

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

BEHAVIOURS = frozenset(
    {
        "ok",
        "429",
        "500",
        "503",
        "malformed_json",
        "wrong_shape",
        "wrong_language",  # a valid answer in English whatever language the prompt asks for
        "not_json_body",
        "too_few_scenarios",
        "too_few_test_cases",
        "empty",
        "hang",
        "bad_key",
        "forbidden",
        "bad_request",
        "repeat",  # a model that repeats itself: the same scenario text in every answer
        "unknown_model",  # a model not in `models` (never scripted: the fake answers it by itself)
    }
)
PATH_RE = re.compile(r"^/(?P<version>[^/]+)/models/(?P<model>[^/:]+):generateContent$")
CACHES_RE = re.compile(r"^/(?P<version>[^/]+)/cachedContents(?:/(?P<id>[A-Za-z0-9_-]+))?$")
SPEC_RE = re.compile(r"^BATCH_SPEC: (\{.*\})$", re.MULTILINE)


@dataclass
class RecordedCall:
    """One call as the fake saw it. The texts read a Gemini body or a Chat Completions one."""

    path: str
    api_key: str | None
    body: dict[str, Any]
    behaviour: str
    started: float  # time.monotonic() when the request had arrived
    finished: float | None = None  # when the answer was ready, before it was sent (or the call ended)
    usage: dict[str, int] | None = None
    disconnected: bool = False  # the client closed the connection before the answer was sent

    @property
    def prompt_text(self) -> str:
        """The user content and the system instruction, as one string."""
        if "messages" in self.body:
            return "\n".join(content_text(m.get("content", "")) for m in self.body["messages"])
        texts = [p.get("text", "") for c in self.body.get("contents", []) for p in c.get("parts", [])]
        system = self.body.get("systemInstruction") or {}
        texts += [p.get("text", "") for p in system.get("parts", [])]
        return "\n".join(texts)

    @property
    def user_text(self) -> str:
        if "messages" in self.body:
            return _message_text(self.body, "user")
        return "\n".join(p.get("text", "") for c in self.body.get("contents", []) for p in c.get("parts", []))

    @property
    def system_text(self) -> str:
        if "messages" in self.body:
            return _message_text(self.body, "system")
        system = self.body.get("systemInstruction") or {}
        return "\n".join(p.get("text", "") for p in system.get("parts", []))

    @property
    def images(self) -> list[tuple[str, bytes]]:
        """The images the call carried (media type, bytes): Gemini's inline data parts, or the
        image_url parts (data URLs) of a Chat Completions body."""
        found = []
        for content in self.body.get("contents", []):
            for part in content.get("parts", []):
                inline = part.get("inlineData") or part.get("inline_data")
                if inline:
                    found.append((inline.get("mimeType") or inline.get("mime_type"), _b64(inline["data"])))
        for message in self.body.get("messages", []):
            for part in message.get("content") if isinstance(message.get("content"), list) else []:
                if part.get("type") == "image_url":
                    head, _, data = part["image_url"]["url"].partition(",")
                    found.append((head.removeprefix("data:").partition(";")[0], _b64(data)))
        return found

    @property
    def image_tokens(self) -> int:
        return sum(image_tokens(data, gemini="messages" not in self.body) for _, data in self.images)

    @property
    def pieces(self) -> list[Piece]:
        """The prompt in the order the model reads it (system instruction, then the contents), as
        the prompt cache compares it."""
        if "messages" in self.body:
            found = []
            for message in self.body["messages"]:
                content = message.get("content", "")
                if not isinstance(content, list):
                    found.append(Piece(str(content)))
                    continue
                for part in content:
                    if part.get("type") == "image_url":
                        data = _b64(part["image_url"]["url"].partition(",")[2])
                        digest = hashlib.sha256(data).hexdigest()
                        found.append(Piece(digest, image_tokens(data, gemini=False)))
                    else:
                        found.append(Piece(str(part.get("text", ""))))
            return found
        return gemini_pieces(self.body)


def image_tokens(data: bytes, *, gemini: bool) -> int:
    """The prompt tokens of an image, by the vendor's documented rule: Gemini, 258 for an image of at
    most 384 px a side, else 258 per 768 px tile; OpenAI (detail high), fitted into 2048 px then its
    short side to 768, 85 plus 170 per 512 px tile."""
    width, height = Image.open(io.BytesIO(data)).size
    if gemini:
        small = width <= 384 and height <= 384
        return 258 if small else math.ceil(width / 768) * math.ceil(height / 768) * 258
    fit = min(1.0, 2048 / max(width, height))
    w, h = width * fit, height * fit
    short = min(1.0, 768 / min(w, h))
    return 85 + 170 * math.ceil(w * short / 512) * math.ceil(h * short / 512)


def gemini_pieces(body: dict[str, Any]) -> list[Piece]:
    """A Gemini body's system instruction and contents, text by text and image by image."""
    system = body.get("systemInstruction") or {}
    parts = list(system.get("parts", []))
    parts += [p for c in body.get("contents", []) for p in c.get("parts", [])]
    found = []
    for part in parts:
        inline = part.get("inlineData") or part.get("inline_data")
        if inline:
            data = _b64(inline["data"])
            found.append(Piece(hashlib.sha256(data).hexdigest(), image_tokens(data, gemini=True)))
        else:
            found.append(Piece(str(part.get("text", ""))))
    return found


@dataclass
class CachedContent:
    """An explicit cache: its model and the prompt it holds."""

    model: str
    pieces: list[Piece]

    @property
    def tokens(self) -> int:
        return sum(piece.count() for piece in self.pieces)


def _b64(data: str) -> bytes:
    """Base64 as the SDK sends it (URL-safe, maybe unpadded) or as data URLs carry it."""
    return urlsafe_b64decode(data.replace("+", "-").replace("/", "_") + "=" * (-len(data) % 4))


def content_text(content: object) -> str:
    """A Chat Completions message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return str(content)


def _message_text(body: dict[str, Any], role: str) -> str:
    return "\n".join(
        content_text(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == role
    )


@dataclass
class _Spec:
    test_cases: int = 1
    scenarios_per_test_case: int = 1
    first: int = 1
    language: str = "en"

    @property
    def scenarios(self) -> int:
        return self.test_cases * self.scenarios_per_test_case


@dataclass
class QuotaWindow:
    """Requests and tokens (a call's prompt and answer) a window, sliding; 0: not limited."""

    rpm: int = 0
    tpm: int = 0
    window_s: float = 60.0
    calls: deque[tuple[float, int]] = field(default_factory=deque)  # (arrival, tokens)

    def admit(self, now: float, tokens: int) -> tuple[str, float] | None:
        """None when the call fits (and it is counted), else the limit it hit and the seconds until
        it would fit."""
        while self.calls and self.calls[0][0] <= now - self.window_s:
            self.calls.popleft()
        if self.rpm and len(self.calls) >= self.rpm:
            return "rpm", self.calls[len(self.calls) - self.rpm][0] + self.window_s - now
        used = sum(t for _, t in self.calls)
        if self.tpm and self.calls and used + tokens > self.tpm:
            freed = 0
            for arrived, spent in self.calls:
                freed += spent
                if used - freed + tokens <= self.tpm:
                    return "tpm", arrived + self.window_s - now
        self.calls.append((now, tokens))
        return None

    def remaining(self) -> tuple[int, int]:
        return max(0, self.rpm - len(self.calls)), max(0, self.tpm - sum(t for _, t in self.calls))


@dataclass
class _State:
    script: deque[str] = field(default_factory=deque)
    records: list[RecordedCall] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0


class FakeGemini:
    """Start with `start()` (or as a context manager); `url` is the base URL to give the SDK."""

    def __init__(
        self,
        *,
        latency_s: float = 0.0,
        latency_per_scenario_s: float = 0.0,
        retry_delay: str = "0.2s",
        hang_s: float = 30.0,
        valid_keys: set[str] | None = None,
        echo_key: bool = True,
        models: set[str] | None = None,
    ) -> None:
        self.latency_s = latency_s
        self.latency_per_scenario_s = latency_per_scenario_s
        self.retry_delay = retry_delay
        self.hang_s = hang_s
        self.valid_keys = valid_keys
        self.echo_key = echo_key
        self.echo_style = "exact"  # how the messages quote the key (tests/support/echoes.py)
        self.redirect_to: str | None = None  # an origin to send every call to with a 307
        self.redirected = 0  # calls answered so
        self.models = models  # the models it has, as the Gemini API 404s any other; None: every name
        self.quota: QuotaWindow | None = None  # `enforce()`
        self.quota_refusals = 0  # calls answered 429 by the quota
        self._quota_now: Callable[[], float] = time.monotonic
        self._quota_model: str | None = None
        self._lock = threading.Lock()
        self._state = _State()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: asyncio.Event | None = None
        self._paused = False
        self._port = 0
        self.prompt_cache = PromptCache(min_tokens=1024)
        self.caches: dict[str, CachedContent] = {}  # live explicit caches, by name
        self.caches_created = 0
        self.refuse_caches = False  # answer a cache's creation 400, as for a model without caching

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> FakeGemini:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            interface="asgi3",
            backlog=2048,
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-gemini", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake Gemini server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._release_hangs()
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if not self._port:
            raise RuntimeError("fake Gemini server is not started")
        return f"http://127.0.0.1:{self._port}"

    # --- scripting and inspection ---------------------------------------------------------------

    def script(self, *behaviours: str) -> None:
        """Queue behaviours for the next calls, in order."""
        unknown = set(behaviours) - BEHAVIOURS
        if unknown:
            raise ValueError(f"unknown behaviours: {sorted(unknown)}")
        with self._lock:
            self._state.script.extend(behaviours)

    def reset(self) -> None:
        """Forget the script and the recorded calls, release hanging calls, resume; latencies are kept."""
        self._paused = False
        self._release_hangs()
        with self._lock:
            self._state = _State()
            self.prompt_cache = PromptCache(self.prompt_cache.min_tokens, self.prompt_cache.step)
            self.caches.clear()
            self.caches_created = 0
            self.refuse_caches = False

    def enforce(
        self,
        *,
        rpm: int = 0,
        tpm: int = 0,
        window_s: float = 60.0,
        now: Callable[[], float] = time.monotonic,
        model: str | None = None,
    ) -> None:
        """Keep a quota of `rpm` requests and `tpm` tokens per `window_s` (sliding) as the API does,
        timed by `now` (seconds; a test passes its fake clock's), for `model` (None: every model)."""
        with self._lock:
            self.quota = QuotaWindow(rpm, tpm, window_s) if rpm or tpm else None
            self.quota_refusals = 0
            self._quota_now = now
            self._quota_model = model

    def _over_quota(self, tokens: int, model: str) -> tuple[str, float, int] | None:
        """None when the call fits the quota, else the limit it hit, the seconds until it would fit,
        and the limit's value (a refusal is counted)."""
        with self._lock:
            quota = self.quota if self._quota_model in (None, model) else None
            hit = quota.admit(self._quota_now(), tokens) if quota is not None else None
            if hit is None or quota is None:
                return None
            self.quota_refusals += 1
            return hit[0], max(0.001, hit[1]), quota.rpm if hit[0] == "rpm" else quota.tpm

    def pause(self) -> None:
        """Hold every answer (and its latency) until `resume()`: the calls stay in flight."""
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self._state.records)

    @property
    def max_in_flight(self) -> int:
        with self._lock:
            return self._state.max_in_flight

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._state.in_flight

    @property
    def requests(self) -> list[RecordedCall]:
        with self._lock:
            return list(self._state.records)

    def user_texts(self) -> list[str]:
        return [r.user_text for r in self.requests]

    @property
    def api_keys(self) -> list[str | None]:
        return [r.api_key for r in self.requests]

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests]

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
        caches = CACHES_RE.match(scope["path"])
        if caches is not None:
            status, payload = self._cached_contents(scope["method"], caches["id"], raw)
            await _send_json(send, status, payload, [])
            return
        match = PATH_RE.match(scope["path"])
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        key = headers.get("x-goog-api-key")
        echo = [(b"x-received-api-key", (key or "").encode())] if self.echo_key else []
        if scope["method"] != "POST" or match is None:
            error = _error(404, "NOT_FOUND", self._echo(f"no route for {scope['path']}", key))
            await _send_json(send, 404, error, echo)
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            error = _error(400, "INVALID_ARGUMENT", self._echo("Invalid JSON payload received.", key))
            await _send_json(send, 400, error, echo)
            return
        unknown = self.models is not None and match["model"] not in self.models
        state, record = self._begin(scope["path"], key, body, "unknown_model" if unknown else None)
        try:
            status, payload = await self._answer(record, receive)
            record.finished = time.monotonic()  # the client cannot have the answer before this time
            if status:
                await _send_body(send, status, payload, echo if status >= 400 or payload[:1] != b"{" else [])
        finally:
            with self._lock:
                record.finished = record.finished or time.monotonic()
                state.in_flight -= 1

    def _begin(
        self, path: str, key: str | None, body: dict[str, Any], behaviour: str | None = None
    ) -> tuple[_State, RecordedCall]:
        """Record a call; its behaviour is the given one, else the script's next, else "ok"."""
        with self._lock:
            state = self._state
            if behaviour is None:
                behaviour = state.script.popleft() if state.script else "ok"
            if self.valid_keys is not None and key not in self.valid_keys:
                behaviour = "bad_key"
            record = RecordedCall(
                path=path, api_key=key, body=body, behaviour=behaviour, started=time.monotonic()
            )
            state.records.append(record)
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        return state, record

    async def _answer(self, record: RecordedCall, receive: Receive) -> tuple[int, bytes]:
        """The status and body for one call; status 0 when the client went away first."""
        behaviour = record.behaviour
        if behaviour == "hang":
            await self._wait(receive, self.hang_s, record)
            return 0, b""
        if behaviour in ("429", "500", "503", "bad_key", "forbidden", "bad_request", "unknown_model"):
            status, error = self._error_for(behaviour, record.path)
            error["error"]["message"] = self._echo(error["error"]["message"], record.api_key)
            return status, json.dumps(error).encode()
        spec = _parse_spec(record.user_text)
        if self.quota is not None:
            tokens = _tokens(record.prompt_text) + _tokens(_answer_text(behaviour, spec))
            path = PATH_RE.match(record.path)
            model = path["model"] if path else ""
            hit = self._over_quota(tokens, model)
            if hit is not None:
                record.behaviour = "quota"
                return 429, json.dumps(_quota_error(*hit, model)).encode()
        if not await self._wait(
            receive, self.latency_s + self.latency_per_scenario_s * spec.scenarios, record
        ):
            return 0, b""
        if behaviour == "not_json_body":
            greeting = self._echo("upstream proxy says hello", record.api_key)
            return 200, f"<html><body>{greeting}</body></html>".encode()
        if behaviour == "empty":
            body: dict[str, Any] = {"candidates": [{"finishReason": "SAFETY", "index": 0}]}
            return 200, json.dumps(body).encode()
        text = _answer_text(behaviour, spec)
        prompt_tokens = _tokens(record.prompt_text) + record.image_tokens
        path = PATH_RE.match(record.path)
        model = path["model"] if path else ""
        explicit = self.caches.get(str(record.body.get("cachedContent", "")))
        if explicit is not None:
            cached = explicit.tokens
            prompt_tokens += cached
        else:
            cached = self.prompt_cache.cached(model, record.pieces)
        usage = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": _tokens(text)}
        usage["totalTokenCount"] = usage["promptTokenCount"] + usage["candidatesTokenCount"]
        if cached:
            usage["cachedContentTokenCount"] = cached
        record.usage = usage
        body = {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP", "index": 0}
            ],
            "usageMetadata": usage,
            "modelVersion": "fake-gemini",
            "responseId": f"fake-{id(record):x}",
        }
        return 200, json.dumps(body).encode()

    def _cached_contents(self, method: str, cache_id: str | None, raw: bytes) -> tuple[int, dict[str, Any]]:
        """Create (POST), read (GET) or delete (DELETE) an explicit cache, as the API answers."""
        with self._lock:
            if method == "POST" and cache_id is None:
                if self.refuse_caches:
                    return 400, _error(400, "INVALID_ARGUMENT", "Cached content is not supported.")
                body = json.loads(raw or b"{}")
                model = str(body.get("model", "")).removeprefix("models/")
                if not model:
                    return 400, _error(400, "INVALID_ARGUMENT", "model is required")
                self.caches_created += 1
                name = f"cachedContents/fake{self.caches_created}"
                self.caches[name] = cache = CachedContent(model, gemini_pieces(body))
                return 200, {
                    "name": name,
                    "model": f"models/{model}",
                    "displayName": body.get("displayName", ""),
                    "usageMetadata": {"totalTokenCount": cache.tokens},
                }
            name = f"cachedContents/{cache_id}"
            if cache_id is None or name not in self.caches:
                return 404, _error(404, "NOT_FOUND", "CachedContent not found (or permission denied)")
            if method == "DELETE":
                del self.caches[name]
                return 200, {}
            if method == "GET":
                cache = self.caches[name]
                return 200, {"name": name, "usageMetadata": {"totalTokenCount": cache.tokens}}
            return 405, _error(405, "METHOD_NOT_ALLOWED", "method not allowed")

    def _error_for(self, behaviour: str, path: str) -> tuple[int, dict[str, Any]]:
        if behaviour == "unknown_model" and (match := PATH_RE.match(path)):
            message = (
                f"models/{match['model']} is not found for API version {match['version']}, or is not "
                "supported for generateContent. Call ListModels to see the list of available models and "
                "their supported methods."
            )
            return 404, _error(404, "NOT_FOUND", message)
        if behaviour == "429":
            error = _error(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.")
            error["error"]["details"] = [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": self.retry_delay}
            ]
            return 429, error
        if behaviour == "500":
            return 500, _error(500, "INTERNAL", "An internal error has occurred.")
        if behaviour == "503":
            return 503, _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
        if behaviour == "forbidden":
            return 403, _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        if behaviour == "bad_request":
            return 400, _error(400, "INVALID_ARGUMENT", "Request contains an invalid argument.")
        error = _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
        error["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        ]
        return 400, error

    async def _redirect(self, scope: Scope, send: Send) -> bool:
        """Answer 307 to `redirect_to` (the same path and query) when it is set."""
        if self.redirect_to is None:
            return False
        query = scope.get("query_string", b"").decode()
        location = self.redirect_to.rstrip("/") + scope["path"] + (f"?{query}" if query else "")
        with self._lock:
            self.redirected += 1
        headers = [(b"location", location.encode()), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 307, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
        return True

    def _echo(self, message: str, key: str | None) -> str:
        return f"{message} (key={self._echoed(key)})" if self.echo_key else message

    def _echoed(self, key: str | None) -> str | None:
        """The key as this server quotes it (`echo_style`)."""
        return altered(key, self.echo_style) if key else key

    async def _wait(self, receive: Receive, seconds: float, record: RecordedCall) -> bool:
        """Sleep, and wait while paused; False if the client disconnected (noted in `record`) or the
        server released hanging calls first."""
        if seconds <= 0 and not self._paused:
            return True
        assert self._release is not None
        tasks = [
            asyncio.ensure_future(self._sleep_unpaused(seconds)),
            asyncio.ensure_future(receive()),
            asyncio.ensure_future(self._release.wait()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        record.disconnected = tasks[1] in done
        return tasks[0] in done

    async def _sleep_unpaused(self, seconds: float) -> None:
        while self._paused:
            await asyncio.sleep(0.005)
        await asyncio.sleep(seconds)

    def _release_hangs(self) -> None:
        loop, release = self._loop, self._release
        if loop is None or release is None or loop.is_closed():
            return

        def swap() -> None:
            release.set()
            self._release = asyncio.Event()

        loop.call_soon_threadsafe(swap)


def _tokens(text: str) -> int:
    """The tokens the fakes count for a text (and report in an answer's usage)."""
    return max(1, len(text) // 4)


def _parse_spec(text: str) -> _Spec:
    match = SPEC_RE.search(text)
    if match is None:
        return _Spec()
    data = json.loads(match.group(1))
    return _Spec(
        test_cases=int(data["test_cases"]),
        scenarios_per_test_case=int(data["scenarios_per_test_case"]),
        first=int(data.get("first", 1)),
        language=str(data.get("language", "en")),
    )


_ENGLISH = {
    "title": "Test case {n} scenario {s}",
    "given": "a user for test case {n}",
    "when": "they perform step {s}",
    "then": "outcome {s} of test case {n} is observed",
    "case": "Test case {n}",
    "description": "Fake test case number {n}.",
    "precondition": "the system is running",
}
# What a model asked for Spanish writes (BATCH_SPEC carries the story's language).
_SPANISH = {
    "title": "Caso de prueba {n} escenario {s}",
    "given": "un usuario para el caso de prueba {n}",
    "when": "realiza el paso {s} de la prueba",
    "then": "se observa el resultado {s} del caso de prueba {n}",
    "case": "Caso de prueba {n}",
    "description": "Caso de prueba ficticio número {n}.",
    "precondition": "el sistema está en marcha",
}


def _answer_text(behaviour: str, spec: _Spec) -> str:
    if behaviour == "malformed_json":
        return '{"test_cases": [{"title": "Unclosed'
    if behaviour == "wrong_shape":  # valid JSON, but a test case without scenarios
        return json.dumps({"test_cases": [{"title": "No scenarios", "covered_criteria": [0]}]})
    cases, per_case = spec.test_cases, spec.scenarios_per_test_case
    if behaviour == "too_few_scenarios":
        per_case = max(0, per_case - 1)
    if behaviour == "too_few_test_cases":
        cases = max(0, cases - 1)
    spanish = spec.language.split("-")[0] == "es" and behaviour != "wrong_language"
    words = _SPANISH if spanish else _ENGLISH
    test_cases = []
    for n in range(spec.first, spec.first + cases):
        scenarios = [
            {
                "title": words["title"].format(n=n, s=s),
                **{key: [words[key].format(n=n, s=s)] for key in ("given", "when", "then")},
            }
            if behaviour != "repeat"
            else {
                "title": "The shopper pays",
                "given": ["a basket with items"],
                "when": ["the shopper pays"],
                "then": ["the order is paid"],
            }
            for s in range(1, per_case + 1)
        ]
        test_cases.append(
            {
                "title": words["case"].format(n=n),
                "description": words["description"].format(n=n),
                "preconditions": [words["precondition"]],
                "priority": "medium",
                "scenarios": scenarios,
                "covered_criteria": [0],
            }
        )
    return json.dumps({"test_cases": test_cases})


# The quotas a 429 names, as the Gemini API's QuotaFailure does (per model, per minute).
QUOTA_IDS = {
    "rpm": ("generate_requests_per_model", "GenerateRequestsPerMinutePerProjectPerModel"),
    "tpm": ("generate_content_input_token_count", "GenerateContentInputTokensPerModelPerMinute"),
}


def _quota_error(limit: str, retry_s: float, value: int, model: str) -> dict[str, Any]:
    metric, quota_id = QUOTA_IDS[limit]
    error = _error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details. "
        f"Quota exceeded for metric: generativelanguage.googleapis.com/{metric}, limit: {value}, "
        f"model: {model}. Please retry in {retry_s:.3f}s.",
    )
    error["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": f"generativelanguage.googleapis.com/{metric}",
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": model},
                    "quotaValue": str(value),
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_s:.3f}s"},
    ]
    return error


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


async def _send_json(
    send: Send, status: int, payload: dict[str, Any], extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    await _send_body(send, status, json.dumps(payload).encode(), extra)


async def _send_body(
    send: Send, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    content_type = b"application/json; charset=UTF-8" if body[:1] in (b"{", b"[") else b"text/html"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
