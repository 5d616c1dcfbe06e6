"""The audit trail: append-only rows of who did what, where, to which objects (never the texts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.data.models import AuditEvent, utcnow

MAX_FIELDS = 50  # field names one row keeps


def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    actor_id: int | None = None,
    project_id: int | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    fields: Sequence[str] = (),
    at: dt.datetime | None = None,
) -> None:
    """Add one row to the session's transaction: it is written with the change it records (`at`: when
    it happened, if not now)."""
    session.add(
        AuditEvent(
            at=at or utcnow(),
            actor=actor[:400],
            actor_id=actor_id,
            action=action,
            project_id=project_id,
            object_type=object_type,
            object_id=object_id[:200] if object_id is not None else None,
            fields=[name[:100] for name in list(fields)[:MAX_FIELDS]],
        )
    )


def _filters(
    project_ids: Sequence[int] | None,
    actor: str | None,
    action: str | None,
    object_id: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if project_ids is not None:
        where.append(AuditEvent.project_id.in_(project_ids))
    if actor is not None:
        where.append(AuditEvent.actor == actor)
    if action is not None:
        where.append(AuditEvent.action == action)
    if object_id is not None:
        where.append(AuditEvent.object_id == object_id)
    if since is not None:
        where.append(AuditEvent.at >= since)
    if until is not None:
        where.append(AuditEvent.at < until)
    return where


async def query(
    session: AsyncSession,
    *,
    project_ids: Sequence[int] | None = None,
    actor: str | None = None,
    action: str | None = None,
    object_id: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[AuditEvent]:
    """Newest first. `project_ids` None: every project's rows and those of no project."""
    where = _filters(project_ids, actor, action, object_id, since, until)
    statement = select(AuditEvent).where(*where).order_by(AuditEvent.id.desc()).limit(limit).offset(offset)
    return (await session.execute(statement)).scalars().all()


async def oldest_ids(session: AsyncSession, older_than: dt.datetime, limit: int) -> Sequence[int]:
    """Up to `limit` ids of the rows older than `older_than` (AUDIT_RETENTION_DAYS), oldest first."""
    statement = select(AuditEvent.id).where(AuditEvent.at < older_than).order_by(AuditEvent.id).limit(limit)
    return (await session.execute(statement)).scalars().all()


async def delete_ids(session: AsyncSession, ids: Sequence[int]) -> int:
    """Delete these rows (the only deletion of audit rows: pruning by age); how many went."""
    statement = delete(AuditEvent).where(AuditEvent.id.in_(ids)).execution_options(synchronize_session=False)
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)
