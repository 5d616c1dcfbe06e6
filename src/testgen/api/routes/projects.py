from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from testgen.api.deps import SessionDep
from testgen.api.services import stories
from testgen.data.schemas import ProjectCreate, ProjectOut

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=201, response_model=ProjectOut)
async def create_project(data: ProjectCreate, session: SessionDep) -> object:
    return await stories.create_project(session, data)


@router.get("", response_model=list[ProjectOut])
async def list_projects(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> object:
    return await stories.list_projects(session, limit, offset)
