from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from testgen.api import access
from testgen.api.deps import JobLinksDep, JobQueueDep, JobSlotDep, PrincipalDep, ProjectDep, SessionDep
from testgen.api.openapi_doc import errors
from testgen.api.schemas.jobs import QueuedJob
from testgen.api.schemas.push import PushRequest
from testgen.api.services import push

router = APIRouter(prefix="/projects", tags=["imports"])


@router.post(
    "/{project_id}/push",
    status_code=202,
    response_model=QueuedJob,
    responses={
        200: {"model": QueuedJob, "description": "A push to this connection is already queued or running"},
        **errors(404, 409),
    },
)
async def push_to_tool(
    request: Request,
    data: PushRequest,
    project: ProjectDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Queue a job that writes the project's saved test cases (of `story_ids`, else of every story)
    into the tool of connection `connection_id`: new ones are created, edited ones updated in place,
    unchanged ones left alone; with the project's review gate on, only approved test cases go. Follow
    it with the generation status and event endpoints ("Pushed N/M test cases"), cancel it the same
    way; its result lists each test case created, updated, unchanged, in conflict, removed or failed,
    with its link in the tool."""
    queued = await push.enqueue_push(session, queue, project, data, slot, created_by=principal.user_id)
    access.audit_object(request, "connection", data.connection_id)
    answer = links.job(queued.job, queued.warning)
    return JSONResponse(answer.model_dump(mode="json"), status_code=202 if queued.created else 200)
