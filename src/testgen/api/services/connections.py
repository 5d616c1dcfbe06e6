"""A project's connections: stored with their secrets sealed (core/secret_box.py), answered without
them, and tried against their tool with the kind's connector (testmgmt/factory.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from testgen.api.schemas.connections import (
    ADDRESS_FIELDS,
    SETTINGS_MODELS,
    ConnectionOut,
    ConnectionUpdate,
    SecretValue,
    TestResult,
    settings_fields,
    stored_settings,
)
from testgen.core.errors import ConflictError, InvalidRequestError
from testgen.core.redaction import Scrubber
from testgen.core.secret_box import SecretBox, load_secret_box
from testgen.data.models import Connection, Project
from testgen.domain.connections import SECRET_FIELDS, ConnectionKind
from testgen.testmgmt import factory
from testgen.testmgmt.base import Connector, ToolAuthError, ToolError, ToolRefused, ToolUnavailable

logger = logging.getLogger(__name__)

CONNECTION = "Connection"
CHECK_TIMEOUT_S = 20.0  # each request of a test: an answer in the page's time, not a push's
_SECRET: TypeAdapter[Any] = TypeAdapter(SecretValue)
ERROR_TYPES: tuple[tuple[type[ToolError], str], ...] = (
    (ToolAuthError, "auth"),
    (ToolRefused, "refused"),
    (ToolUnavailable, "unavailable"),
)


async def secret_box(state: State) -> SecretBox:
    """The server's box (api/app.py), made on first need when its key was not there at start-up (a
    keyless server's DATA_DIR/secrets.key); ConfigurationError (503) when it cannot be."""
    box: SecretBox | None = state.secret_box
    if box is None:
        box = await asyncio.to_thread(load_secret_box, state.settings)
        state.secret_box = box
    return box


def connection_out(row: Connection) -> ConnectionOut:
    kind = ConnectionKind(row.kind)
    return ConnectionOut.model_validate(
        {
            "id": row.id,
            "project_id": row.project_id,
            "kind": kind,
            "name": row.name,
            "settings": {**row.settings, "kind": kind.value},
            "secrets_set": list(SECRET_FIELDS[kind]),  # all are required, none can be removed
            "created_at": row.created_at,
            "updated_at": row.updated_at,
        }
    )


async def get_connection(session: AsyncSession, project_id: int, connection_id: int) -> Connection | None:
    """The connection `connection_id` when it belongs to the project (else None, as if missing)."""
    found = await session.get(Connection, connection_id)
    return found if found is not None and found.project_id == project_id else None


async def list_connections(session: AsyncSession, project: Project) -> list[ConnectionOut]:
    rows = await session.scalars(
        select(Connection).where(Connection.project_id == project.id).order_by(Connection.name)
    )
    return [connection_out(row) for row in rows]


async def _name_free(session: AsyncSession, project_id: int, name: str) -> None:
    taken = await session.scalar(
        select(Connection.id).where(Connection.project_id == project_id, Connection.name == name)
    )
    if taken is not None:
        raise _name_taken(name)


def _name_taken(name: str) -> ConflictError:
    return ConflictError(
        f"The project has a connection named {name!r} already: choose another name, or change that "
        "connection with PATCH"
    )


async def _commit(session: AsyncSession, name: str) -> None:
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise _name_taken(name) from None


async def create_connection(
    session: AsyncSession, box: SecretBox, project: Project, data: BaseModel
) -> ConnectionOut:
    """`data`: one of the create models of schemas/connections.py."""
    kind = ConnectionKind(data.kind)  # type: ignore[attr-defined]
    name: str = data.name  # type: ignore[attr-defined]
    model = SETTINGS_MODELS[kind]
    settings = model.model_validate(data.model_dump(include=set(model.model_fields)))
    secrets = {field: getattr(data, field).get_secret_value() for field in SECRET_FIELDS[kind]}
    await _name_free(session, project.id, name)
    row = Connection(
        project_id=project.id,
        kind=kind.value,
        name=name,
        settings=stored_settings(settings),
        sealed_secrets=box.seal(secrets),
    )
    session.add(row)
    await _commit(session, name)
    logger.info("Connection %d (%s) added to project %d", row.id, kind.value, project.id)
    return connection_out(row)


