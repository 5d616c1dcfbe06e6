"""FastAPI dependencies: the resources built in the lifespan (typed), sessions, and lookups that 404."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, TypeVar

from arq.connections import ArqRedis
from fastapi import Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from testgen.api.security import StreamTokens
from testgen.core import messages
from testgen.core.config import Settings
from testgen.core.database import begin_read
from testgen.core.errors import InvalidRequestError, NotFoundError
from testgen.data import repository
from testgen.data.models import GenerationJob, Project, TestCase, UserStory
from testgen.streaming.event_hub import EventHub
from testgen.streaming.progress_store import ProgressStore

Key = TypeVar("Key", str, int)
Row = TypeVar("Row")


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_redis(request: Request) -> ArqRedis:
    redis: ArqRedis = request.app.state.redis
    return redis


def get_store(request: Request) -> ProgressStore:
    store: ProgressStore = request.app.state.store
    return store


def get_hub(request: Request) -> EventHub:
    hub: EventHub = request.app.state.hub
    return hub


def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def get_stream_tokens(request: Request) -> StreamTokens:
    tokens: StreamTokens = request.app.state.stream_tokens
    return tokens


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """GET requests only read: their sessions take no write lock on SQLite."""
    state = request.app.state
    maker = state.read_sessionmaker if request.method in ("GET", "HEAD") else state.sessionmaker
    async with maker() as session:
        yield session


# Closed once the response is built, before it is sent: an event stream holds no session.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[ArqRedis, Depends(get_redis)]
StoreDep = Annotated[ProgressStore, Depends(get_store)]
HubDep = Annotated[EventHub, Depends(get_hub)]
EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
StreamTokensDep = Annotated[StreamTokens, Depends(get_stream_tokens)]


MAX_ROW_ID = 2**31 - 1  # an INTEGER key; larger ids would reach the driver and fail there


async def _must_exist(
    session: AsyncSession, get: Callable[[AsyncSession, Key], Awaitable[Row | None]], ident: Key, what: str
) -> Row:
    """Look a row up in a read of its own (ended before the route writes), or 404."""
    await begin_read(session)
    found = await get(session, ident)
    await session.commit()
    if found is None:
        raise NotFoundError(what, ident)
    return found


async def existing_project(
    session: SessionDep, project_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
) -> Project:
    return await _must_exist(session, repository.get_project, project_id, messages.PROJECT)


ProjectDep = Annotated[Project, Depends(existing_project)]


async def existing_story(session: SessionDep, story_id: Annotated[str, Path(max_length=200)]) -> UserStory:
    return await _must_exist(session, repository.get_story, story_id, messages.STORY)


StoryDep = Annotated[UserStory, Depends(existing_story)]


async def existing_job(session: SessionDep, task_id: Annotated[str, Path(max_length=200)]) -> GenerationJob:
    return await _must_exist(session, repository.get_job, task_id, messages.TASK)


JobDep = Annotated[GenerationJob, Depends(existing_job)]


async def jobs_for_stream(
    session: SessionDep,
    task_id: Annotated[list[str], Query(max_length=200)] = [],  # noqa: B006
    story_id: Annotated[list[str], Query(max_length=200)] = [],  # noqa: B006
) -> list[GenerationJob]:
    """The jobs a multiplexed stream covers: the given tasks and the latest job of each given story."""
    if not task_id and not story_id:
        raise InvalidRequestError("Name at least one task_id or story_id to follow")
    await begin_read(session)
    jobs: dict[str, GenerationJob] = {}
    for ident in task_id:
        job = await repository.get_job(session, ident)
        if job is None:
            raise NotFoundError(messages.TASK, ident)
        jobs[job.id] = job
    for ident in story_id:
        if await repository.get_story(session, ident) is None:
            raise NotFoundError(messages.STORY, ident)
        job = await repository.get_latest_job(session, ident)
        if job is not None:
            jobs[job.id] = job
    await session.commit()
    if not jobs:
        raise NotFoundError("Generation jobs for stories", ", ".join(story_id))
    return list(jobs.values())


async def existing_test_case(
    session: SessionDep, test_case_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
) -> TestCase:
    return await _must_exist(session, repository.get_test_case, test_case_id, messages.TEST_CASE)


TestCaseDep = Annotated[TestCase, Depends(existing_test_case)]
