from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Path, Request, Response, UploadFile

from testgen.api import access
from testgen.api.deps import MAX_ROW_ID, AttachmentStoreDep, SessionDep, SettingsDep, StoryDep
from testgen.api.openapi_doc import errors
from testgen.api.principal import principal_of
from testgen.api.schemas.attachments import AttachmentOut
from testgen.api.services import attachments
from testgen.core.errors import ContentTooLargeError
from testgen.data.attachment_intake import MEDIA_TYPES, too_large

router = APIRouter(prefix="/user-stories/{story_id}/attachments", tags=["user stories"])
AttachmentId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.post("", status_code=201, response_model=AttachmentOut, responses=errors(400, 409, 413, 415))
async def upload_attachment(
    request: Request,
    story: StoryDep,
    session: SessionDep,
    settings: SettingsDep,
    store: AttachmentStoreDep,
    file: Annotated[UploadFile, File(description="PNG, JPEG, WebP, GIF, PDF, plain text or Markdown")],
) -> object:
    """Attach a file to the story (multipart/form-data, field `file`). Its type is found from its
    bytes: images are re-encoded without their metadata (longest side at most
    ATTACHMENT_MAX_IMAGE_SIDE), a PDF's text and a text file's are kept for generation; any other
    type is refused with 415, and a refused file leaves nothing behind."""
    data = await file.read(settings.max_attachment_bytes + 1)
    if len(data) > settings.max_attachment_bytes:
        raise ContentTooLargeError(too_large(len(data), settings.max_attachment_bytes))
    created = await attachments.add_attachment(
        session, store, settings, story, data, file.filename, principal_of(request).user_id
    )
    access.audit_object(request, "attachment", created.id)
    return created


@router.get("", response_model=list[AttachmentOut])
async def list_attachments(story: StoryDep, session: SessionDep) -> object:
    """The story's attachments, oldest first."""
    return await attachments.list_attachments(session, story)


@router.get(
    "/{attachment_id}",
    response_class=Response,
    responses={
        200: {
            "description": "The content as kept",
            "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in MEDIA_TYPES},
        }
    },
)
async def download_attachment(
    story: StoryDep, session: SessionDep, store: AttachmentStoreDep, attachment_id: AttachmentId
) -> Response:
    """The attachment's content, as kept (an image as re-encoded), with the type found in its bytes."""
    row = await attachments.find(session, story, attachment_id)
    data = await attachments.content(store, row)
    return Response(
        data,
        media_type=row.media_type,
        headers={
            "Content-Disposition": (
                f'attachment; filename="{ascii_name(row.file_name)}"; '
                f"filename*=UTF-8''{quote(row.file_name, safe='')}"
            ),
            "Cache-Control": "private, max-age=3600",
            "ETag": f'"{row.sha256}"',
        },
    )


def ascii_name(name: str) -> str:
    """The file name for clients that read only `filename=`: ASCII, no quote or backslash."""
    return "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in name) or "attachment"


@router.delete("/{attachment_id}", status_code=204)
async def delete_attachment(
    story: StoryDep, session: SessionDep, store: AttachmentStoreDep, attachment_id: AttachmentId
) -> Response:
    """Delete the attachment (its content too once no other attachment has the same)."""
    await attachments.delete_attachment(session, store, story, attachment_id)
    return Response(status_code=204)
