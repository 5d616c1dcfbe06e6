"""Queueing an import (from Jira, GitHub or Azure DevOps): a job of the project, on the same queue,
status and event stream as generation (the worker half is worker/jira_import.py, which hands GitHub
and Azure DevOps to worker/issue_import.py)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.rate_limits import JobSlot
from testgen.api.services.job_queue import JobQueue
from testgen.api.services.jobs import Queued, confirm_created, new_job, reused
from testgen.core.database import begin_read
from testgen.core.errors import ConfigurationError, ConflictError
from testgen.core.redis_keys import IMPORT_JIRA_JOB
from testgen.data import pushes, repository
from testgen.data.job_states import JobKind
from testgen.data.models import Project
from testgen.domain.connections import ConnectionKind
from testgen.domain.job_options import ImportSource, JiraImportJobOptions
from testgen.jira.client import configuration_problem

logger = logging.getLogger(__name__)


async def _configuration_problem(
    session: AsyncSession, queue: JobQueue, project_id: int, source: ImportSource
) -> str | None:
    if source is ImportSource.jira:
        problem = configuration_problem(queue.settings)
        if problem is not None and not await pushes.connection_of_kind(
            session, project_id, ConnectionKind.jira.value
        ):
            return f"The project has no Jira connection, and for the server's Jira: {problem}"
        return None
    kind, label = (
        (ConnectionKind.github, "GitHub")
        if source is ImportSource.github
        else (ConnectionKind.azure_devops, "Azure DevOps")
    )
    if await pushes.connection_of_kind(session, project_id, kind.value) is None:
        await session.commit()
        # The project's own state, not the server's configuration: 409, not 503.
        raise ConflictError(
            f"The project has no {label} connection ({kind.value}): add one to the project, then import again"
        )
    return None


async def enqueue_import(
    session: AsyncSession,
    queue: JobQueue,
    project: Project,
    options: JiraImportJobOptions,
    slot: JobSlot | None = None,
    *,
    created_by: int | None = None,
) -> Queued:
    """Queue an import into `project` from the source `options` name (Jira, GitHub or Azure DevOps):
    one import job of the project at a time, whatever its source (while one is queued or running,
    that one is returned instead)."""
    project_id = project.id
    source = options.source or ImportSource.jira
    await begin_read(session)
    problem = await _configuration_problem(session, queue, project_id, source)
    if problem is not None:
        await session.commit()
        raise ConfigurationError(problem)
    existing = await repository.get_active_project_job(session, project_id, JobKind.import_jira)
    await session.commit()
    if existing is not None:
        return await reused(queue, existing)
    await queue.require()
    if slot is not None:
        await slot.take()
    job = new_job(None, JobKind.import_jira, options, project_id=project_id, created_by=created_by)
    session.add(job)
    try:
        await session.commit()
    except IntegrityError:  # another request queued an import of this project a moment ago
        await session.rollback()
        existing = await repository.get_active_project_job(session, project_id, JobKind.import_jira)
        if existing is None:
            raise
        return await reused(queue, existing)
    workers = await queue.dispatch(session, job, IMPORT_JIRA_JOB)
    logger.info("Queued %s import task %s for project %s", source.value, job.id, project_id)
    return await confirm_created(job, workers, slot)
