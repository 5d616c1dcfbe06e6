"""The audit rows of one API process, written in batches: a call adds its row after its answer is
sent, and the rows added within AUDIT_BATCH_DELAY_S (a setting) of each other go in one transaction,
so a burst of calls pays one commit instead of one each (a delay of 0: each row as it is added).
Reading the trail in this process writes what is pending first; another process sees a row at most
the delay later. Shutdown writes the rest. A batch that cannot be written is logged, as one row that
cannot be was."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.data import audit
from testgen.data.models import utcnow

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuditRow:
    actor: str
    action: str
    actor_id: int | None = None
    project_id: int | None = None
    object_type: str | None = None
    object_id: str | None = None
    fields: list[str] = field(default_factory=list)
    at: dt.datetime = field(default_factory=utcnow)  # when the call was answered, not when written


class AuditWriter:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], delay_s: float) -> None:
        self._sessionmaker = sessionmaker
        self._delay_s = delay_s
        self._rows: list[AuditRow] = []
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None

    async def add(self, row: AuditRow) -> None:
        self._rows.append(row)
        if not self._delay_s:
            await self.flush()
        elif self._pending is None or self._pending.done():
            self._pending = asyncio.create_task(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(self._delay_s)
        await self.flush()

    async def flush(self) -> None:
        """Write every row added so far (in the order added)."""
        async with self._lock:
            rows, self._rows = self._rows, []
            if not rows:
                return
            try:
                async with self._sessionmaker() as session, session.begin():
                    for row in rows:
                        audit.record(
                            session,
                            actor=row.actor,
                            action=row.action,
                            actor_id=row.actor_id,
                            project_id=row.project_id,
                            object_type=row.object_type,
                            object_id=row.object_id,
                            fields=row.fields,
                            at=row.at,
                        )
            except Exception:
                logger.exception("%d audit rows not written (%s first)", len(rows), rows[0].action)

    async def aclose(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
        await self.flush()
