from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from testgen.api import access
from testgen.api.deps import MAX_ROW_ID, ProjectDep, SessionDep
from testgen.api.openapi_doc import errors
from testgen.api.schemas.accounts import MemberAdd, MemberOut, MemberUpdate
from testgen.api.services import accounts

router = APIRouter(prefix="/projects/{project_id}/members", tags=["projects"])
UserId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.get("", response_model=list[MemberOut])
async def list_members(project: ProjectDep, session: SessionDep) -> object:
    """The project's members and their roles."""
    return await accounts.list_members(session, project)


@router.post("", status_code=201, response_model=MemberOut, responses=errors(409))
async def add_member(request: Request, project: ProjectDep, data: MemberAdd, session: SessionDep) -> object:
    """Give a user (by email or id) a role in the project: viewer, editor, reviewer or admin."""
    added = await accounts.add_member(session, project, data)
    access.audit_object(request, "user", added.user_id)
    return added


@router.patch("/{user_id}", response_model=MemberOut, responses=errors(409))
async def update_member(
    project: ProjectDep, data: MemberUpdate, session: SessionDep, user_id: UserId
) -> object:
    """Change a member's role (a project keeps at least one admin)."""
    return await accounts.update_member(session, project, user_id, data.role)


@router.delete("/{user_id}", status_code=204, responses=errors(409))
async def remove_member(project: ProjectDep, session: SessionDep, user_id: UserId) -> Response:
    await accounts.remove_member(session, project, user_id)
    return Response(status_code=204)
