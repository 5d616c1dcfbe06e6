"""The queries of story attachments (data/models.py StoryAttachment)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.data.models import StoryAttachment, UserStory


async def list_for_story(session: AsyncSession, story_id: str) -> list[StoryAttachment]:
    """The story's attachments, oldest first."""
    rows = await session.scalars(
        select(StoryAttachment).where(StoryAttachment.story_id == story_id).order_by(StoryAttachment.id)
    )
    return list(rows)


async def get(session: AsyncSession, story_id: str, attachment_id: int) -> StoryAttachment | None:
    """Attachment `attachment_id` when it belongs to the story (another story's is not found)."""
    found = await session.get(StoryAttachment, attachment_id)
    return found if found is not None and found.story_id == story_id else None


async def count_for_story(session: AsyncSession, story_id: str) -> int:
    found = await session.scalar(
        select(func.count()).select_from(StoryAttachment).where(StoryAttachment.story_id == story_id)
    )
    return int(found or 0)


async def bytes_for_project(session: AsyncSession, project_id: int | None) -> int:
    """The bytes the attachments of the project's stories hold (of the stories of no project: None)."""
    where = UserStory.project_id.is_(None) if project_id is None else UserStory.project_id == project_id
    found = await session.scalar(
        select(func.coalesce(func.sum(StoryAttachment.size), 0))
        .join(UserStory, UserStory.id == StoryAttachment.story_id)
        .where(where)
    )
    return int(found or 0)


async def is_referenced(session: AsyncSession, sha256: str) -> bool:
    """Whether any attachment still names the content `sha256`."""
    found = await session.scalar(select(StoryAttachment.id).where(StoryAttachment.sha256 == sha256).limit(1))
    return found is not None
