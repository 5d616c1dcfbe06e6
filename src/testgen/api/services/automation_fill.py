"""Queueing the model pass over a story's playwright-bdd skeleton: a job of the story on the same queue,
status and event stream as generation (the worker half is worker/automation_fill.py). The deterministic
skeleton (services/automation.py) needs no job and stays the default."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.rate_limits import JobSlot
from testgen.api.schemas.automation import AutomationFillRequest
from testgen.api.services import jobs
from testgen.api.services.job_queue import JobQueue
from testgen.core.database import begin_read
from testgen.core.errors import ConflictError
from testgen.core.redis_keys import FILL_JOB
from testgen.data import repository
from testgen.data.job_states import JobKind
from testgen.data.models import UserStory
from testgen.domain.job_options import AutomationFillOptions

logger = logging.getLogger(__name__)


async def enqueue_fill(
    session: AsyncSession,
    queue: JobQueue,
    story: UserStory,
    data: AutomationFillRequest,
    slot: JobSlot | None = None,
    *,
    created_by: int | None = None,
) -> jobs.Queued:
    """Queue a job that asks the story's provider for a body per distinct step of its saved test cases
    (409 when it has none; 429 when its project spent its daily budget; `slot`: as for `jobs.enqueue`)."""
    story_id, project_id = story.id, story.project_id
    await begin_read(session)
    has_cases = bool(await repository.list_test_cases(session, story_id))
    choice, budget = await jobs.queue_choice(session, queue.settings, story_id)
    if has_cases and project_id is not None and budget is not None:
        await jobs.check_spent(session, project_id, budget)
    await session.commit()
    if not has_cases:
        raise ConflictError(f"Story {story_id} has no saved test cases: save some, then ask for proposals")
    await queue.require()
    if slot is not None:
        await slot.take()
    options = AutomationFillOptions(framework=data.framework, base_url=data.base_url, **choice.model_dump())
    job = jobs.new_job(story_id, JobKind.automation_fill, options, created_by=created_by)
    session.add(job)
    await session.commit()
    workers = await queue.dispatch(session, job, FILL_JOB)
    logger.info("Queued step-body proposals %s for story %s", job.id, story_id)
    return await jobs.confirm_created(job, workers, slot)
