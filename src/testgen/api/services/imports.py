"""Queueing a Jira import: a job of the project, on the same queue, status and event stream as
generation (the worker half is worker/jira_import.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from arq.connections import ArqRedis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.services.jobs import dispatch, new_job, require_queue
from testgen.core.config import Settings
from testgen.core.database import begin_read
from testgen.core.errors import ConfigurationError
from testgen.core.redis_keys import IMPORT_JIRA_JOB
from testgen.data import repository
from testgen.data.job_states import JobKind
from testgen.data.models import GenerationJob, Project
from testgen.jira.client import configuration_problem
from testgen.streaming.progress_store import ProgressStore

logger = logging.getLogger(__name__)


async def enqueue_jira_import(
    session: AsyncSession,
    redis: ArqRedis,
    store: ProgressStore,
    settings: Settings,
    project: Project,
    jql: str,
    take_slot: Callable[[], Awaitable[None]] | None = None,
) -> tuple[GenerationJob, bool]:
    """Queue an import of the issues `jql` finds into `project`; returns (job, created). While an
    import of the project is queued or running, that one is returned instead. `take_slot` is awaited
    just before a new job is created (the per-client limit of jobs in flight; it may refuse)."""
    problem = configuration_problem(settings)
    if problem is not None:
        raise ConfigurationError(problem)
    project_id = project.id
    await begin_read(session)
    existing = await repository.get_active_project_job(session, project_id, JobKind.import_jira)
    await session.commit()
    if existing is not None:
        return existing, False
    await require_queue(redis, settings)
    if take_slot is not None:
        await take_slot()
    job = new_job(None, JobKind.import_jira, {"jql": jql}, project_id=project_id)
    session.add(job)
    try:
        await session.commit()
    except IntegrityError:  # another request queued an import of this project a moment ago
        await session.rollback()
        existing = await repository.get_active_project_job(session, project_id, JobKind.import_jira)
        if existing is None:
            raise
        return existing, False
    await dispatch(session, redis, store, settings, job, IMPORT_JIRA_JOB)
    logger.info("Queued Jira import task %s for project %s", job.id, project_id)
    return job, True
