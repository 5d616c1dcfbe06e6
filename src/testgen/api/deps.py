"""FastAPI dependencies: the resources built in the lifespan (typed), sessions, and lookups that 404."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

from arq.connections import ArqRedis
from fastapi import Depends, Path, Query, Request
from pydantic import StringConstraints
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from testgen.api import access
from testgen.api.job_links import JobLinkPaths, JobLinks
from testgen.api.principal import Principal, principal_of
from testgen.api.rate_limits import JobSlot, stream_limit_error
from testgen.api.rate_limits import principal_of as limit_key_of
from testgen.api.schemas.accounts import AuthConfigOut
from testgen.api.schemas.jobs import MAX_BULK_STORIES
from testgen.api.security import StreamTokens, approve_stream_token
from testgen.api.services import connections
from testgen.api.services.accounts import SignInLimiter
from testgen.api.services.job_queue import JobQueue
from testgen.api.sessions import SessionStore
from testgen.core import messages
from testgen.core.config import Settings
from testgen.core.database import begin_read, begin_standalone
from testgen.core.errors import NotFoundError, ServiceUnavailableError
from testgen.core.redis_keys import batch_key
from testgen.data import repository
from testgen.data.attachment_store import AttachmentStore, store_for
from testgen.data.models import Connection, GenerationJob, Project, TestCase, UserStory
from testgen.domain.text_fields import NO_NUL_PATTERN, StoryId
from testgen.streaming.event_hub import EventHub, StreamSlot
from testgen.streaming.progress_store import ProgressStore

Key = TypeVar("Key", str, int)
Row = TypeVar("Row")


# The resource getters are `async def`: FastAPI runs a plain `def` dependency in its thread pool, a
# thread hop per dependency per request for what is an attribute read.
async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_redis(request: Request) -> ArqRedis:
    redis: ArqRedis = request.app.state.redis
    return redis


async def get_store(request: Request) -> ProgressStore:
    store: ProgressStore = request.app.state.store
    return store


async def get_job_queue(request: Request) -> JobQueue:
    queue: JobQueue = request.app.state.job_queue
    return queue


async def get_job_links(request: Request) -> JobLinks:
    paths: JobLinkPaths = request.app.state.job_link_paths
    return paths.for_request(request)


async def get_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.hub
    return hub


async def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


async def get_stream_tokens(request: Request) -> StreamTokens:
    tokens: StreamTokens = request.app.state.stream_tokens
    return tokens


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """GET requests only read: their sessions take no write lock on SQLite."""
    state = request.app.state
    maker = state.read_sessionmaker if request.method in ("GET", "HEAD") else state.sessionmaker
    async with maker() as session:
        yield session


async def audit_written(request: Request) -> None:
    """The audit rows this process has pending, written: a route that reads the trail names this
    first, so its session's snapshot holds them."""
    await request.app.state.audit.flush()


