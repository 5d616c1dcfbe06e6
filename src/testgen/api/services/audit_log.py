"""Reading the audit trail: who may read which rows, a story's history, and the rows as CSV.

Server admins (and API_KEYS) read every row; a project admin reads the rows of the projects they
administer, never those of no project (sign-in, users, tokens). Rows are only ever added (by
api/access.py after a successful call) and pruned by age (worker/audit_pruning.py).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.principal import Principal
from testgen.api.schemas.audit import CSV_COLUMNS
from testgen.api.services.csv_cells import SafeCsvWriter
from testgen.core import messages
from testgen.core.errors import ForbiddenError, NotFoundError
from testgen.data import audit
from testgen.data.models import AuditEvent, GenerationJob, UserStory
from testgen.domain.roles import Role

NOT_AN_ADMIN = "The audit trail is for server admins and project admins: ask one of them"


@dataclass(frozen=True)
class AuditFilters:
    project_id: int | None = None
    actor: str | None = None
    action: str | None = None
    object_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


def as_utc(value: dt.datetime | None) -> dt.datetime | None:
    """The time in UTC (the zone of every stored time); one without a zone is taken as UTC. A time
    that UTC puts outside the calendar (0001-01-01T00:00+01:00) is its first or last instant."""
    if value is None or value.tzinfo is None:
        return None if value is None else value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        return (dt.datetime.min if value.year == dt.MINYEAR else dt.datetime.max).replace(tzinfo=dt.UTC)


def readable_projects(principal: Principal, project_id: int | None) -> list[int] | None:
    """The projects whose rows the caller may read, narrowed to `project_id` when given; None: every
    row. Another's project is not found (404); a project where the caller is not an admin, or no
    project administered at all, is forbidden (403)."""
    if principal.is_admin:
        return None if project_id is None else [project_id]
    if project_id is not None:
        role = principal.role_in(project_id)
        if role is None:
            raise NotFoundError(messages.PROJECT, project_id)
        if role is not Role.admin:
            raise ForbiddenError(
                f"Your role in this project is {role.value}; its audit trail is for its admins: ask one"
            )
        return [project_id]
    administered = sorted(pid for pid, role in principal.roles.items() if role is Role.admin)
    if not administered:
        raise ForbiddenError(NOT_AN_ADMIN)
    return administered


async def list_events(
    session: AsyncSession, principal: Principal, filters: AuditFilters, limit: int, offset: int
) -> Sequence[AuditEvent]:
    """The rows the caller may read that match, newest first."""
    project_ids = readable_projects(principal, filters.project_id)
    return await audit.query(
        session,
        project_ids=project_ids,
        actor=filters.actor,
        action=filters.action,
        object_id=filters.object_id,
        since=as_utc(filters.since),
        until=as_utc(filters.until),
        limit=limit,
        offset=offset,
    )


async def story_history(
    session: AsyncSession, story: UserStory, limit: int, offset: int
) -> Sequence[AuditEvent]:
    """The rows of the story and of its generation jobs since it was created (an earlier story of
    the same id, deleted since, is not its history), newest first. One query: the story's jobs are
    a subquery on their indexed story_id."""
    job_ids = select(GenerationJob.id).where(GenerationJob.story_id == story.id)
    statement = (
        select(AuditEvent)
        .where(
            AuditEvent.at >= story.created_at,
            or_(
                and_(AuditEvent.object_type == "story", AuditEvent.object_id == story.id),
                and_(AuditEvent.object_type == "job", AuditEvent.object_id.in_(job_ids)),
            ),
        )
        .order_by(AuditEvent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return (await session.execute(statement)).scalars().all()


def to_csv(rows: Sequence[AuditEvent]) -> str:
    """One line per row (a page: at most the route's limit); `fields` joined by spaces."""
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                row.id,
                row.at.isoformat(),
                row.actor,
                row.action,
                "" if row.project_id is None else row.project_id,
                row.object_type or "",
                row.object_id or "",
                " ".join(row.fields or ()),
            ]
        )
    return out.getvalue()