def _errors(exc: ValidationError, prefix: Iterable[str | int] = ()) -> list[dict[str, Any]]:
    """A validation's errors as a request body's (no input echoed: it may be a secret)."""
    return [
        {**error, "loc": ("body", *prefix, *error["loc"])}
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def _read_update(connection: Connection, data: ConnectionUpdate) -> tuple[dict[str, Any], dict[str, str]]:
    """The connection's settings with the PATCH merged in (checked by the kind's model) and the new
    secrets; RequestValidationError (422) naming each field refused."""
    kind = ConnectionKind(connection.kind)
    errors: list[dict[str, Any]] = []
    if data.kind is not None and data.kind is not kind:
        errors.append(
            {
                "type": "kind_unchanged",
                "loc": ("body", "kind"),
                "msg": f"The kind of a connection cannot change (it is {kind.value}): create another "
                "connection of the new kind",
            }
        )
    given = dict(data.model_extra or {})
    fields, secret_names = settings_fields(kind), SECRET_FIELDS[kind]
    for key in given:
        if key not in fields and key not in secret_names:
            errors.append(
                {
                    "type": "extra_forbidden",
                    "loc": ("body", key),
                    "msg": f"Not a field of a {kind} connection",
                }
            )
    secrets: dict[str, str] = {}
    for key in secret_names:
        if key in given:
            try:
                secrets[key] = _SECRET.validate_python(given[key]).get_secret_value()
            except ValidationError as exc:
                errors += _errors(exc, (key,))
    merged = {**connection.settings, **{k: v for k, v in given.items() if k in fields}, "kind": kind.value}
    settings: dict[str, Any] = {}
    try:
        settings = stored_settings(SETTINGS_MODELS[kind].model_validate(merged))
    except ValidationError as exc:
        errors += _errors(exc)
    if errors:
        raise RequestValidationError(errors)
    return settings, secrets


async def update_connection(
    session: AsyncSession, state: State, connection: Connection, data: ConnectionUpdate
) -> ConnectionOut:
    settings, secrets = _read_update(connection, data)
    kind = ConnectionKind(connection.kind)
    moved = sorted(f for f in ADDRESS_FIELDS if settings.get(f) != connection.settings.get(f))
    missing = [name for name in SECRET_FIELDS[kind] if name not in secrets]
    if moved and missing:
        raise InvalidRequestError(
            f"Changing {', '.join(moved)} sends the credentials to another address: give "
            f"{', '.join(missing)} again in the same request"
        )
    if data.name is not None and data.name != connection.name:
        await _name_free(session, connection.project_id, data.name)
        connection.name = data.name
    if secrets:
        box = await secret_box(state)
        kept = box.open(connection.sealed_secrets) if missing else {}
        connection.sealed_secrets = box.seal({**kept, **secrets})
    connection.settings = settings
    await _commit(session, connection.name)
    logger.info(
        "Connection %d (%s) of project %d changed%s",
        connection.id,
        kind.value,
        connection.project_id,
        f", new {', '.join(sorted(secrets))}" if secrets else "",
    )
    return connection_out(connection)


async def delete_connection(session: AsyncSession, connection: Connection) -> None:
    await session.delete(connection)
    await session.commit()
    logger.info("Connection %d of project %d deleted", connection.id, connection.project_id)


def tool_http_options(state: State) -> factory.HttpOptions:
    """How a test's connector talks to its tool; tests may set `state.tool_http_options` (a sleep
    that does not wait between retries, say)."""
    options: factory.HttpOptions | None = getattr(state, "tool_http_options", None)
    return options or factory.HttpOptions(timeout_s=CHECK_TIMEOUT_S)


async def test_connection(state: State, connection: Connection) -> TestResult:
    """Try the connection's credentials: what the tool answered, or why not (never a secret)."""
    kind = ConnectionKind(connection.kind)
    secrets = (await secret_box(state)).open(connection.sealed_secrets)
    try:
        # Off the event loop: the kind's module loads on first use, and a client reads its CA bundle.
        connector: Connector = await asyncio.to_thread(
            factory.connect,
            kind,
            dict(connection.settings),
            secrets,
            connection.name,
            tool_http_options(state),
        )
    except ModuleNotFoundError as exc:
        if exc.name != factory.MODULES[kind]:
            raise
        return TestResult(
            ok=False,
            detail=f"Trying a {kind.value} connection is not available on this server yet",
            error="not_available",
        )
    scrub = Scrubber(*secrets.values())
    try:
        found = await connector.check()
    except ToolError as error:
        error_type = next((name for cls, name in ERROR_TYPES if isinstance(error, cls)), "refused")
        logger.info("Connection %d (%s) tried: %s", connection.id, kind.value, error_type)
        return TestResult(ok=False, detail=scrub(error.message), error=error_type)
    finally:
        await connector.aclose()
    logger.info("Connection %d (%s) tried: ok", connection.id, kind.value)
    return TestResult(ok=True, detail=scrub(found))
