from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from testgen.api.deps import JobLinksDep, JobQueueDep, JobSlotDep, PrincipalDep, ProjectDep, SessionDep
from testgen.api.schemas.imports import JiraImportRequest
from testgen.api.schemas.jobs import QueuedJob
from testgen.api.services import imports

router = APIRouter(prefix="/projects", tags=["imports"])


@router.post(
    "/{project_id}/imports/jira",
    status_code=202,
    response_model=QueuedJob,
    responses={
        200: {"model": QueuedJob, "description": "An import of this project is already queued or running"},
        503: {"description": "Jira is not configured on this server (JIRA_BASE_URL and credentials)"},
    },
)
async def import_from_jira(
    data: JiraImportRequest,
    project: ProjectDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Queue a job that reads the issues `jql` finds and writes them as stories of the project; follow it
    with the generation status and event endpoints, cancel it the same way."""
    queued = await imports.enqueue_jira_import(
        session, queue, project, data.jql, slot, created_by=principal.user_id
    )
    answer = links.job(queued.job, queued.warning)
    return JSONResponse(answer.model_dump(mode="json"), status_code=202 if queued.created else 200)
