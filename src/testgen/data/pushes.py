"""Pushes in the database: a project's connections as a push reads them, the mapping of each pushed
test case (`PushedCase`), the test cases a push selects, and the live push of a connection."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.data.job_states import ACTIVE, JobKind
from testgen.data.models import Connection, GenerationJob, PushedCase, TestCase, UserStory, utcnow


async def get_connection(session: AsyncSession, project_id: int, connection_id: int) -> Connection | None:
    """Connection `connection_id` if it belongs to project `project_id`."""
    found = await session.get(Connection, connection_id)
    return found if found is not None and found.project_id == project_id else None


async def connection_of_kind(session: AsyncSession, project_id: int, kind: str) -> Connection | None:
    """The project's first connection of `kind` (its `jira` connection, say)."""
    query = (
        select(Connection)
        .where(Connection.project_id == project_id, Connection.kind == kind)
        .order_by(Connection.id)
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def active_push(session: AsyncSession, project_id: int, connection_id: int) -> GenerationJob | None:
    """The push to `connection_id` that is queued or running, if any."""
    query = (
        select(GenerationJob)
        .where(
            GenerationJob.project_id == project_id,
            GenerationJob.kind == JobKind.push,
            GenerationJob.status.in_([s.value for s in ACTIVE]),
        )
        .order_by(GenerationJob.created_at)
    )
    for job in (await session.execute(query)).scalars():
        if isinstance(job.options, dict) and job.options.get("connection_id") == connection_id:
            return job
    return None


async def project_story_ids(session: AsyncSession, project_id: int, story_ids: Collection[str]) -> set[str]:
    """Those of `story_ids` that are stories of project `project_id`."""
    if not story_ids:
        return set()
    query = select(UserStory.id).where(UserStory.project_id == project_id, UserStory.id.in_(list(story_ids)))
    return set((await session.execute(query)).scalars())


async def stories_with_cases(
    session: AsyncSession, project_id: int, story_ids: Sequence[str] | None
) -> list[tuple[UserStory, list[TestCase]]]:
    """The stories of a project (those of `story_ids`, else all) with their saved test cases, in the
    order of the project's stories; a story without saved test cases is left out."""
    query = (
        select(TestCase, UserStory)
        .join(UserStory, TestCase.story_id == UserStory.id)
        .where(UserStory.project_id == project_id)
        .order_by(UserStory.created_at, UserStory.id, TestCase.id)
    )
    if story_ids is not None:
        query = query.where(UserStory.id.in_(list(story_ids)))
    grouped: dict[str, tuple[UserStory, list[TestCase]]] = {}
    for case, story in (await session.execute(query)).all():
        grouped.setdefault(story.id, (story, []))[1].append(case)
    return list(grouped.values())


async def load_mappings(session: AsyncSession, connection_id: int) -> Sequence[PushedCase]:
    query = select(PushedCase).where(PushedCase.connection_id == connection_id).order_by(PushedCase.id)
    return (await session.execute(query)).scalars().all()


async def existing_test_cases(session: AsyncSession, test_case_ids: Collection[int]) -> set[int]:
    if not test_case_ids:
        return set()
    query = select(TestCase.id).where(TestCase.id.in_(list(test_case_ids)))
    return set((await session.execute(query)).scalars())


async def save_mapping(
    session: AsyncSession, connection_id: int, test_case_id: int, **values: object
) -> None:
    """Insert or replace the mapping of one pushed test case, and commit."""
    for attempt in range(2):
        query = select(PushedCase).where(
            PushedCase.connection_id == connection_id, PushedCase.test_case_id == test_case_id
        )
        row = (await session.execute(query)).scalars().first()
        if row is None:
            row = PushedCase(connection_id=connection_id, test_case_id=test_case_id)
            session.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        row.pushed_at = utcnow()
        try:
            await session.commit()
            return
        except IntegrityError:  # another run inserted it a moment ago: replace that one
            await session.rollback()
            if attempt:
                raise


async def drop_mapping(session: AsyncSession, connection_id: int, test_case_id: int) -> None:
    await session.execute(
        delete(PushedCase).where(
            PushedCase.connection_id == connection_id, PushedCase.test_case_id == test_case_id
        )
    )
    await session.commit()
