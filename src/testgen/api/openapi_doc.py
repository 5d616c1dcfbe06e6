"""The OpenAPI document tells every status code an operation can answer, with its body's model.

A route declares the errors of its service (`errors(409)` in its decorator). The rest follow from
what runs before it and is added here when the document is built: the dependencies it uses (a
lookup that 404s, a database session that can be down) and the middleware this configuration
installs (API keys, the request rate, the body limit, the local-only checks). With API_KEYS set the
document also holds the bearer scheme and each operation's requirement.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext
from pydantic import BaseModel

from testgen.api.deps import DEPENDENCY_ERRORS
from testgen.api.http_methods import flat_routes
from testgen.api.rate_limits import EXEMPT_PATHS
from testgen.api.request_guard import STATE_CHANGING
from testgen.api.security import STREAM_ROUTES, needs_key
from testgen.api.sessions import SESSION_COOKIE
from testgen.core.config import Settings


class ErrorOut(BaseModel):
    """The body of every error but a validation error (422): what happened and what to do next."""

    detail: str


ERROR_DESCRIPTIONS = {
    400: "The request cannot be served as sent (the message says why); a request the HTTP server "
    "cannot read (such as a request line or headers past its limit) gets a plain-text 400",
    401: "Not signed in, or an invalid credential: sign in, or send `Authorization: Bearer <token>` with a "
    "personal API token or one of API_KEYS",
    403: "Your role does not allow this (the message says which role it needs), a cookie-authenticated "
    "change without `X-CSRF-Token`, or a state-changing request from another web site",
    404: "A resource the request names does not exist",
    409: "The resource is not in a state that allows this (the message says which)",
    413: "The request body is larger than MAX_BODY_BYTES",
    415: "The request body is not JSON (send `Content-Type: application/json`)",
    429: "A per-client limit was reached; retry after `Retry-After` seconds",
    503: "The database or Redis is unavailable or busy, or the server lacks a setting; retry later",
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
# Each event of a stream (Open API 3.1 has the schema of an event stream describe one event).
EVENT_STREAM = {
    "description": "Server-Sent Events: `event` names what happened, `data` is the job's state as JSON",
    "content": {
        "text/event-stream": {
            "schema": {
                "type": "object",
                "properties": {
                    "event": {"type": "string"},
                    "data": {"type": "string"},
                    "id": {"type": "string"},
                    "retry": {"type": "integer"},
                },
            }
        }
    },
}
BEARER = "apiKey"
SESSION = "session"
STREAM_TOKEN = "streamToken"


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route decorator: the errors its service raises."""
    return {code: {"model": ErrorOut, "description": ERROR_DESCRIPTIONS[code]} for code in codes}


def _calls(dependant: Dependant) -> Iterator[object]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _calls(dependency)


def route_errors(route: RouteContext, method: str, settings: Settings) -> set[int]:
    """The errors the route can answer besides those its decorator declares."""
    codes = {400}  # a request the HTTP server cannot read; in keyless mode, a Host naming no local server
    for call in _calls(route.dependant):
        codes.update(DEPENDENCY_ERRORS.get(call, ()))  # type: ignore[call-overload]
    scope = {"type": "http", "path": route.path_format, "method": method}
    if needs_key(scope):
        codes.update((401, 403))  # not signed in; a role too low, or no CSRF token
        if settings.auth_failures_per_minute:
            codes.add(429)
    elif not settings.api_key_list and method in STATE_CHANGING:
        codes.add(403)  # a cross-origin request in keyless mode
    if settings.rate_limit_per_minute and route.path_format not in EXEMPT_PATHS:
        codes.add(429)
    if method in STATE_CHANGING:
        codes.update((413, 415))
    return codes


def _error_response(code: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": ERROR_REF}},
    }
    if code in (429, 503):
        response["headers"] = RETRY_AFTER
    return response


def document(app: FastAPI, settings: Settings) -> None:
    """Build the document on first use (as FastAPI does) with every operation's errors."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = FastAPI.openapi(app)
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorOut"] = ErrorOut.model_json_schema()
        schema["components"]["securitySchemes"] = {
            BEARER: {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal API token (POST /auth/tokens) or one of the server's API_KEYS",
            },
            SESSION: {
                "type": "apiKey",
                "in": "cookie",
                "name": SESSION_COOKIE,
                "description": "Signed in through POST /auth/login; changes also send X-CSRF-Token",
            },
            STREAM_TOKEN: {
                "type": "apiKey",
                "in": "query",
                "name": "access_token",
                "description": "Event streams only: a token from POST /auth/stream-token",
            },
        }
        for route in flat_routes(app.routes):
            if isinstance(route.original_route, APIRoute) and route.include_in_schema:
                for method in route.methods or ():
                    operation = schema["paths"][route.path_format][method.lower()]
                    _complete(operation, route, method, settings)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _complete(operation: dict[str, Any], route: RouteContext, method: str, settings: Settings) -> None:
    responses = operation["responses"]
    for code in sorted(route_errors(route, method, settings)):
        responses.setdefault(str(code), _error_response(code))
    for code, response in responses.items():
        if code.isdigit() and int(code) in ERROR_DESCRIPTIONS and "content" not in response:
            response.update({k: v for k, v in _error_response(int(code)).items() if k != "description"})
    responses["400"]["content"].setdefault("text/plain", {"schema": {"type": "string"}})
    scope = {"type": "http", "path": route.path_format, "method": method}
    if needs_key(scope):
        operation["security"] = [{BEARER: []}, {SESSION: []}]
        if route.name in STREAM_ROUTES:
            operation["security"].append({STREAM_TOKEN: []})
    else:
        operation["security"] = []
