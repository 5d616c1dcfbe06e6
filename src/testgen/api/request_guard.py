"""Checks every request passes before routing, as plain ASGI middleware (SSE streams pass untouched).

- `JsonBodyMiddleware`: a state-changing request that carries a body must say it is JSON (an upload
  (api/uploads.py): multipart/form-data).
- `LocalOnlyMiddleware` (keyless mode only): the `Host` must be a local name, the bound address or
  one of ALLOWED_HOSTS (DNS rebinding), and a state-changing request from a browser must come from
  the page itself or an origin in CORS_ORIGINS (another web site cannot queue jobs).
- `SecurityHeadersMiddleware`: the page's Content-Security-Policy and anti-framing headers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from testgen.api.security import send_error
from testgen.api.uploads import UPLOAD_MEDIA_TYPE, is_upload_path

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
JSON_TYPES = ("application/json",)
# Browsers send Sec-Fetch-Site; these values mean the page itself (or the user typing a URL).
OWN_FETCH_SITES = (b"same-origin", b"none")

PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The API docs pages load Swagger UI / ReDoc from a CDN with inline scripts: they only get the
# anti-framing part of the policy.
DOCS_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")
DOCS_CSP = "frame-ancestors 'none'"


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def host_name(host: str) -> str:
    """`Example.org:8000` -> `example.org`; `[::1]:8000` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:
        return host.partition(":")[0]
    return host


class JsonBodyMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in STATE_CHANGING and not self._json_or_empty(scope):
            detail = "Send the request body as JSON with 'Content-Type: application/json'"
            await send_error(send, 415, detail)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _json_or_empty(scope: Scope) -> bool:
        content_type = _header(scope, b"content-type")
        if content_type is None:
            length = _header(scope, b"content-length")
            has_body = _header(scope, b"transfer-encoding") is not None or (length not in (None, b"0"))
            return not has_body
        media_type = content_type.decode("latin-1").partition(";")[0].strip().lower()
        if media_type == UPLOAD_MEDIA_TYPE and is_upload_path(scope):
            return True
        return media_type in JSON_TYPES or (
            media_type.startswith("application/") and media_type.endswith("+json")
        )


class LocalOnlyMiddleware:
    def __init__(self, app: ASGIApp, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self.any_host = "*" in allowed_hosts
        self.allowed_hosts = frozenset(allowed_hosts)
        self.allowed_origins = frozenset(o.rstrip("/").lower() for o in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = (_header(scope, b"host") or b"").decode("latin-1")
        if not self._host_allowed(scope, host):
            detail = "Unknown Host header: add this host name to ALLOWED_HOSTS to serve it"
            await send_error(send, 400, detail)
            return
        if scope["method"] in STATE_CHANGING and not self._origin_allowed(scope, host):
            detail = "Cross-origin request refused: add the page's origin to CORS_ORIGINS to allow it"
            await send_error(send, 403, detail)
            return
        await self.app(scope, receive, send)

    def _host_allowed(self, scope: Scope, host: str) -> bool:
        if self.any_host:
            return True
        name = host_name(host)
        bound = scope.get("server")
        return name in self.allowed_hosts or (bound is not None and name == str(bound[0]).lower())

    def _origin_allowed(self, scope: Scope, host: str) -> bool:
        origin = _header(scope, b"origin")
        if origin is not None:
            text = origin.decode("latin-1").strip().lower()
            return text in self.allowed_origins or (
                text != "null" and urlsplit(text).netloc == host.strip().lower()
            )
        site = _header(scope, b"sec-fetch-site")
        return site is None or site.lower() in OWN_FETCH_SITES


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope["path"] in DOCS_PATHS else PAGE_CSP).encode()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", csp),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-content-type-options", b"nosniff"),
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
