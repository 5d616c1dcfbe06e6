"""API keys, short-lived stream tokens and request-size limits, as plain ASGI middleware.

Plain ASGI (not BaseHTTPMiddleware) so that SSE responses stream through untouched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from urllib.parse import unquote_plus

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPEN_PATHS = ("/health",)
OPEN_PREFIXES = ("/static/",)
PAGE_PATHS = ("/", "/favicon.ico")  # the page itself holds no data; it asks for the key
STREAM_TOKEN_TTL_S = 300
STREAM_TOKEN_PARAM = "access_token"
STREAM_ROUTES = frozenset({"job_events", "multiplexed_events"})  # the only routes a token opens
_EXPIRY = re.compile(r"[0-9]{1,12}")  # ASCII digits only, bounded: no huge or exotic numbers
_KEY_ID = re.compile(r"[0-9a-f]{16}")


def key_id(key: str) -> str:
    """A short, non-secret name of an API key: it names the key in tokens and rate limits."""
    return hashlib.sha256(("testgen-key-id\0" + key).encode()).hexdigest()[:16]


class StreamTokens:
    """Tokens for EventSource, which cannot send headers: `?access_token=` on event streams only.

    A token is `key-id.expiry.signature`, signed with a secret derived from the key that asked for
    it, so removing that key from API_KEYS revokes its tokens at once. It is valid for a few
    minutes and never reveals a key.
    """

    def __init__(self, keys: list[str], ttl_s: int = STREAM_TOKEN_TTL_S) -> None:
        self.secrets = {
            key_id(key): hashlib.sha256((key + "\0stream-token").encode()).digest() for key in keys
        }
        self.ttl_s = ttl_s

    def issue(self, key: str, now: float | None = None) -> tuple[str, int]:
        ident = key_id(key)
        expiry = int((now or time.time()) + self.ttl_s)
        return f"{ident}.{expiry}.{self._sign(self.secrets[ident], ident, expiry)}", self.ttl_s

    def owner(self, token: str, now: float | None = None) -> str | None:
        """The key id that asked for a valid token, else None (unknown key, bad signature, expired)."""
        ident, _, rest = token.partition(".")
        expiry_text, _, signature = rest.partition(".")
        secret = self.secrets.get(ident) if _KEY_ID.fullmatch(ident) else None
        if secret is None or not _EXPIRY.fullmatch(expiry_text):
            return None
        expiry = int(expiry_text)
        if not hmac.compare_digest(signature, self._sign(secret, ident, expiry)):
            return None
        return ident if expiry >= (now or time.time()) else None

    @staticmethod
    def _sign(secret: bytes, ident: str, expiry: int) -> str:
        digest = hmac.new(secret, f"{ident}.{expiry}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def matching_key(presented: str, keys: list[str]) -> str | None:
    """The key equal to `presented`, compared with every key in constant time (no early exit)."""
    found = None
    for key in keys:
        if hmac.compare_digest(presented.encode(), key.encode()):
            found = key
    return found


def stream_token(query_string: bytes) -> str:
    """The first non-empty `access_token` of a query. Only that spelling counts: a token under an
    encoded name (`access%5Ftoken`) is refused (and hidden from the access log all the same)."""
    for part in query_string.decode("latin-1").split("&"):
        name, _, value = part.partition("=")
        if name == STREAM_TOKEN_PARAM and value:
            return unquote_plus(value)
    return ""


def set_principal(scope: Scope, principal: str) -> None:
    """Who is asking (a key id, or the client address when auth is off), for the rate limits."""
    scope.setdefault("state", {})["principal"] = principal


def approve_stream_token(scope: Scope) -> None:
    """Called by the event-stream routes themselves, once routed: a stream token may answer here."""
    route = scope.get("route")
    if getattr(route, "name", None) in STREAM_ROUTES:
        scope.setdefault("state", {})["stream_route"] = True


class ApiKeyMiddleware:
    """Every request needs a key, except /health and the page's files. A stream token (GET only)
    is let through to routing, and its response is only sent if the route that answered is an
    event stream (which approves it); any other route's answer is replaced by a 401."""

    def __init__(self, app: ASGIApp, keys: list[str], tokens: StreamTokens) -> None:
        self.app = app
        self.keys = keys
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        verdict = self._check(scope)
        if verdict == "stream-token":
            await self.app(scope, receive, _only_if_stream_route(scope, send))
        elif verdict == "ok":
            await self.app(scope, receive, send)
        else:
            await _unauthorized(send)

    def _check(self, scope: Scope) -> str:
        path: str = scope["path"]
        if scope["method"] == "OPTIONS" or path in OPEN_PATHS or path in PAGE_PATHS:
            return "ok"
        if path.startswith(OPEN_PREFIXES):
            return "ok"
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                key = matching_key(credential.strip(), self.keys) if scheme.lower() == "bearer" else None
                if key is None:
                    return "no"
                set_principal(scope, key_id(key))
                scope["state"]["api_key"] = key
                return "ok"
        if scope["method"] != "GET":
            return "no"
        token = stream_token(scope.get("query_string", b""))
        owner = self.tokens.owner(token) if token else None
        if owner is None:
            return "no"
        set_principal(scope, owner)
        return "stream-token"


def _only_if_stream_route(scope: Scope, send: Send) -> Send:
    refused = False

    async def guarded_send(message: Message) -> None:
        nonlocal refused
        if message["type"] == "http.response.start":
            refused = not scope.get("state", {}).get("stream_route", False)
            if refused:
                await _unauthorized(send)
                return
        if not refused:
            await send(message)

    return guarded_send


async def _unauthorized(send: Send) -> None:
    detail = "Missing or invalid API key: send 'Authorization: Bearer <key>' (API_KEYS is set)"
    await send_error(send, 401, detail, (b"www-authenticate", b'Bearer realm="testgen"'))


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await send_error(send, 413, _TooLarge(self.max_bytes).detail)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge as exc:
            if not started:
                await send_error(send, 413, exc.detail)


class _TooLarge(HTTPException):
    """Raised while the body is read; FastAPI passes HTTPExceptions through to its 413 response."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"Request body too large: the limit is {max_bytes} bytes (MAX_BODY_BYTES)")


async def send_error(send: Send, status: int, detail: str, *headers: tuple[bytes, bytes]) -> None:
    """A JSON error response written straight to ASGI, for middleware that answers by itself."""
    body = json.dumps({"detail": detail}).encode()
    start_headers = [
        (b"content-type", b"application/json"),
        *headers,
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": start_headers})
    await send({"type": "http.response.body", "body": body})
