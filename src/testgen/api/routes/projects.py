from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from testgen.api import access
from testgen.api.deps import ProjectDep, SessionDep, SettingsDep
from testgen.api.openapi_doc import errors
from testgen.api.schemas.projects import LLMProviderOut, ProjectCreate, ProjectOut, ProjectUpdate, UsageOut
from testgen.api.services import stories

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=201, response_model=ProjectOut, responses=errors(409))
async def create_project(request: Request, data: ProjectCreate, session: SessionDep) -> object:
    project = await stories.create_project(session, data)
    access.audit_object(request, "project", project.id)
    return project


@router.get("", response_model=list[ProjectOut])
async def list_projects(
    request: Request,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> object:
    """The projects the caller is a member of (server admins: all)."""
    return await stories.list_projects(session, limit, offset, access.project_ids_visible(request))


@router.get("/providers", response_model=list[LLMProviderOut])
async def llm_providers(settings: SettingsDep) -> object:
    """The LLM providers a project may choose (those configured on this server) and their default models."""
    return stories.llm_providers(settings)


@router.get("/{project_id}", response_model=ProjectOut)
async def get_project(project: ProjectDep) -> object:
    return project


@router.patch("/{project_id}", response_model=ProjectOut, responses=errors(409))
async def update_project(
    project: ProjectDep, data: ProjectUpdate, session: SessionDep, settings: SettingsDep
) -> object:
    return await stories.update_project(session, settings, project, data)


@router.get("/{project_id}/usage", response_model=UsageOut)
async def project_usage(
    project: ProjectDep, session: SessionDep, days: Annotated[int, Query(ge=1, le=366)] = 30
) -> object:
    """Jobs, model calls and tokens per day and per model over the last `days` days (UTC)."""
    return await stories.usage(session, project, days)
