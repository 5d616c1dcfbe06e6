"""The one place where domain exceptions become HTTP responses."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from testgen.api.http_methods import allow_header, allowed_methods
from testgen.core import messages
from testgen.core.errors import (
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    ContentTooLargeError,
    DomainError,
    ForbiddenError,
    InvalidRequestError,
    NotConfiguredError,
    NotFoundError,
    RateLimitedError,
    ServiceUnavailableError,
    UnsupportedMediaError,
)

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (NotFoundError, 404),
    (AuthenticationError, 401),
    (ForbiddenError, 403),
    (NotConfiguredError, 404),
    (RateLimitedError, 429),
    (ConflictError, 409),
    (InvalidRequestError, 400),
    (UnsupportedMediaError, 415),
    (ContentTooLargeError, 413),
    (ServiceUnavailableError, 503),
    (ConfigurationError, 503),
]


def _status_for(exc: DomainError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 400


MAX_ECHO_CHARS = 200  # an error body never repeats more of a client's input than this


def _short(value: Any) -> Any:
    """The input as echoed in an error: long text cut, big containers summarised."""
    if isinstance(value, str | bytes) and len(value) > MAX_ECHO_CHARS:
        text = value if isinstance(value, str) else value.decode("utf-8", "replace")
        return f"{text[:MAX_ECHO_CHARS]}... ({len(value)} characters, cut)"
    if isinstance(value, dict | list | tuple):
        encoded = str(value)
        if len(encoded) > MAX_ECHO_CHARS:
            return f"({type(value).__name__} of {len(value)} items, not repeated)"
    return value


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    errors = []
    for raw in exc.errors():
        error = dict(raw)
        for name in ("input", "msg"):
            if name in error:
                error[name] = _short(error[name])
        if "loc" in error:
            error["loc"] = [_short(part) for part in error["loc"]]
        if isinstance(error.get("ctx"), dict):
            error["ctx"] = {k: _short(v) for k, v in error["ctx"].items()}
        errors.append(error)
    return errors


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, RateLimitedError) else None
        return JSONResponse({"detail": exc.message}, status_code=_status_for(exc), headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:  # Starlette's Allow names one route's methods; the path may have more
            methods = allowed_methods(request.app.router.routes, request.scope)
            exc.headers = {**(exc.headers or {}), "Allow": allow_header(methods)}
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": jsonable_encoder(validation_errors(exc))}, status_code=422)

    @app.exception_handler(RedisConnectionError)
    @app.exception_handler(RedisTimeoutError)
    async def _redis(_: Request, exc: Exception) -> JSONResponse:
        logger.warning("Redis unavailable: %s", type(exc).__name__)
        return JSONResponse(
            {"detail": messages.REDIS_DOWN},
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    @app.exception_handler(ConnectionRefusedError)  # asyncpg when PostgreSQL is down
    async def _database(_: Request, exc: Exception) -> JSONResponse:
        logger.warning("Database error: %s", exc.__class__.__name__, exc_info=exc)
        return JSONResponse(
            {"detail": messages.DATABASE_DOWN},
            status_code=503,
            headers={"Retry-After": "5"},
        )
