from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

from testgen.api import access
from testgen.api.deps import ConnectionDep, ProjectDep, SessionDep
from testgen.api.openapi_doc import errors
from testgen.api.schemas.connections import ConnectionCreate, ConnectionOut, ConnectionUpdate, TestResult
from testgen.api.services import connections


class NoEchoRoute(APIRoute):
    """A route whose validation errors never repeat what was sent: a field refused may be a secret
    (a token sent to a kind that takes none, or one past the length limit)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_without_echo(request: Request) -> Response:
            try:
                return await handle(request)
            except RequestValidationError as exc:
                raise RequestValidationError(
                    [{k: v for k, v in e.items() if k not in ("input", "ctx", "url")} for e in exc.errors()]
                ) from None

        return handle_without_echo


router = APIRouter(prefix="/projects/{project_id}/connections", tags=["projects"], route_class=NoEchoRoute)


@router.get("", response_model=list[ConnectionOut])
async def list_connections(project: ProjectDep, session: SessionDep) -> object:
    """The project's connections to test-management tools and Jira, without their secrets."""
    return await connections.list_connections(session, project)


@router.post("", status_code=201, response_model=ConnectionOut, responses=errors(409, 503))
async def create_connection(
    request: Request, project: ProjectDep, data: ConnectionCreate, session: SessionDep
) -> object:
    """Connect the project to a tool: `kind` (testrail, xray-cloud, xray-dc, zephyr-scale,
    azure-devops or jira), a `name`, the kind's settings and its secrets, which are stored encrypted
    and never answered."""
    box = await connections.secret_box(request.app.state)
    created = await connections.create_connection(session, box, project, data)
    access.audit_object(request, "connection", created.id)
    return created


@router.patch("/{connection_id}", response_model=ConnectionOut, responses=errors(400, 409, 503))
async def update_connection(
    request: Request, connection: ConnectionDep, data: ConnectionUpdate, session: SessionDep
) -> object:
    """Change a connection's name, settings or secrets (its kind stays)."""
    return await connections.update_connection(session, request.app.state, connection, data)


@router.delete("/{connection_id}", status_code=204)
async def delete_connection(connection: ConnectionDep, session: SessionDep) -> Response:
    """Remove the connection, its secrets and its record of pushed test cases (the tool keeps them)."""
    await connections.delete_connection(session, connection)
    return Response(status_code=204)


@router.post("/{connection_id}/test", response_model=TestResult)
async def test_connection(request: Request, connection: ConnectionDep) -> object:
    """Try the connection's credentials against its tool: ok and what was found (e.g. the TestRail
    project's name), or not ok and why (refused credentials, an unreachable tool)."""
    return await connections.test_connection(request.app.state, connection)
