"""What a generation job sends of its story's attachments, and what its result says of each.

Text (a PDF's or a text file's, read when it was uploaded) goes into the fenced story context, in
upload order, until CONTEXT_MAX_TOKENS is used up: the file that crosses it is trimmed, the ones
after it skipped. Images go as image parts when the job's model is marked as taking them
(LLM_IMAGE_MODELS), at most MAX_IMAGES a call; else the model is told only their names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from testgen.core.config import Settings
from testgen.data import attachments
from testgen.data.attachment_store import store_for
from testgen.data.models import StoryAttachment
from testgen.data.repository import StoryExtras
from testgen.domain.attachments import AttachmentKind, AttachmentUse, AttachmentUsed
from testgen.generation.llm.story_files import CHARS_PER_TOKEN, ImagePart, StoryFiles, TextPart, image_tokens
from testgen.worker.resources import WorkerResources

MAX_IMAGES = 8  # image parts in one call
MAX_CRITERIA_LINES = 50
TRIMMED = "trimmed to fit CONTEXT_MAX_TOKENS"
NO_ROOM = "no room left within CONTEXT_MAX_TOKENS"
NO_TEXT = "no text could be read from it"
TOO_MANY_IMAGES = f"more than {MAX_IMAGES} images: only the first {MAX_IMAGES} are sent"
CONTENT_MISSING = "its content is missing from the attachment store"
_CRITERION = re.compile(
    r"^\s*(?:[-*\u2022]|\d{1,3}[.)]|AC\s*\d*\s*[:.)-])\s+(\S.{6,298})$"
    r"|^\s*((?:given|when|then|the \w+ (?:must|should|shall))\b.{4,298})$",
    re.IGNORECASE | re.MULTILINE,
)


def text_only(provider: str, model: str) -> str:
    return f"{provider} model {model} is not marked as taking images (LLM_IMAGE_MODELS): named only"


def criteria_lines(texts: Sequence[str]) -> tuple[str, ...]:
    """Lines of the files that read like acceptance criteria (list items, Given/When/Then, musts)."""
    found: list[str] = []
    for text in texts:
        for match in _CRITERION.finditer(text):
            line = (match.group(1) or match.group(2)).strip()
            if line not in found:
                found.append(line)
            if len(found) >= MAX_CRITERIA_LINES:
                return tuple(found)
    return tuple(found)


def select_files(
    rows: Sequence[StoryAttachment],
    contents: Mapping[int, bytes | None],
    *,
    provider: str,
    model: str,
    accepts_images: bool,
    max_tokens: int,
) -> tuple[StoryFiles, list[AttachmentUsed]]:
    """The batch's StoryFiles from the story's rows (`contents`: each image's bytes by id), and how
    each attachment was used."""
    texts: list[TextPart] = []
    images: list[ImagePart] = []
    named: list[str] = []
    used: list[AttachmentUsed] = []
    room = max_tokens * CHARS_PER_TOKEN
    for row in rows:
        kind = AttachmentKind(row.kind)
        use, reason, trimmed = AttachmentUse.name, None, False
        if kind is AttachmentKind.image:
            data = contents.get(row.id)
            if not accepts_images:
                reason = text_only(provider, model)
            elif len(images) >= MAX_IMAGES:
                reason = TOO_MANY_IMAGES
            elif data is None:
                reason = CONTENT_MISSING
            else:
                width, height = row.width or 1, row.height or 1
                images.append(ImagePart(row.file_name, row.media_type, data, width, height))
                use = AttachmentUse.image
            if use is AttachmentUse.name:
                named.append(row.file_name)
        else:
            text = (row.text or "").strip()
            if not text:
                use, reason = AttachmentUse.skipped, NO_TEXT
            elif room <= 0:
                use, reason = AttachmentUse.skipped, NO_ROOM
            else:
                trimmed = len(text) > room
                texts.append(TextPart(row.file_name, text[:room], trimmed))
                room -= min(len(text), room)
                use, reason = AttachmentUse.text, TRIMMED if trimmed else None
        used.append(
            AttachmentUsed(
                id=row.id, file_name=row.file_name, kind=kind, use=use, reason=reason, trimmed=trimmed
            )
        )
    files = StoryFiles(
        texts=tuple(texts),
        images=tuple(images),
        named=tuple(named),
        image_tokens=sum(image_tokens(provider, i.width, i.height) for i in images),
        criteria_lines=criteria_lines([row.text or "" for row in rows]),
    )
    return files, used


async def load_story_files(
    res: WorkerResources, story_id: str, provider: str, model: str, extras: StoryExtras | None = None
) -> tuple[StoryFiles, list[AttachmentUsed]]:
    """The story's attachments as a job of `provider`'s `model` sends them (image bytes read only
    for a model that takes images); none asked for when the job's load found the story has none."""
    if extras is not None and not extras.has_attachments:
        return StoryFiles(), []
    async with res.sessionmaker() as session:
        rows = await attachments.list_for_story(session, story_id)
    if not rows:
        return StoryFiles(), []
    settings: Settings = res.settings
    accepts = settings.accepts_images(provider, model)
    contents: dict[int, bytes | None] = {}
    if accepts:
        store = store_for(settings)
        for row in [r for r in rows if r.kind == AttachmentKind.image.value][:MAX_IMAGES]:
            contents[row.id] = await store.get(row.sha256)
    return select_files(
        rows,
        contents,
        provider=provider,
        model=model,
        accepts_images=accepts,
        max_tokens=settings.context_max_tokens,
    )
