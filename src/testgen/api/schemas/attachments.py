"""Story attachments as the API answers them (the content itself is downloaded on its own)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from testgen.api.schemas.common import ORMModel
from testgen.domain.attachments import AttachmentKind


class AttachmentOut(ORMModel):
    id: int
    story_id: str
    file_name: str
    media_type: str = Field(description="The type found in the file's bytes (not its name)")
    kind: AttachmentKind
    size: int = Field(description="Bytes kept: an image's after it was re-encoded")
    sha256: str
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    text_chars: int | None = Field(
        default=None, description="The characters of text read from a PDF or text file"
    )
    created_at: dt.datetime
