from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from testgen.api.deps import (
    HubDep,
    JobDep,
    JobReadDep,
    JobSlotDep,
    PrincipalDep,
    RedisDep,
    SessionDep,
    SettingsDep,
    StoreDep,
    StoryDep,
    StreamOpenDep,
    jobs_for_stream,
)
from testgen.api.schemas.jobs import BulkQueued, BulkQueueRequest, GenerateOptions, JobStatusOut, QueuedJob
from testgen.api.services import bulk_enqueue, jobs
from testgen.core.presence import no_worker_warning
from testgen.data.job_states import JobStatus
from testgen.data.models import GenerationJob
from testgen.streaming.job_streams import open_stream
from testgen.streaming.sse_response import EventStreamResponse

router = APIRouter(prefix="/generate-test-cases", tags=["generation"])


async def queued_job(request: Request, job: GenerationJob, redis: Redis) -> QueuedJob:
    """The 202 answer for a queued job, with the URLs to follow it (and a warning if no worker runs)."""
    warning = await no_worker_warning(redis) if job.status == JobStatus.queued else None
    return job_links(request, job, warning)


def job_links(request: Request, job: GenerationJob, warning: str | None = None) -> QueuedJob:
    return JobLinks(request)(job, warning)


_MARK = "0task0id0"
Around = tuple[str, str]


class JobLinks:
    """Answers for queued jobs, with the URLs to follow them. Each route's path is resolved once per
    application and root path, and kept in the application's state: resolving walks every router
    (bench_scale's profile put it at 40% of a 1,000-story bulk enqueue, and 70 us of every single
    one). Task ids are UUIDs: nothing to quote."""

    def __init__(self, request: Request) -> None:
        state, root_path = request.app.state, request.scope.get("root_path", "")
        known: dict[str, tuple[Around, Around]] | None = getattr(state, "job_link_paths", None)
        if known is None:
            known = state.job_link_paths = {}
        if root_path not in known:
            known[root_path] = (self._around(request, "job_status"), self._around(request, "job_events"))
        self.status, self.events = known[root_path]

    @staticmethod
    def _around(request: Request, name: str) -> Around:
        before, _, after = str(request.url_for(name, task_id=_MARK).path).partition(_MARK)
        return before, after

    def __call__(self, job: GenerationJob, warning: str | None = None) -> QueuedJob:
        return QueuedJob(
            warning=warning,
            task_id=job.id,
            story_id=job.story_id,
            project_id=job.project_id,
            status=job.status,
            status_url=job.id.join(self.status),
            events_url=job.id.join(self.events),
        )


@router.post(
    "/{story_id}/queue",
    status_code=202,
    response_model=QueuedJob,
    responses={200: {"model": QueuedJob, "description": "A job for this story is already queued or running"}},
)
async def queue_generation(
    request: Request,
    story: StoryDep,
    session: SessionDep,
    redis: RedisDep,
    store: StoreDep,
    settings: SettingsDep,
    slot: JobSlotDep,
    options: Annotated[GenerateOptions | None, Body()] = None,
) -> JSONResponse:
    opts = (options or GenerateOptions()).model_dump()
    queued = await jobs.enqueue(session, redis, store, settings, story, opts, slot.take)
    await slot.confirm([queued.job.id] if queued.created else [])
    answer = job_links(request, queued.job, queued.warning)
    return JSONResponse(answer.model_dump(mode="json"), status_code=202 if queued.created else 200)


@router.post(
    "/queue",
    status_code=202,
    response_model=BulkQueued,
    responses={200: {"model": BulkQueued, "description": "Every story already had a job queued or running"}},
)
async def queue_stories(
    request: Request,
    body: BulkQueueRequest,
    session: SessionDep,
    redis: RedisDep,
    store: StoreDep,
    settings: SettingsDep,
    slot: JobSlotDep,
) -> JSONResponse:
    """Queue many stories in one request: `story_ids`, or every story of `project_id` (with
    `only_without_tests`, those with no saved test case). A story whose job is queued or running
    gets that job back. `events_url` follows every job of the batch on one event stream."""
    batch = await bulk_enqueue.enqueue_stories(session, redis, store, settings, body, slot.take)
    await slot.confirm(sorted(batch.created))
    queued = any(job.status == JobStatus.queued for job in batch.jobs)
    links = JobLinks(request)
    answer = BulkQueued(
        batch_id=batch.batch_id,
        created=len(batch.created),
        reused=len(batch.jobs) - len(batch.created),
        events_url=f"{request.url_for('multiplexed_events').path}?batch={batch.batch_id}",
        jobs=[links(job) for job in batch.jobs],
        warning=await no_worker_warning(redis) if queued else None,
    )
    return JSONResponse(answer.model_dump(mode="json"), status_code=202 if batch.created else 200)


@router.get("/status/{task_id}", response_model=JobStatusOut, name="job_status")
async def job_status(job: JobReadDep, store: StoreDep) -> object:
    return await jobs.status(store, job)


async def _open(
    hub: HubDep,
    store: StoreDep,
    settings: SettingsDep,
    followed: list[GenerationJob],
    cursors: list[str | None],
    *,
    multiplexed: bool,
    owner: str,
) -> Response:
    stream = await open_stream(
        hub,
        store,
        followed,
        cursors,
        multiplexed=multiplexed,
        ping_interval_s=settings.sse_ping_interval_s,
        owner=owner,
    )
    if stream is None:  # 204 tells EventSource to stop reconnecting: every job has ended
        return Response(status_code=204)
    return EventStreamResponse(stream)


@router.get(
    "/status/{task_id}/events",
    name="job_events",
    response_class=EventStreamResponse,
    status_code=200,
    responses={200: {"content": {"text/event-stream": {}}}, 204: {"description": "The job ended already"}},
)
async def job_events(
    _slot: StreamOpenDep,
    job: JobReadDep,
    principal: PrincipalDep,
    hub: HubDep,
    store: StoreDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(max_length=8192)] = None,
    cursor: Annotated[str | None, Query(alias="last_event_id", max_length=8192)] = None,
) -> Response:
    cursors = [cursor, last_event_id]  # both read: a position in the header is the later one
    return await _open(hub, store, settings, [job], cursors, multiplexed=False, owner=principal)


@router.get(
    "/events",
    name="multiplexed_events",
    response_class=EventStreamResponse,
    status_code=200,
    responses={200: {"content": {"text/event-stream": {}}}, 204: {"description": "Every job ended already"}},
)
async def multiplexed_events(
    followed: Annotated[list[GenerationJob], Depends(jobs_for_stream)],
    principal: PrincipalDep,
    hub: HubDep,
    store: StoreDep,
    settings: SettingsDep,
    last_event_id: Annotated[str | None, Header(max_length=65536)] = None,
    cursor: Annotated[str | None, Query(alias="last_event_id", max_length=65536)] = None,
) -> Response:
    cursors = [cursor, last_event_id]
    return await _open(hub, store, settings, followed, cursors, multiplexed=True, owner=principal)


@router.post("/{task_id}/cancel", status_code=202, response_model=JobStatusOut)
async def cancel_generation(job: JobDep, session: SessionDep, redis: RedisDep, store: StoreDep) -> object:
    return await jobs.cancel(session, redis, store, job)
