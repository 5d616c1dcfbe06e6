"""API keys, short-lived stream tokens and request-size limits, as plain ASGI middleware.

Plain ASGI (not BaseHTTPMiddleware) so that SSE responses stream through untouched.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPEN_PATHS = ("/health",)
OPEN_PREFIXES = ("/static/",)
PAGE_PATHS = ("/", "/favicon.ico")  # the page itself holds no data; it asks for the key
STREAM_TOKEN_TTL_S = 300


class StreamTokens:
    """Tokens for EventSource, which cannot send headers: `?access_token=` on `/events` URLs only.

    A token is `expiry.signature`, signed with a secret derived from the API keys, so changing the
    keys revokes every token. It is valid for a few minutes and never reveals a key.
    """

    def __init__(self, keys: list[str], ttl_s: int = STREAM_TOKEN_TTL_S) -> None:
        self.secret = hashlib.sha256(("\0".join(sorted(keys)) + "\0stream-token").encode()).digest()
        self.ttl_s = ttl_s

    def issue(self, now: float | None = None) -> tuple[str, int]:
        expiry = int((now or time.time()) + self.ttl_s)
        return f"{expiry}.{self._sign(expiry)}", self.ttl_s

    def valid(self, token: str, now: float | None = None) -> bool:
        expiry_text, _, signature = token.partition(".")
        if not expiry_text.isdigit():
            return False
        expiry = int(expiry_text)
        return hmac.compare_digest(signature, self._sign(expiry)) and expiry >= (now or time.time())

    def _sign(self, expiry: int) -> str:
        digest = hmac.new(self.secret, str(expiry).encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def key_matches(presented: str, keys: list[str]) -> bool:
    """Compare against every key in constant time (no early exit that would leak which matched)."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(presented.encode(), key.encode())
    return matched


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: list[str], tokens: StreamTokens) -> None:
        self.app = app
        self.keys = keys
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._allowed(scope):
            await self.app(scope, receive, send)
            return
        detail = "Missing or invalid API key: send 'Authorization: Bearer <key>' (API_KEYS is set)"
        await send_error(send, 401, detail, (b"www-authenticate", b'Bearer realm="testgen"'))

    def _allowed(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if scope["method"] == "OPTIONS" or path in OPEN_PATHS or path in PAGE_PATHS:
            return True
        if path.startswith(OPEN_PREFIXES):
            return True
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                return scheme.lower() == "bearer" and key_matches(credential.strip(), self.keys)
        if path.endswith("/events"):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            token = query.get("access_token", [""])[0]
            return bool(token) and self.tokens.valid(token)
        return False


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
