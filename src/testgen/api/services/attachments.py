"""A story's attachments: taken in (data/attachment_intake.py), kept once per content
(data/attachment_store.py) within the limits per story and per project, listed, read back, deleted."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.schemas.attachments import AttachmentOut
from testgen.core.config import Settings
from testgen.core.errors import ConflictError, ContentTooLargeError, NotFoundError
from testgen.data import attachment_intake, attachments
from testgen.data.attachment_store import AttachmentStore, content_key
from testgen.data.models import StoryAttachment, UserStory

ATTACHMENT = "Attachment"


def attachment_out(row: StoryAttachment) -> AttachmentOut:
    return AttachmentOut(
        id=row.id,
        story_id=row.story_id,
        file_name=row.file_name,
        media_type=row.media_type,
        kind=row.kind,
        size=row.size,
        sha256=row.sha256,
        width=row.width,
        height=row.height,
        pages=row.pages,
        text_chars=None if row.text is None else len(row.text),
        created_at=row.created_at,
    )


async def add_attachment(
    session: AsyncSession,
    store: AttachmentStore,
    settings: Settings,
    story: UserStory,
    data: bytes,
    file_name: str | None,
    user_id: int | None,
) -> AttachmentOut:
    """Check the file, then the story's and the project's limits, keep its content, then its row.
    A refused file leaves nothing behind."""
    taken = await asyncio.to_thread(
        attachment_intake.take, data, file_name, attachment_intake.limits(settings)
    )
    count = await attachments.count_for_story(session, story.id)
    if count >= settings.max_attachments_per_story:
        raise ConflictError(
            f"User story {story.id} has {count} attachments, the most a story may have "
            "(MAX_ATTACHMENTS_PER_STORY): delete one first"
        )
    held = await attachments.bytes_for_project(session, story.project_id)
    if held + len(taken.content) > settings.max_attachment_bytes_per_project:
        raise ContentTooLargeError(
            f"The project's attachments hold {held} bytes; this file's {len(taken.content)} would take them "
            f"past {settings.max_attachment_bytes_per_project} (MAX_ATTACHMENT_BYTES_PER_PROJECT): delete "
            "some first"
        )
    key = content_key(taken.content)
    await store.put(key, taken.content)
    row = StoryAttachment(
        story_id=story.id,
        file_name=taken.file_name,
        media_type=taken.media_type,
        kind=taken.kind.value,
        size=len(taken.content),
        sha256=key,
        width=taken.width,
        height=taken.height,
        pages=taken.pages,
        text=taken.text,
        created_by=user_id,
    )
    session.add(row)
    await session.commit()
    return attachment_out(row)


async def list_attachments(session: AsyncSession, story: UserStory) -> list[AttachmentOut]:
    return [attachment_out(row) for row in await attachments.list_for_story(session, story.id)]


async def find(session: AsyncSession, story: UserStory, attachment_id: int) -> StoryAttachment:
    found = await attachments.get(session, story.id, attachment_id)
    if found is None:
        raise NotFoundError(ATTACHMENT, attachment_id)
    return found


async def content(store: AttachmentStore, row: StoryAttachment) -> bytes:
    data = await store.get(row.sha256)
    if data is None:
        raise NotFoundError(ATTACHMENT, f"{row.id} (its content is missing from the store)")
    return data


async def delete_attachment(
    session: AsyncSession, store: AttachmentStore, story: UserStory, attachment_id: int
) -> None:
    """Delete the row; the content goes too once no attachment names it."""
    row = await find(session, story, attachment_id)
    key = row.sha256
    await session.delete(row)
    await session.commit()
    await delete_unreferenced(session, store, {key})


async def delete_unreferenced(session: AsyncSession, store: AttachmentStore, keys: set[str]) -> None:
    """Delete the content of `keys` that no attachment names any more."""
    for key in sorted(keys):
        referenced = await attachments.is_referenced(session, key)
        await session.commit()
        if not referenced:
            await store.delete(key)
