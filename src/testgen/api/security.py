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
from collections.abc import Awaitable, Callable
from typing import Protocol
from urllib.parse import unquote_plus

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from testgen.api.uploads import is_upload
from testgen.core.errors import RateLimitedError

OPEN_PATHS = ("/health", "/auth/login", "/auth/config")
OPEN_PREFIXES = ("/static/", "/auth/oidc/")
PAGE_PATHS = ("/", "/favicon.ico")  # the page itself holds no data; it asks its user to sign in
STREAM_TOKEN_TTL_S = 300
STREAM_TOKEN_PARAM = "access_token"
STREAM_ROUTES = frozenset({"job_events", "multiplexed_events"})  # the only routes a token opens
_EXPIRY = re.compile(r"[0-9]{1,12}")  # ASCII digits only, bounded: no huge or exotic numbers
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_USER_ID = re.compile(r"u[1-9][0-9]{0,9}")


class StreamTokens:
    """Tokens for EventSource, which cannot send headers: `?access_token=` on event streams only.

    A token is `key-id.expiry.signature`, valid for a few minutes. The key id and the secret that
    signs the key's tokens are HMACs of the key under STREAM_TOKEN_SECRET: every API process of a
    deployment derives the same ones, and neither a token nor a key id (which also names the key in
    the rate limits' Redis keys) lets anyone test guessed keys offline without that secret. Removing
    a key from API_KEYS revokes its tokens at once.
    """

    def __init__(self, keys: list[str], secret: bytes, ttl_s: int = STREAM_TOKEN_TTL_S) -> None:
        self.secret = secret
        self.ids = {key: _derive(secret, "key-id", key).hex()[:16] for key in keys}
        self.secrets = {self.ids[key]: _derive(secret, "stream-token", key) for key in keys}
        self.ttl_s = ttl_s

    def key_id(self, key: str) -> str:
        """The short, non-secret name of one of the keys: it names the key in tokens and rate limits."""
        return self.ids[key]

    def issue(self, key: str, now: float | None = None) -> tuple[str, int]:
        ident = self.key_id(key)
        expiry = int((now or time.time()) + self.ttl_s)
        return f"{ident}.{expiry}.{self._sign(self.secrets[ident], ident, expiry)}", self.ttl_s

    def issue_for_user(self, user_id: int, now: float | None = None) -> tuple[str, int]:
        """A token for a signed-in user: its owner is `u<user id>`. The user is looked up again when
        it is used, so a deactivated user's tokens stop at once."""
        ident = f"u{user_id}"
        expiry = int((now or time.time()) + self.ttl_s)
        return f"{ident}.{expiry}.{self._sign(self._user_secret(ident), ident, expiry)}", self.ttl_s

    def _user_secret(self, ident: str) -> bytes:
        return _derive(self.secret, "user-stream-token", ident)

    def owner(self, token: str, now: float | None = None) -> str | None:
        """The key id (or `u<user id>`) that asked for a valid token, else None (unknown key, bad
        signature, expired)."""
        ident, _, rest = token.partition(".")
        expiry_text, _, signature = rest.partition(".")
        if _USER_ID.fullmatch(ident) and self.secret:
            secret: bytes | None = self._user_secret(ident)
        else:
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


def _derive(secret: bytes, purpose: str, key: str) -> bytes:
    return hmac.new(secret, f"{purpose}\0{key}".encode(), hashlib.sha256).digest()


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


def needs_key(scope: Scope) -> bool:
    """Whether a request needs a credential: all do but /health, the page's files, sign-in and CORS
    preflights."""
    path: str = scope["path"]
    if scope["method"] == "OPTIONS" or path in OPEN_PATHS or path in PAGE_PATHS:
        return False
    return not path.startswith(OPEN_PREFIXES)


class FailureLimit(Protocol):
    """Failed authentications per client (AUTH_FAILURES_PER_MINUTE, in rate_limits.py)."""

    def refusal(self, scope: Scope) -> RateLimitedError | None:
        """Why this client's requests are refused unchecked for now, or None."""

    async def failed(self, scope: Scope) -> RateLimitedError | None:
        """Count a failure; why the client is refused from now on, or None (it gets a 401)."""


def approve_only_stream_routes(scope: Scope, send: Send, refuse: Callable[[Send], Awaitable[None]]) -> Send:
    """The `send` of a request authenticated by a stream token: its response goes out only if the
    route that answered is an event stream (which approves it); any other answer is replaced by
    `refuse`'s (a 401)."""
    refused = False

    async def guarded_send(message: Message) -> None:
        nonlocal refused
        if message["type"] == "http.response.start":
            refused = not scope.get("state", {}).get("stream_route", False)
            if refused:
                await refuse(send)
                return
        if not refused:
            await send(message)

    return guarded_send


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` (an upload's: `upload_max_bytes`) with 413, whether
    announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int, upload_max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_max_bytes = upload_max_bytes or max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.upload_max_bytes if is_upload(scope) else self.max_bytes
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await send_error(send, 413, _TooLarge(limit).detail)
                return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge(limit)
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
