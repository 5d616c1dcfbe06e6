"""Database queries shared by services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from testgen.data.models import ACTIVE_JOB_STATUSES, GenerationJob, Project, TestCase, UserStory


async def get_project(session: AsyncSession, project_id: int) -> Project | None:
    return await session.get(Project, project_id)


async def get_project_by_name(session: AsyncSession, name: str) -> Project | None:
    return (await session.execute(select(Project).where(Project.name == name))).scalar_one_or_none()


async def list_projects(session: AsyncSession, limit: int, offset: int) -> Sequence[Project]:
    query = select(Project).order_by(Project.id).limit(limit).offset(offset)
    return (await session.execute(query)).scalars().all()


async def get_story(session: AsyncSession, story_id: str) -> UserStory | None:
    return await session.get(UserStory, story_id)


async def list_stories(
    session: AsyncSession, project_id: int | None, limit: int, offset: int
) -> Sequence[UserStory]:
    query = select(UserStory).order_by(UserStory.created_at, UserStory.id).limit(limit).offset(offset)
    if project_id is not None:
        query = query.where(UserStory.project_id == project_id)
    return (await session.execute(query)).scalars().all()


async def list_test_cases(session: AsyncSession, story_id: str) -> Sequence[TestCase]:
    query = select(TestCase).where(TestCase.story_id == story_id).order_by(TestCase.id)
    return (await session.execute(query)).scalars().all()


async def get_job(session: AsyncSession, task_id: str) -> GenerationJob | None:
    return await session.get(GenerationJob, task_id)


_JOBS, _STORIES = GenerationJob.__table__.c, UserStory.__table__.c
# Built once: constructing this 23-column select took a tenth of a millisecond per call.
_JOBS_WITH_STORIES = (
    select(*_JOBS, *_STORIES)
    .join_from(GenerationJob.__table__, UserStory.__table__, _JOBS.story_id == _STORIES.id)
    .where(_JOBS.id.in_(bindparam("ids", expanding=True)))
)


async def load_jobs_with_stories(
    connection: AsyncConnection, task_ids: Sequence[str]
) -> dict[str, tuple[GenerationJob, UserStory]]:
    """The jobs among `task_ids` with their stories (a job whose story is gone is left out), as
    detached objects. Core, not the ORM session: this is on every job's critical path, and a Core
    query costs half as much."""
    found = {}
    split = len(_JOBS)
    for row in await connection.execute(_JOBS_WITH_STORIES, {"ids": list(task_ids)}):
        job = GenerationJob(**dict(zip(_JOBS.keys(), row[:split], strict=True)))
        story = UserStory(**dict(zip(_STORIES.keys(), row[split:], strict=True)))
        found[job.id] = (job, story)
    return found


async def update_active_jobs(
    connection: AsyncConnection, updates: Sequence[tuple[str, dict[str, Any]]]
) -> set[str]:
    """Apply each (task id, values) to its row if the job is still active; return the ids updated.

    The active rows are locked first (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already
    holds the write lock), so the answer is exact. Updates that set the same columns share one
    executemany.
    """
    ids = [task_id for task_id, _ in updates]
    active = set(
        (
            await connection.execute(
                select(GenerationJob.id)
                .where(GenerationJob.id.in_(ids), GenerationJob.status.in_(ACTIVE_JOB_STATUSES))
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for task_id, values in updates:
        if task_id in active:
            params = {f"v_{key}": value for key, value in values.items()}
            by_columns.setdefault(tuple(sorted(values)), []).append({"v_id": task_id, **params})
    for columns, rows in by_columns.items():
        statement = (
            update(GenerationJob)
            .where(GenerationJob.id == bindparam("v_id"))
            .values({c: bindparam(f"v_{c}", type_=getattr(GenerationJob, c).type) for c in columns})
        )
        await connection.execute(statement, rows)  # executemany: one round trip per shape
    return active


async def get_active_job(session: AsyncSession, story_id: str) -> GenerationJob | None:
    query = select(GenerationJob).where(
        GenerationJob.story_id == story_id,
        GenerationJob.kind == "generate",
        GenerationJob.status.in_(ACTIVE_JOB_STATUSES),
    )
    return (await session.execute(query)).scalars().first()


async def get_latest_job(session: AsyncSession, story_id: str) -> GenerationJob | None:
    query = (
        select(GenerationJob)
        .where(GenerationJob.story_id == story_id, GenerationJob.kind == "generate")
        .order_by(GenerationJob.created_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def get_jobs(session: AsyncSession, task_ids: Sequence[str]) -> Sequence[GenerationJob]:
    """The jobs among `task_ids` that exist, in one query."""
    query = select(GenerationJob).where(GenerationJob.id.in_(task_ids))
    return (await session.execute(query)).scalars().all()


async def existing_story_ids(session: AsyncSession, story_ids: Sequence[str]) -> set[str]:
    query = select(UserStory.id).where(UserStory.id.in_(story_ids))
    return set((await session.execute(query)).scalars().all())


async def get_latest_jobs(session: AsyncSession, story_ids: Sequence[str]) -> Sequence[GenerationJob]:
    """The latest generation job of each of `story_ids` that has one, in one query."""
    rank = (
        func.row_number()
        .over(partition_by=GenerationJob.story_id, order_by=GenerationJob.created_at.desc())
        .label("rank")
    )
    ranked = (
        select(GenerationJob.id, rank)
        .where(GenerationJob.story_id.in_(story_ids), GenerationJob.kind == "generate")
        .subquery()
    )
    query = select(GenerationJob).join(ranked, ranked.c.id == GenerationJob.id).where(ranked.c.rank == 1)
    return (await session.execute(query)).scalars().all()


async def get_test_case(session: AsyncSession, test_case_id: int) -> TestCase | None:
    return await session.get(TestCase, test_case_id)


async def get_job_for_update(session: AsyncSession, task_id: str) -> GenerationJob | None:
    """The job row, locked until the transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE locks all)."""
    query = select(GenerationJob).where(GenerationJob.id == task_id).with_for_update()
    return (await session.execute(query.execution_options(populate_existing=True))).scalars().first()


# A completed generation whose result was not saved yet (a discarded one has no row any more).
OPEN_DRAFT = and_(GenerationJob.status == "completed", GenerationJob.saved_at.is_(None))


async def list_drafts(session: AsyncSession, story_id: str) -> Sequence[GenerationJob]:
    """Completed generation jobs of a story whose result was neither saved nor discarded, newest first."""
    query = (
        select(GenerationJob)
        .where(
            GenerationJob.story_id == story_id,
            GenerationJob.kind == "generate",
            OPEN_DRAFT,
        )
        .order_by(GenerationJob.finished_at.desc(), GenerationJob.id)
    )
    return (await session.execute(query)).scalars().all()
