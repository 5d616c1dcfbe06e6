"""The audit trail, read only: no route changes or deletes a row (other methods answer 405)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from testgen.api.deps import MAX_ROW_ID, PrincipalDep, SessionDep, StoryReadDep, audit_written
from testgen.api.openapi_doc import errors
from testgen.api.schemas.audit import AuditEventOut, AuditFormat, IsoDateTime
from testgen.api.services import audit_log
from testgen.domain.text_fields import NO_NUL_PATTERN

# Each route reads the rows this process has pending too (api/audit_writer.py).
router = APIRouter(tags=["audit"], dependencies=[Depends(audit_written)])

MAX_PAGE = 500
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Rows per page; fewer: the last page")]
Offset = Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="Rows to skip (newest first)")]
TIME_HELP = "An ISO 8601 date and time; without a zone, UTC"


@router.get(
    "/audit",
    response_model=list[AuditEventOut],
    responses={
        **errors(403, 404),
        200: {
            "content": {"text/csv": {}},
            "description": "The rows, newest first (format=csv: a CSV file of the page)",
        },
    },
)
async def list_audit(
    session: SessionDep,
    principal: PrincipalDep,
    project_id: Annotated[
        int | None, Query(ge=1, le=MAX_ROW_ID, description="Only this project's rows")
    ] = None,
    actor: Annotated[
        str | None,
        Query(
            max_length=400, pattern=NO_NUL_PATTERN, description="`user:<email>`, `key:<key id>` or `local`"
        ),
    ] = None,
    action: Annotated[
        str | None, Query(max_length=40, pattern=NO_NUL_PATTERN, description="Such as story_update")
    ] = None,
    object_id: Annotated[
        str | None, Query(max_length=200, pattern=NO_NUL_PATTERN, description="A story's, job's, … id")
    ] = None,
    since: Annotated[IsoDateTime | None, Query(description=f"Rows at or after this. {TIME_HELP}")] = None,
    until: Annotated[IsoDateTime | None, Query(description=f"Rows before this. {TIME_HELP}")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
    fmt: Annotated[AuditFormat, Query(alias="format")] = AuditFormat.json,
) -> object:
    """Who did what, when, in which project, to which object, and the names of the fields they sent.
    Server admins read every row; a project admin reads the rows of the projects they administer."""
    filters = audit_log.AuditFilters(project_id, actor, action, object_id, since, until)
    rows = await audit_log.list_events(session, principal, filters, limit, offset)
    if fmt is AuditFormat.csv:
        return Response(
            audit_log.to_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
        )
    return rows


@router.get("/user-stories/{story_id}/history", response_model=list[AuditEventOut])
async def story_history(
    story: StoryReadDep, session: SessionDep, limit: Limit = 100, offset: Offset = 0
) -> object:
    """What was done to the story and its generation jobs, newest first."""
    return await audit_log.story_history(session, story, limit, offset)
