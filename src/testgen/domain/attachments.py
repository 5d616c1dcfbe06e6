"""Story attachments: the kinds of file a story may carry, and what a draft says it did with each."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class AttachmentKind(StrEnum):
    image = "image"  # PNG, JPEG, WebP, GIF: re-encoded without metadata
    pdf = "pdf"  # its text is extracted
    text = "text"  # plain text or Markdown, UTF-8


class AttachmentUse(StrEnum):
    """How a job used an attachment."""

    image = "image"  # sent to the model as an image part
    text = "text"  # its text went into the story context (perhaps trimmed: see `trimmed`)
    name = "name"  # only its name was mentioned
    skipped = "skipped"  # left out (see `reason`)


class AttachmentUsed(BaseModel):
    """One attachment in a draft's result: how it was used, and why when it was not in full."""

    id: int
    file_name: str
    kind: AttachmentKind
    use: AttachmentUse
    reason: str | None = Field(default=None, description="Why it was skipped, trimmed or named only")
    trimmed: bool = False
