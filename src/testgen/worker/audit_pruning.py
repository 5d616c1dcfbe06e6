"""Audit rows older than AUDIT_RETENTION_DAYS are deleted by every worker, once an hour.

A pass deletes the oldest rows in batches of PRUNE_BATCH, each in a short transaction of its own
(SQLite's write lock is held briefly), and at most MAX_BATCHES of them: a large backlog goes over a
few passes. Finding nothing to delete takes no write lock. Workers pruning at once delete each row at
most once (the second delete finds it gone), so any number of them may run it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.database import begin_read
from testgen.data import audit
from testgen.data.models import utcnow

logger = logging.getLogger(__name__)

PRUNE_INTERVAL_S = 3600
FIRST_PRUNE_S = 60  # after a worker starts: a worker restarted often still prunes
PRUNE_BATCH = 500  # row ids one DELETE names (under SQLite's oldest limit of 999 parameters)
MAX_BATCHES = 200

Now = Callable[[], dt.datetime]


def retention_cutoff(retention_days: int, now: dt.datetime) -> dt.datetime | None:
    """Rows before this time go; None: keep every row (0 days, or more days than the calendar has)."""
    if retention_days <= 0:
        return None
    try:
        return now - dt.timedelta(days=retention_days)
    except OverflowError:
        return None


async def prune_audit(
    sessionmaker: async_sessionmaker[AsyncSession],
    retention_days: int,
    *,
    now: Now = utcnow,
    batch: int = PRUNE_BATCH,
    max_batches: int = MAX_BATCHES,
) -> int:
    """One pass: delete the rows older than `retention_days` (0: none); how many this pass deleted."""
    cutoff = retention_cutoff(retention_days, now())
    if cutoff is None:
        return 0
    deleted = 0
    for _ in range(max_batches):
        async with sessionmaker() as session:
            await begin_read(session)
            ids = await audit.oldest_ids(session, cutoff, batch)
            await session.commit()
            if not ids:
                break
            async with session.begin():
                deleted += await audit.delete_ids(session, ids)
        if len(ids) < batch:
            break
    return deleted


async def prune_forever(sessionmaker: async_sessionmaker[AsyncSession], retention_days: int) -> None:
    await asyncio.sleep(FIRST_PRUNE_S)
    while True:
        try:
            deleted = await prune_audit(sessionmaker, retention_days)
        except (OSError, SQLAlchemyError) as exc:
            logger.warning(
                "Pruning the audit trail failed (%s); will try again in an hour", type(exc).__name__
            )
        else:
            if deleted:
                logger.info("Deleted %d audit rows older than %d days", deleted, retention_days)
        await asyncio.sleep(PRUNE_INTERVAL_S)
