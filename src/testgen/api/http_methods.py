"""The methods a path answers (RFC 9110): HEAD wherever GET, and 405 with a true `Allow` header.

FastAPI registers one route per method and path, so Starlette's own 405 names the methods of the
first route whose path matched only; and a literal path such as `/projects/providers` is also a
value of `/projects/{project_id}`, whose other methods would answer it with a 404 or a 422.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from testgen.api.security import send_error

METHOD_NOT_ALLOWED = "Method Not Allowed"


def flat_routes(routes: Iterable[BaseRoute]) -> list[RouteContext]:
    """Every route, those of included routers with their prefix (FastAPI keeps routers nested)."""
    return [route for route in iter_route_contexts(list(routes)) if route.methods]


def allowed_methods(routes: Iterable[BaseRoute], scope: Scope) -> list[str]:
    """The methods of every route whose path matches the request's, HEAD with GET, sorted."""
    methods: set[str] = set()
    for route in flat_routes(routes):
        if route.matches(scope)[0] != Match.NONE:
            methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def allow_header(methods: list[str]) -> str:
    return ", ".join(methods)


class HeadMiddleware:
    """HEAD is GET without the body: the app answers a GET and only its status and headers are sent.
    An event stream ends once its headers are out (its receive channel reports the client gone)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        done = False

        async def head_receive() -> Message:
            return {"type": "http.disconnect"} if done else await receive()

        async def head_send(message: Message) -> None:
            nonlocal done
            if done:
                return
            if message["type"] == "http.response.body":
                done = True
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, head_receive, head_send)


class LiteralPathMiddleware:
    """A literal path (one with no parameter) answers only its own methods: any other gets 405 with
    `Allow`, before routing could hand it to a parameterised route of that method."""

    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.methods: dict[str, set[str]] = {}
        for route in flat_routes(routes):
            if not route.param_convertors and route.path_format:
                self.methods.setdefault(route.path_format, set()).update(route.methods or ())
        for methods in self.methods.values():
            if "GET" in methods:
                methods.add("HEAD")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = self.methods.get(scope["path"]) if scope["type"] == "http" else None
        if methods is None or scope["method"] in methods:
            await self.app(scope, receive, send)
            return
        allow = allow_header(sorted(methods))
        await send_error(send, 405, METHOD_NOT_ALLOWED, (b"allow", allow.encode()))
