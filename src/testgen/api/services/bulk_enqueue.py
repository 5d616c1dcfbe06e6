"""Queueing many stories at once: one transaction, one Redis round trip, one event stream.

A sprint's worth of stories queued one request at a time costs a request, a transaction and four
arq round trips each; here the rows go in with one executemany and every job is published and
queued in one pipeline.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from redis.asyncio.client import Pipeline
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.rate_limits import JobSlot
from testgen.api.schemas.jobs import MAX_BULK_STORIES, BulkQueueRequest, GenerateOptions
from testgen.api.services.job_queue import JobQueue
from testgen.api.services.jobs import INSERT_JOBS, check_budget, job_row, new_job
from testgen.core import messages
from testgen.core.config import Settings
from testgen.core.errors import ConflictError, NotFoundError
from testgen.core.redis_keys import GENERATE_JOB, batch_key
from testgen.data import repository
from testgen.data.job_states import JobKind, JobStatus
from testgen.data.models import GenerationJob
from testgen.domain.job_options import Delivery, GenerateJobOptions
from testgen.generation.llm.checks import check_provider_config, job_choice

logger = logging.getLogger(__name__)

ATTEMPTS = 3  # a story queued by another request meanwhile makes the INSERT fail: read and try again

# KEYS: the batch's list of task ids. ARGV: its TTL, then the task ids. The list is written once per
# set of jobs (in chunks: Lua's unpack takes a few thousand values at most); asked for again, the
# batch only lives longer.
_RECORD_BATCH = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  for i = 2, #ARGV, 1000 do
    redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
"""


@dataclass
class Batch:
    batch_id: str
    jobs: list[GenerationJob]  # one per story, in the order asked
    created: set[str]  # task ids of the jobs this request queued
    warning: str | None = None  # set when a job cannot progress now (no worker runs)


async def enqueue_stories(
    session: AsyncSession,
    queue: JobQueue,
    request: BulkQueueRequest,
    slot: JobSlot | None = None,
    *,
    created_by: int | None = None,
) -> Batch:
    """Queue a generation job for each selected story that has none queued or running (those get
    their live job back). `slot` (the client's limit of jobs in flight) is taken for `n` places
    before `n` jobs are created (it may refuse), and given the jobs once they are queued.
    `created_by`: the user queueing them (their author in review)."""
    settings = queue.settings
    asked = request.model_dump(include=set(GenerateOptions.model_fields), exclude_none=True)
    options = GenerateOptions.model_validate(asked)
    for attempt in range(1, ATTEMPTS + 1):
        jobs, new = await _plan(session, settings, request, options, created_by)
        if new:
            await queue.require()
            if slot is not None and attempt == 1:
                await slot.take(len(new))
            try:
                await session.execute(INSERT_JOBS, [job_row(job) for job in new])
                await session.commit()
            except IntegrityError:
                await session.rollback()
                if attempt == ATTEMPTS:
                    raise
                continue
        else:
            await session.commit()
        break
    batch = Batch(batch_id([job.id for job in jobs]), jobs, {job.id for job in new})

    def record(pipe: Pipeline) -> None:  # the batch's task ids, for its one event stream
        record_batch(pipe, batch.batch_id, [job.id for job in jobs], settings.keep_result_s)

    attributes: dict[str, str | int] = {"testgen.batch_id": batch.batch_id, "testgen.jobs": len(new)}
    await queue.dispatch_all(session, new, GENERATE_JOB, attributes, record if jobs else None)
    if slot is not None:
        await slot.confirm(sorted(batch.created))
    if any(job.status == JobStatus.queued for job in jobs):
        batch.warning = await queue.no_worker_warning()
    logger.info(
        "Queued %d test generation tasks in batch %s (%d reused)",
        len(new),
        batch.batch_id,
        len(jobs) - len(new),
    )
    return batch


def batch_id(task_ids: Iterable[str]) -> str:
    """A batch is named by its set of jobs: queueing the same stories again while their jobs run
    gives the same batch, and no new key in Redis."""
    return hashlib.sha256("\n".join(sorted(task_ids)).encode()).hexdigest()[:32]


def record_batch(pipe: Pipeline, batch: str, task_ids: Sequence[str], ttl_s: int) -> None:
    """Queue on `pipe` the writing of a batch's task ids, unless its key holds them already; either
    way the key then lives `ttl_s` more seconds."""
    pipe.eval(_RECORD_BATCH, 1, batch_key(batch), ttl_s, *task_ids)  # type: ignore[arg-type]


async def _plan(
    session: AsyncSession,
    settings: Settings,
    request: BulkQueueRequest,
    options: GenerateOptions,
    created_by: int | None,
) -> tuple[list[GenerationJob], list[GenerationJob]]:
    """In the session's (write) transaction: every selected story's job, and the new ones among them."""
    story_ids = list(dict.fromkeys(request.story_ids)) if request.story_ids is not None else None
    if story_ids is not None:
        known = await repository.existing_story_ids(session, story_ids)
        missing = next((ident for ident in story_ids if ident not in known), None)
        if missing is not None:
            raise NotFoundError(messages.STORY, missing)
    elif await repository.get_project(session, request.project_id or 0) is None:
        raise NotFoundError(messages.PROJECT, request.project_id)
    rows = await repository.stories_to_queue(
        session,
        story_ids=story_ids,
        project_id=request.project_id,
        only_without_tests=request.only_without_tests,
        limit=MAX_BULK_STORIES + 1,
    )
    if len(rows) > MAX_BULK_STORIES:
        raise ConflictError(
            f"Project {request.project_id} has more than {MAX_BULK_STORIES} stories to queue; "
            f"queue them by story_ids, at most {MAX_BULK_STORIES} per request"
        )
    if story_ids is not None:
        order = {ident: i for i, ident in enumerate(story_ids)}
        rows = sorted(rows, key=lambda row: order[row[0]])
    unassigned = next((row[0] for row in rows if row[1] is None), None)
    if unassigned is not None:
        raise ConflictError(messages.story_without_project(unassigned))
    choices = {(row[2], row[3]): job_choice(settings, row[2], row[3]) for row in rows}
    for choice in choices.values():
        check_provider_config(settings, choice.llm_provider)
    defaults = await repository.default_deliveries(session, sorted({row[1] for row in rows if row[1]}))

    def delivery_of(project: int | None) -> Delivery:  # asked, else the project's default, else standard
        return request.delivery or Delivery(defaults.get(project or 0, Delivery.standard))

    job_options = {
        (key, delivery): GenerateJobOptions(
            **options.model_dump(),
            **choice.model_dump(),
            delivery=None if delivery is Delivery.standard else delivery,  # absent: standard
        )
        for key, choice in choices.items()
        for delivery in Delivery
    }
    active = await repository.get_active_jobs(session, [row[0] for row in rows])
    jobs: list[GenerationJob] = []
    new: list[GenerationJob] = []
    budgeted: set[int] = set()
    for story_id, project, provider, model in rows:
        job = active.get(story_id)
        if job is None:
            chosen = job_options[((provider, model), delivery_of(project))]
            job = new_job(story_id, JobKind.generate, chosen, created_by=created_by)
            new.append(job)
            if project is not None:  # checked above: every story has a project
                budgeted.add(project)
        jobs.append(job)
    for project_id in sorted(budgeted):  # a project whose daily tokens are spent: 429 naming it
        await check_budget(session, project_id)
    return jobs, new
