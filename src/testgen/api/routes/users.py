from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from testgen.api import access
from testgen.api.deps import MAX_ROW_ID, PrincipalDep, SessionDep, SessionsDep
from testgen.api.openapi_doc import errors
from testgen.api.schemas.accounts import UserCreate, UserOut, UserUpdate
from testgen.api.services import accounts

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=list[UserOut])
async def list_users(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
) -> object:
    """Every user of this server (server admins)."""
    return await accounts.list_users(session, limit, offset)


@router.post("", status_code=201, response_model=UserOut, responses=errors(409))
async def create_user(request: Request, data: UserCreate, session: SessionDep) -> object:
    """A user who signs in with this email and password (or through single sign-on, without one)."""
    user = await accounts.create_user(session, data)
    request.app.state.users_gate.mark()
    access.audit_object(request, "user", user.id)
    return user


@router.patch("/{user_id}", response_model=UserOut, responses=errors(404, 409))
async def update_user(
    data: UserUpdate,
    session: SessionDep,
    sessions: SessionsDep,
    principal: PrincipalDep,
    user_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
) -> object:
    """Rename, reset the password, make or unmake a server admin, deactivate or reactivate. A
    deactivated user's sessions end and their tokens are refused at once."""
    return await accounts.update_user(session, sessions, principal, user_id, data)
