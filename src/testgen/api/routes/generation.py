from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from testgen.api import access
from testgen.api.deps import (
    HubDep,
    JobDep,
    JobLinksDep,
    JobQueueDep,
    JobReadDep,
    JobSlotDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    StoryDep,
    StreamOpenDep,
    jobs_for_stream,
)
from testgen.api.openapi_doc import EVENT_STREAM, errors
from testgen.api.principal import principal_of
from testgen.api.schemas.jobs import BulkQueued, BulkQueueRequest, GenerateOptions, JobStatusOut, QueuedJob
from testgen.api.services import bulk_enqueue, jobs, review_gate, stories
from testgen.core import messages
from testgen.data.models import GenerationJob
from testgen.streaming.event_hub import StreamSlot
from testgen.streaming.job_streams import open_stream
from testgen.streaming.sse_response import EventStreamResponse

router = APIRouter(prefix="/generate-test-cases", tags=["generation"])
# An event's id as the stream sent it (printable ASCII); anything else in a cursor is refused.
CURSOR_PATTERN = r"^[\x20-\x7e]*$"


@router.post(
    "/{story_id}/queue",
    status_code=202,
    response_model=QueuedJob,
    responses={
        **errors(409),
        200: {"model": QueuedJob, "description": "A job for this story is already queued or running"},
    },
)
async def queue_generation(
    story: StoryDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
    options: Annotated[GenerateOptions | None, Body()] = None,
) -> JSONResponse:
    asked = options or GenerateOptions()
    queued = await jobs.enqueue(session, queue, story, asked, slot, created_by=principal.user_id)
    answer = links.job(queued.job, queued.warning)
    return JSONResponse(answer.model_dump(mode="json"), status_code=202 if queued.created else 200)


@router.post(
    "/queue",
    status_code=202,
    response_model=BulkQueued,
    responses={
        **errors(404, 409),
        200: {"model": BulkQueued, "description": "Every story already had a job queued or running"},
    },
)
async def queue_stories(
    request: Request,
    body: BulkQueueRequest,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
) -> JSONResponse:
    """Queue many stories in one request: `story_ids`, or every story of `project_id` (with
    `only_without_tests`, those with no saved test case). A story whose job is queued or running
    gets that job back. `events_url` follows every job of the batch on one event stream."""
    if body.project_id is not None:
        access.check_project(request, body.project_id, messages.PROJECT, body.project_id)
    elif body.story_ids is not None and access.needs_project_check(request):
        projects = await stories.story_projects(session, body.story_ids)
        access.check_each(request, {i: projects.get(i) for i in body.story_ids}, messages.STORY)
    user_id = principal_of(request).user_id
    batch = await bulk_enqueue.enqueue_stories(session, queue, body, slot, created_by=user_id)
    answer = BulkQueued(
        batch_id=batch.batch_id,
        created=len(batch.created),
        reused=len(batch.jobs) - len(batch.created),
        events_url=links.batch_events(batch.batch_id),
        jobs=[links.job(job) for job in batch.jobs],
        warning=batch.warning,
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=202 if batch.created else 200)


@router.get("/status/{task_id}", response_model=JobStatusOut, name="job_status")
async def job_status(request: Request, job: JobReadDep, store: StoreDep) -> object:
    """A draft in review carries its steps (read only then: one query more)."""
    snapshot = await jobs.status(store, job)
    return await review_gate.with_review(request.app.state.read_sessionmaker, job, snapshot)


async def _open(
    hub: HubDep,
    store: StoreDep,
    settings: SettingsDep,
    followed: list[GenerationJob],
    cursors: list[str | None],
    *,
    multiplexed: bool,
    slot: StreamSlot,
) -> Response:
    stream = await open_stream(
        hub,
        store,
        followed,
        cursors,
        multiplexed=multiplexed,
        ping_interval_s=settings.sse_ping_interval_s,
        slot=slot,
    )
    if stream is None:  # 204 tells EventSource to stop reconnecting: every job has ended
        return Response(status_code=204)
    return EventStreamResponse(stream)


@router.get(
    "/status/{task_id}/events",
    name="job_events",
    response_class=EventStreamResponse,
    status_code=200,
    responses={200: EVENT_STREAM, 204: {"description": "The job ended already"}},
)
async def job_events(
    slot: StreamOpenDep,
    job: JobReadDep,
    hub: HubDep,
    store: StoreDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(max_length=8192, pattern=CURSOR_PATTERN)] = None,
    cursor: Annotated[
        str | None, Query(alias="last_event_id", max_length=8192, pattern=CURSOR_PATTERN)
    ] = None,
) -> Response:
    cursors = [cursor, last_event_id]  # both read: a position in the header is the later one
    return await _open(hub, store, settings, [job], cursors, multiplexed=False, slot=slot)


@router.get(
    "/events",
    name="multiplexed_events",
    response_class=EventStreamResponse,
    status_code=200,
    responses={200: EVENT_STREAM, 204: {"description": "Every job ended already"}},
)
async def multiplexed_events(
    slot: StreamOpenDep,
    followed: Annotated[list[GenerationJob], Depends(jobs_for_stream)],
    hub: HubDep,
    store: StoreDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(max_length=65536, pattern=CURSOR_PATTERN)] = None,
    cursor: Annotated[
        str | None, Query(alias="last_event_id", max_length=65536, pattern=CURSOR_PATTERN)
    ] = None,
) -> Response:
    cursors = [cursor, last_event_id]
    return await _open(hub, store, settings, followed, cursors, multiplexed=True, slot=slot)


@router.post("/{task_id}/cancel", status_code=202, response_model=JobStatusOut, responses=errors(409))
async def cancel_generation(job: JobDep, session: SessionDep, queue: JobQueueDep) -> object:
    return await jobs.cancel(session, queue, job)
