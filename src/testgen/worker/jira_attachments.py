"""A Jira import's attachments (`"with": ["attachments"]`): each issue's files downloaded through the
import's Jira client (its redirect to the content followed without the credentials), checked as an
upload is (data/attachment_intake.py), kept once per content (data/attachment_store.py) and recorded
as the story's attachments, within the limits per file, story and project.

A re-import skips the files the story holds already (the same Jira attachment id and size) and
removes those the issue no longer has; uploaded attachments are never touched. A file that cannot be
kept (too large, of a type not taken, over a limit, gone from Jira) is skipped and counted, and the
issue still imports.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.core.config import Settings
from testgen.core.errors import DomainError
from testgen.data import attachment_intake, attachments, repository
from testgen.data.attachment_store import AttachmentStore, content_key
from testgen.data.models import StoryAttachment
from testgen.jira.client import JiraClient, JiraError

logger = logging.getLogger(__name__)

SOURCE = "jira"
MAX_FILES_READ = 200  # entries of an issue's attachment field looked at


@dataclass(frozen=True)
class JiraFile:
    id: str
    file_name: str
    size: int

    @property
    def ref(self) -> str:
        """What the attachment row records of where it came from (a re-import compares it)."""
        return f"{SOURCE}:{self.id}:{self.size}"


@dataclass
class AttachmentCounts:
    added: int = 0
    unchanged: int = 0
    removed: int = 0
    refused: int = 0

    def message(self) -> str:
        return (
            f"attachments: {self.added} added, {self.unchanged} unchanged, {self.removed} removed, "
            f"{self.refused} not kept"
        )


def files_of(issue: Any) -> list[JiraFile]:
    """The files of the issue's `attachment` field (a malformed entry is left out)."""
    fields = issue.get("fields") if isinstance(issue, dict) else None
    found = fields.get("attachment") if isinstance(fields, dict) else None
    files = []
    for entry in found[:MAX_FILES_READ] if isinstance(found, list) else []:
        if not isinstance(entry, dict):
            continue
        file_id, name, size = entry.get("id"), entry.get("filename"), entry.get("size")
        if isinstance(file_id, str | int) and str(file_id).strip() and isinstance(size, int) and size >= 0:
            files.append(JiraFile(str(file_id).strip()[:40], str(name or "attachment"), size))
    return files


class JiraAttachments:
    """The attachments of one import: the Jira client, the store, the limits, and the counts."""

    def __init__(self, jira: JiraClient, store: AttachmentStore, settings: Settings, project_id: int) -> None:
        self.jira = jira
        self.store = store
        self.settings = settings
        self.project_id = project_id
        self.counts = AttachmentCounts()

    async def sync(self, session: AsyncSession, story_id: str, files: list[JiraFile]) -> None:
        """Make the story's Jira attachments those of `files` (the story must be the project's)."""
        story = await repository.get_story(session, story_id)
        if story is None or story.project_id != self.project_id:
            return  # skipped by the import (another project's story)
        held = {
            row.source_ref: row
            for row in await attachments.list_for_story(session, story_id)
            if row.source_ref and row.source_ref.startswith(f"{SOURCE}:")
        }
        wanted = {file.ref: file for file in files}
        for ref, row in held.items():
            if ref not in wanted:
                await self._remove(session, row)
        for ref, file in wanted.items():
            if ref in held:
                self.counts.unchanged += 1
                continue
            reason = await self._add(session, story_id, file)
            if reason is not None:
                self.counts.refused += 1
                logger.info("Story %s: Jira attachment %s not kept: %s", story_id, file.id, reason)

    async def _remove(self, session: AsyncSession, row: StoryAttachment) -> None:
        key = row.sha256
        await session.delete(row)
        await session.commit()
        self.counts.removed += 1
        if not await attachments.is_referenced(session, key):
            await session.commit()
            await self.store.delete(key)

    async def _add(self, session: AsyncSession, story_id: str, file: JiraFile) -> str | None:
        """Keep the file as an attachment of the story; why not, when it cannot be."""
        settings = self.settings
        if file.size > settings.max_attachment_bytes:
            return f"{file.size} bytes, more than MAX_ATTACHMENT_BYTES"
        if await attachments.count_for_story(session, story_id) >= settings.max_attachments_per_story:
            return "the story has MAX_ATTACHMENTS_PER_STORY attachments"
        try:
            data = await self.jira.attachment(file.id, settings.max_attachment_bytes)
            taken = await asyncio.to_thread(
                attachment_intake.take, data, file.file_name, attachment_intake.limits(settings)
            )
        except (JiraError, httpx.HTTPError) as exc:
            return exc.message if isinstance(exc, JiraError) else f"download failed ({type(exc).__name__})"
        except DomainError as exc:
            return exc.message
        held = await attachments.bytes_for_project(session, self.project_id)
        if held + len(taken.content) > settings.max_attachment_bytes_per_project:
            return "the project's attachments would pass MAX_ATTACHMENT_BYTES_PER_PROJECT"
        key = content_key(taken.content)
        await self.store.put(key, taken.content)
        session.add(
            StoryAttachment(
                story_id=story_id,
                file_name=taken.file_name,
                media_type=taken.media_type,
                kind=taken.kind.value,
                size=len(taken.content),
                sha256=key,
                width=taken.width,
                height=taken.height,
                pages=taken.pages,
                text=taken.text,
                source_ref=file.ref,
            )
        )
        await session.commit()
        self.counts.added += 1
        return None
