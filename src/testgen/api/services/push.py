"""Queueing a push: a job of the project, on the same queue, status and event stream as generation
(the worker half is worker/push.py). One push per connection at a time: while one is queued or
running, asking again answers that one."""

from __future__ import annotations

import contextlib
import logging

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.rate_limits import JobSlot
from testgen.api.schemas.push import PushRequest
from testgen.api.services.job_queue import JobQueue
from testgen.api.services.jobs import Queued, confirm_created, new_job, reused
from testgen.core import messages
from testgen.core.database import begin_read
from testgen.core.errors import ConflictError, NotFoundError
from testgen.core.redis_keys import PUSH_JOB, push_lock_key
from testgen.data import pushes
from testgen.data.job_states import JobKind
from testgen.data.models import Project
from testgen.domain.connections import ConnectionKind
from testgen.domain.job_options import PushJobOptions

logger = logging.getLogger(__name__)

CONNECTION = "Connection"
LOCK_S = 10.0


async def enqueue_push(
    session: AsyncSession,
    queue: JobQueue,
    project: Project,
    data: PushRequest,
    slot: JobSlot | None = None,
    *,
    created_by: int | None = None,
) -> Queued:
    """Queue a push of the project's saved test cases (those of `data.story_ids`, else all) to the
    connection `data.connection_id`; another project's connection or story is not found. `slot`: as
    for `jobs.enqueue`; `created_by`: the user who asked."""
    project_id = project.id
    await begin_read(session)
    connection = await pushes.get_connection(session, project_id, data.connection_id)
    if connection is None:
        await session.commit()
        raise NotFoundError(CONNECTION, data.connection_id)
    if connection.kind == ConnectionKind.jira:
        await session.commit()
        raise ConflictError(
            f"Connection '{connection.name}' is the project's Jira: it links pushed test cases to their "
            "stories. Push to a TestRail, Xray, Zephyr Scale or Azure DevOps connection"
        )
    if connection.kind == ConnectionKind.github:
        await session.commit()
        raise ConflictError(
            f"Connection '{connection.name}' is a GitHub repository the project imports stories from. Push "
            "to a TestRail, Xray, Zephyr Scale or Azure DevOps connection"
        )
    story_ids = list(dict.fromkeys(data.story_ids)) if data.story_ids is not None else None
    if story_ids is not None:
        known = await pushes.project_story_ids(session, project_id, story_ids)
        missing = next((s for s in story_ids if s not in known), None)
        if missing is not None:
            await session.commit()
            raise NotFoundError(messages.STORY, missing)
    await session.commit()
    options = PushJobOptions(
        connection_id=connection.id,
        story_ids=story_ids,
        delete_removed=data.delete_removed,
        overwrite=data.overwrite,
    )
    # The check for a live push and the new job's row, one request at a time per connection.
    lock = queue.redis.lock(push_lock_key(connection.id), timeout=LOCK_S, blocking_timeout=LOCK_S)
    try:
        acquired = await lock.acquire()
    except (RedisError, OSError) as exc:
        raise queue.unavailable() from exc
    if not acquired:
        raise ConflictError(
            f"Another push to connection '{connection.name}' is being queued; follow that one, or ask again"
        )
    try:
        return await _enqueue(session, queue, project_id, options, slot, created_by)
    finally:
        with contextlib.suppress(RedisError, OSError):  # it expires by itself
            await lock.release()


async def _enqueue(
    session: AsyncSession,
    queue: JobQueue,
    project_id: int,
    options: PushJobOptions,
    slot: JobSlot | None,
    created_by: int | None,
) -> Queued:
    await begin_read(session)
    existing = await pushes.active_push(session, project_id, options.connection_id)
    await session.commit()
    if existing is not None:
        return await reused(queue, existing)
    if slot is not None:
        await slot.take()
    job = new_job(None, JobKind.push, options, project_id=project_id, created_by=created_by)
    session.add(job)
    await session.commit()
    workers = await queue.dispatch(session, job, PUSH_JOB)
    logger.info(
        "Queued push task %s of project %s to connection %s", job.id, project_id, options.connection_id
    )
    return await confirm_created(job, workers, slot)