# Closed once the response is built, before it is sent: an event stream holds no session.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[ArqRedis, Depends(get_redis)]
StoreDep = Annotated[ProgressStore, Depends(get_store)]
JobQueueDep = Annotated[JobQueue, Depends(get_job_queue)]
JobLinksDep = Annotated[JobLinks, Depends(get_job_links)]
HubDep = Annotated[EventHub, Depends(get_hub)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
StreamTokensDep = Annotated[StreamTokens, Depends(get_stream_tokens)]


async def get_attachment_store(request: Request) -> AttachmentStore:
    """The store of attachment content: the settings' bucket or DATA_DIR (made on first use)."""
    return store_for(request.app.state.settings)


AttachmentStoreDep = Annotated[AttachmentStore, Depends(get_attachment_store)]


MAX_ROW_ID = 2**31 - 1  # an INTEGER key; larger ids would reach the driver and fail there


ProjectOf = Callable[[AsyncSession, Row], Awaitable[int | None]]


async def _must_exist(
    request: Request,
    session: AsyncSession,
    get: Callable[[AsyncSession, Key], Awaitable[Row | None]],
    ident: Key,
    what: str,
    project_of: ProjectOf[Row],
) -> Row:
    """Look a row up in a read of its own (ended before the route writes), or 404; then the caller's
    role in its project (api/access.py: 404 for another project's row, 403 for too low a role). One
    statement for an admin's read: no transaction around it (see `begin_standalone`)."""
    await begin_standalone(session)
    found = await get(session, ident)
    if found is not None and (access.needs_project_check(request) or access.rule_of(request).audit):
        access.check_project(request, await project_of(session, found), what, ident)
    await session.commit()
    if found is None:
        raise NotFoundError(what, ident)
    return found


async def _read_existing(
    request: Request,
    get: Callable[[AsyncSession, Key], Awaitable[Row | None]],
    ident: Key,
    what: str,
    project_of: ProjectOf[Row],
) -> Row:
    """`_must_exist` in a session of its own, closed at once, for a route that only reads the row
    (and has no session of its own): a plain dependency, where the request's session is a generator
    one, whose handling in FastAPI costs about 30 us a request, a tenth of a status read."""
    async with request.app.state.read_sessionmaker() as session:
        return await _must_exist(request, session, get, ident, what, project_of)


async def _own_project(_: AsyncSession, project: Project) -> int | None:
    return project.id


async def _story_project(_: AsyncSession, story: UserStory) -> int | None:
    return story.project_id


async def existing_project(
    request: Request, session: SessionDep, project_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
) -> Project:
    return await _must_exist(
        request, session, repository.get_project, project_id, messages.PROJECT, _own_project
    )


ProjectDep = Annotated[Project, Depends(existing_project)]


async def existing_story(
    request: Request,
    session: SessionDep,
    story_id: Annotated[str, Path(max_length=200, pattern=NO_NUL_PATTERN)],
) -> UserStory:
    return await _must_exist(request, session, repository.get_story, story_id, messages.STORY, _story_project)


StoryDep = Annotated[UserStory, Depends(existing_story)]


async def story_to_read(
    request: Request, story_id: Annotated[str, Path(max_length=200, pattern=NO_NUL_PATTERN)]
) -> UserStory:
    return await _read_existing(request, repository.get_story, story_id, messages.STORY, _story_project)


# The story for a route that only reads it: detached from any session (its columns are loaded).
StoryReadDep = Annotated[UserStory, Depends(story_to_read)]


async def existing_job(
    request: Request,
    session: SessionDep,
    task_id: Annotated[str, Path(max_length=200, pattern=NO_NUL_PATTERN)],
) -> GenerationJob:
    return await _must_exist(
        request, session, repository.get_job, task_id, messages.TASK, repository.job_project
    )


JobDep = Annotated[GenerationJob, Depends(existing_job)]


async def job_to_read(
    request: Request, task_id: Annotated[str, Path(max_length=200, pattern=NO_NUL_PATTERN)]
) -> GenerationJob:
    return await _read_existing(request, repository.get_job, task_id, messages.TASK, repository.job_project)


# The job for a route that only reads it: detached from any session (its columns are loaded).
JobReadDep = Annotated[GenerationJob, Depends(job_to_read)]


MAX_STREAM_IDS = 500  # task_id values, and story_id values, one multiplexed stream may name
MAX_STREAM_BATCHES = 10  # bulk enqueue batches one multiplexed stream may follow
# Task and batch ids as the service makes them (a UUID, a hash in hex): what a stream may name.
IdText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]
STREAM_OPEN_TIMEOUT_S = 30.0


async def get_principal(request: Request) -> Principal:
    """Who is asking (api/principal.py): a user, a service key, or the local admin."""
    return principal_of(request)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_sessions(request: Request) -> SessionStore:
    sessions: SessionStore = request.app.state.sessions
    return sessions


SessionsDep = Annotated[SessionStore, Depends(get_sessions)]


async def get_sign_in_limiter(request: Request) -> SignInLimiter:
    limiter: SignInLimiter = request.app.state.sign_in_limiter
    return limiter


SignInLimiterDep = Annotated[SignInLimiter, Depends(get_sign_in_limiter)]


async def auth_config(request: Request) -> AuthConfigOut:
    """Whether sign-in is required here, and how one signs in."""
    state = request.app.state
    settings: Settings = state.settings
    users = await state.users_gate.exist(state.read_sessionmaker)
    return AuthConfigOut(
        sign_in_required=users or bool(settings.api_key_list),
        password_sign_in=users,  # a server with API_KEYS and no user yet has no one to sign in
        oidc=settings.oidc_enabled,
    )


AuthConfigDep = Annotated[AuthConfigOut, Depends(auth_config)]


async def stream_open_slot(request: Request) -> AsyncIterator[StreamSlot]:
    """The client's place among its open streams (MAX_STREAMS_PER_KEY), taken at once or 429; then
    stream opens take turns (a few at a time), so a burst of them never queues ahead of other
    requests for the database or Redis connections. The stream holds the place until it ends; a
    stream that does not open gives it back here."""
    approve_stream_token(request.scope)
    state = request.app.state
    limit = state.settings.max_streams_per_key
    slot = state.hub.take_slot(limit_key_of(request.scope), limit)
    if slot is None:
        raise stream_limit_error(limit)
    try:
        try:
            async with asyncio.timeout(STREAM_OPEN_TIMEOUT_S):
                await state.stream_opens.acquire()
        except TimeoutError:
            raise ServiceUnavailableError(
                "Too many event streams are opening at once; retry in a few seconds"
            ) from None
        try:
            yield slot
        finally:
            state.stream_opens.release()
    finally:
        if not slot.held:
            slot.release()


# One per request: a route and its dependencies that name it share the one place.
StreamOpenDep = Annotated[StreamSlot, Depends(stream_open_slot, scope="function")]


async def job_slot(request: Request) -> AsyncIterator[JobSlot]:
    """A place among the client's jobs in flight (MAX_JOBS_IN_FLIGHT_PER_KEY), or 429."""
    async with request.app.state.job_limiter.slot(limit_key_of(request.scope)) as slot:
        yield slot


JobSlotDep = Annotated[JobSlot, Depends(job_slot, scope="function")]


