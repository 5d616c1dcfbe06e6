"""The one place where domain exceptions become HTTP responses."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from testgen.core import messages
from testgen.core.errors import (
    ConfigurationError,
    ConflictError,
    DomainError,
    InvalidRequestError,
    NotFoundError,
    ServiceUnavailableError,
    UnprocessableError,
)

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: list[tuple[type[DomainError], int]] = [
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidRequestError, 400),
    (UnprocessableError, 422),
    (ServiceUnavailableError, 503),
    (ConfigurationError, 503),
]


def _status_for(exc: DomainError) -> int:
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 400


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse({"detail": exc.message}, status_code=_status_for(exc))

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