async def jobs_for_stream(
    request: Request,
    _slot: StreamOpenDep,
    session: SessionDep,
    redis: RedisDep,
    task_id: Annotated[list[IdText], Query(max_length=MAX_STREAM_IDS)] = [],  # noqa: B006
    story_id: Annotated[list[StoryId], Query(max_length=MAX_STREAM_IDS)] = [],  # noqa: B006
    batch: Annotated[list[IdText], Query(max_length=MAX_STREAM_BATCHES)] = [],  # noqa: B006
) -> list[GenerationJob]:
    """The jobs a multiplexed stream covers: the given tasks, the latest job of each given story,
    and the jobs of each bulk enqueue `batch`.

    Three queries whatever the number of ids (bounded by MAX_STREAM_IDS, and a batch by its size);
    the session is done before the stream starts.
    """
    if not task_id and not story_id and not batch:
        raise NotFoundError("Jobs to follow", "(name task_id, story_id or batch values)")
    task_ids, story_ids = list(dict.fromkeys(task_id)), list(dict.fromkeys(story_id))
    for ident in dict.fromkeys(batch):
        task_ids = list(dict.fromkeys([*task_ids, *await batch_task_ids(redis, ident)]))
    await begin_read(session)
    try:
        jobs = await _stream_jobs(request, session, task_ids, story_ids)
    finally:
        await session.commit()
    if not jobs:
        raise NotFoundError("Generation jobs for the stories", f"named ({len(story_ids)})")
    ordered = [jobs.pop(ident) for ident in task_ids if ident in jobs]
    return ordered + list(jobs.values())


async def _stream_jobs(
    request: Request, session: AsyncSession, task_ids: list[str], story_ids: list[str]
) -> dict[str, GenerationJob]:
    """The named jobs and the latest job of each named story, each in one of the caller's projects
    (another project's is not found, as a missing one)."""
    checked = access.needs_project_check(request)
    jobs = {job.id: job for job in await repository.get_jobs(session, task_ids)} if task_ids else {}
    missing_task = next((ident for ident in task_ids if ident not in jobs), None)
    if missing_task is not None:
        raise NotFoundError(messages.TASK, missing_task)
    if checked and jobs:
        of_stories = await repository.story_projects(
            session, [job.story_id for job in jobs.values() if job.story_id is not None]
        )
        projects = {
            i: j.project_id if j.story_id is None else of_stories.get(j.story_id) for i, j in jobs.items()
        }
        access.check_each(request, projects, messages.TASK)
    if story_ids:
        known = await repository.story_projects(session, story_ids)
        missing_story = next((ident for ident in story_ids if ident not in known), None)
        if missing_story is not None:
            raise NotFoundError(messages.STORY, missing_story)
        if checked:
            access.check_each(request, known, messages.STORY)
        for job in await repository.get_latest_jobs(session, story_ids):
            jobs[job.id] = job
    return jobs


async def batch_task_ids(redis: ArqRedis, batch: str) -> list[str]:
    """The task ids of a bulk enqueue, or 404 once Redis no longer has them."""
    ids: list[bytes] = await redis.lrange(batch_key(batch), 0, MAX_BULK_STORIES - 1)  # type: ignore[misc]
    if not ids:
        raise NotFoundError(
            "Batch", f"{batch[:64]} (it expired or Redis lost it; follow its jobs by task_id or story_id)"
        )
    return [ident.decode() for ident in ids]


async def existing_test_case(
    request: Request, session: SessionDep, test_case_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
) -> TestCase:
    return await _must_exist(
        request,
        session,
        repository.get_test_case,
        test_case_id,
        messages.TEST_CASE,
        repository.test_case_project,
    )


TestCaseDep = Annotated[TestCase, Depends(existing_test_case)]


async def existing_connection(
    session: SessionDep,
    project: ProjectDep,
    connection_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
) -> Connection:
    """A connection of the path's project (the project's lookup checks the caller's role); another
    project's is not found, as a missing one."""
    await begin_standalone(session)
    found = await connections.get_connection(session, project.id, connection_id)
    await session.commit()
    if found is None:
        raise NotFoundError(connections.CONNECTION, connection_id)
    return found


ConnectionDep = Annotated[Connection, Depends(existing_connection)]


# The errors each dependency can answer, for the OpenAPI document (api/openapi_doc.py): a lookup
# 404s, and whatever opens a database session or talks to Redis can find it down (503).
DEPENDENCY_ERRORS: dict[Callable[..., object], tuple[int, ...]] = {
    get_session: (503,),
    get_redis: (503,),
    get_store: (503,),
    get_job_queue: (503,),
    get_hub: (503,),
    get_engine: (503,),
    get_sessions: (503,),
    get_sign_in_limiter: (503,),
    auth_config: (503,),
    existing_project: (404,),
    existing_story: (404,),
    story_to_read: (404, 503),
    existing_job: (404,),
    job_to_read: (404, 503),
    existing_test_case: (404,),
    existing_connection: (404,),
    stream_open_slot: (429, 503),
    job_slot: (429, 503),
    jobs_for_stream: (404,),
}
