"""Generation jobs delivered through the provider's Batch API (`delivery: batch`).

A job's first run prepares its requests as a normal run does, submits them as one provider batch,
records the batch under the job in Redis (`provider_batch_key`), reports the job queued with the
batch's id ("submitted to the provider's batch, expected within 24 h") and ends by deferring its arq
job (`JobDeferred`, then arq's `Retry`). While the batch runs, each time the deferred job comes due
`wait_turn` asks the provider for the batch's state without touching the job's row, and defers it
again, each wait twice the last (PROVIDER_BATCH_POLL_S up to PROVIDER_BATCH_POLL_MAX_S). Once the
batch is finished, the job runs again: its answers become the job's batches, the requests the batch
failed or answered unusably are asked as normal calls, and the draft is built by the same steps as a
normal run's. A job cancelled meanwhile cancels its provider batch when it comes due, or at once when
the cancel made it due (`wake`).

Everything the watch needs is in Redis (the record and arq's deferred job): a restarted worker
resumes it, and every step may run twice (a batch is submitted only when the job has none recorded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import NoReturn

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis

from testgen.core import messages
from testgen.core.arq_adapter import poll_later
from testgen.core.redis_keys import events_key, provider_batch_key, state_key
from testgen.data.job_states import ACTIVE, JobStatus
from testgen.data.models import GenerationJob
from testgen.domain.job_options import Delivery, GenerateJobOptions
from testgen.generation.llm.base import BadOutputError, BatchRequest, BatchResult, CallStats, LLMError
from testgen.generation.llm.batch_api import (
    BatchAPI,
    BatchCallError,
    BatchItem,
    BatchState,
    ItemResult,
    batch_api_for,
)
from testgen.generation.llm.factory import BoundProvider
from testgen.generation.llm.retry import Usage
from testgen.worker.resources import WorkerResources
from testgen.worker.runner import JobDeferred, JobRun

logger = logging.getLogger(__name__)

RECORD_TTL_S = 3 * 86_400  # a provider batch is watched this long at most (its window is 24 h)
PROGRESS_SUBMITTED = 25


class StoredAnswer(BaseModel):
    """An answer kept while the job's failed requests are in another provider batch."""

    text: str
    usage: tuple[int, int, int] | tuple[int, int, int, int]  # prompt, output, total[, cached]


class ProviderBatchRecord(BaseModel):
    """A job's provider batch, as recorded in Redis while it is watched."""

    batch_id: str  # "" while it is being submitted
    label: str = ""  # what the provider batch is named by (its display name or metadata)
    provider: str
    model: str
    keys: list[str]  # the requests' keys, in the order submitted
    submitted_at: float
    polls: int = 0
    round: int = 0  # 0: the job's first provider batch; n: its failed requests sent again n times
    answers: dict[str, StoredAnswer] = {}  # what earlier provider batches of the job answered, by key

    def delay_s(self, first_s: float, max_s: float) -> float:
        """How long to wait before the next check: twice as long each time, up to `max_s`."""
        return float(min(max_s, first_s * 2 ** min(self.polls, 30)))


def request_key(task_id: str, batch: BatchRequest) -> str:
    return f"{task_id}:{batch.batch_index}"


async def load_record(redis: Redis, task_id: str) -> ProviderBatchRecord | None:
    raw = await redis.get(provider_batch_key(task_id))
    if raw is None:
        return None
    try:
        return ProviderBatchRecord.model_validate_json(raw)
    except ValidationError:
        logger.warning("Task %s: its provider batch record is unreadable; dropped", task_id)
        await redis.delete(provider_batch_key(task_id))
        return None


async def save_record(redis: Redis, task_id: str, record: ProviderBatchRecord) -> None:
    await redis.set(provider_batch_key(task_id), record.model_dump_json(), ex=RECORD_TTL_S)


async def deliver(
    res: WorkerResources,
    run: JobRun,
    provider: BoundProvider,
    batches: Sequence[BatchRequest],
    options: GenerateJobOptions,
) -> dict[int, BatchResult]:
    """The job's batches answered by its provider batch, by batch index ({} for standard delivery, or
    a provider without a Batch API: every batch is then asked as a normal call). The first run submits
    the batch and raises JobDeferred; a run while it is not finished raises JobDeferred too. A batch
    missing from the answer (failed, expired, unusable) goes into another provider batch while
    PROVIDER_BATCH_RESUBMITS allows (JobDeferred again), else is left for a normal call."""
    if options.delivery != Delivery.batch:
        return {}
    api = batch_api_for(provider.provider)
    if api is None:
        logger.info("Task %s: %s has no Batch API; its calls are sent one by one", run.job.id, provider.name)
        return {}
    redis = res.store.redis
    task_id = run.job.id
    record = await load_record(redis, task_id)
    by_key = {request_key(task_id, b): b for b in batches}
    if record is None:
        items = [BatchItem(key, b) for key, b in by_key.items()]
        await _submit(res, run, api, provider, items)  # raises JobDeferred, or falls back
        return {}
    if not record.batch_id:  # a run stopped while submitting: its batch, if the provider took it
        try:
            found = await _find(api, record)
        except BatchCallError:  # the lookup is tried again at the next check
            await _wait(res, run, record, messages.provider_batch_waiting(record.label, "unknown"))
        if found is None:
            items = [BatchItem(key, by_key[key]) for key in record.keys if key in by_key]
            await _submit(res, run, api, provider, items, record.round, record.answers)
            return _usable(record, record.answers, by_key)
        record.batch_id = found
        await save_record(redis, task_id, record)
    answers: dict[str, StoredAnswer] = {}
    try:
        status = await api.status(record.batch_id)
        if status.state.finished:
            answers = await collect(api, record, status.state)
    except BatchCallError as exc:  # asked again at the next check
        logger.warning("Task %s: provider batch %s not read (%s)", task_id, record.batch_id, exc.message)
        await _wait(res, run, record, messages.provider_batch_waiting(record.batch_id, "unknown"))
    except LLMError as exc:  # the batch cannot be read any more: the job runs as a normal one
        logger.warning("Task %s: provider batch %s lost (%s)", task_id, record.batch_id, exc.message)
        await redis.delete(provider_batch_key(task_id))
        return {}
    if not status.state.finished:
        await _wait(res, run, record, messages.provider_batch_waiting(record.batch_id, status.state.value))
    answers = {**record.answers, **answers}  # earlier provider batches' answers too
    delivered = _usable(record, answers, by_key)
    failed = [key for key in record.keys if by_key.get(key) and by_key[key].batch_index not in delivered]
    if failed and record.round < res.settings.provider_batch_resubmits:
        items = [BatchItem(key, by_key[key]) for key in failed]
        kept = {key: answers[key] for key in delivered_keys(delivered, by_key)}
        await _submit(res, run, api, provider, items, record.round + 1, kept)  # or falls back
    return delivered


async def _wait(res: WorkerResources, run: JobRun, record: ProviderBatchRecord, message: str) -> NoReturn:
    """Report the job waiting for its provider batch, and defer it (JobDeferred)."""
    await run.report(JobStatus.queued, PROGRESS_SUBMITTED, message, persist=True)
    raise JobDeferred(
        record.delay_s(res.settings.provider_batch_poll_s, res.settings.provider_batch_poll_max_s)
    )


async def _submit(
    res: WorkerResources,
    run: JobRun,
    api: BatchAPI,
    provider: BoundProvider,
    items: Sequence[BatchItem],
    round_: int = 0,
    answers: dict[str, StoredAnswer] | None = None,
) -> None:
    """Submit `items` as a provider batch and defer the job (JobDeferred); on a refusal, return (the
    requests are then asked as normal calls). `round_`: how many provider batches of the job came
    before, `answers`: what they answered. The record is written before the submission (without the
    batch's id, which a run that stops meanwhile finds again by the batch's label), then with it."""
    task_id = run.job.id
    redis = res.store.redis
    record = ProviderBatchRecord(
        batch_id="",
        label=f"testgen job {task_id} ({round_})",
        provider=provider.name,
        model=provider.model,
        keys=[item.key for item in items],
        submitted_at=time.time(),
        round=round_,
        answers=answers or {},
    )
    await save_record(redis, task_id, record)
    try:
        batch_id = await api.submit(items, model=provider.model, label=record.label)
    except LLMError as exc:  # no Batch API there, or it failed: the job runs as a normal one
        logger.warning(
            "Task %s: the provider batch could not be submitted (%s); its calls are sent one by one",
            task_id,
            exc.message,
        )
        await redis.delete(provider_batch_key(task_id))
        return
    record.batch_id = batch_id
    await save_record(redis, task_id, record)
    logger.info("Task %s: %d requests submitted in provider batch %s", task_id, len(items), batch_id)
    await _wait(res, run, record, messages.provider_batch_submitted(batch_id, len(items)))


async def _find(api: BatchAPI, record: ProviderBatchRecord) -> str | None:
    """The id of the provider batch submitted under the record's label, if the provider has one
    (BatchCallError: the provider could not say now)."""
    try:
        return await api.find(record.label)
    except BatchCallError:
        raise
    except LLMError as exc:
        logger.warning("Provider batch %r not looked up (%s)", record.label, exc.message)
        return None


async def collect(api: BatchAPI, record: ProviderBatchRecord, state: BatchState) -> dict[str, StoredAnswer]:
    """The answers of a finished provider batch, by key (requests it failed are left out)."""
    results = await api.results(record.batch_id, record.keys)
    answers = {
        key: StoredAnswer(text=item.text, usage=item.usage)
        for key, item in results.items.items()
        if item.text is not None
    }
    logger.info(
        "Provider batch %s %s: %d of %d requests answered",
        record.batch_id,
        state.value,
        len(answers),
        len(record.keys),
    )
    return answers


def _usable(
    record: ProviderBatchRecord, answers: dict[str, StoredAnswer], by_key: dict[str, BatchRequest]
) -> dict[int, BatchResult]:
    """The answers validated as a normal call's, by batch index; an unusable one is left out."""
    delivered: dict[int, BatchResult] = {}
    for key, answer in answers.items():
        request = by_key.get(key)
        if request is None:
            continue
        usage = Usage(*answer.usage)
        stats = CallStats(
            calls=1,
            prompt_tokens=usage.prompt,
            output_tokens=usage.output,
            total_tokens=usage.total,
            cached_tokens=usage.cached,
        )
        try:
            drafts = ItemResult(key=key, text=answer.text, usage=usage).drafts(request)
        except BadOutputError as exc:
            logger.info(
                "Provider batch %s: request %s is asked again (%s)", record.batch_id, key, exc.message
            )
            continue
        delivered[request.batch_index] = BatchResult(test_cases=drafts, stats=stats)
    return delivered


def delivered_keys(delivered: dict[int, BatchResult], by_key: dict[str, BatchRequest]) -> list[str]:
    return [key for key, request in by_key.items() if request.batch_index in delivered]


def delivered_stats(delivered: dict[int, BatchResult]) -> CallStats:
    """The calls and tokens the provider batch answered (billed at the batch price)."""
    stats = CallStats()
    for result in delivered.values():
        stats.add(result.stats)
    return stats


async def wait_turn(res: WorkerResources, task_id: str) -> float | None:
    """Before a generation job runs: the seconds to defer it while its provider batch is not finished
    (None: run it now). The job's row is not touched: a check is not a run."""
    redis = res.store.redis
    record = await load_record(redis, task_id)
    if record is None or await settle(res, task_id, record) or not record.batch_id:
        return None  # no batch, or the job ended, or its submission is to be found: run it now
    api = _api_for(res, record)
    if api is None:
        return None
    try:
        status = await api.status(record.batch_id)
    except BatchCallError as exc:
        logger.warning("Task %s: provider batch %s not checked (%s)", task_id, record.batch_id, exc.message)
    except LLMError as exc:  # the batch cannot be read any more: the job runs as a normal one
        logger.warning("Task %s: provider batch %s lost (%s)", task_id, record.batch_id, exc.message)
        await redis.delete(provider_batch_key(task_id))
        return None
    else:
        if status.state.finished:
            return None
    delay = record.delay_s(res.settings.provider_batch_poll_s, res.settings.provider_batch_poll_max_s)
    record.polls += 1
    await save_record(redis, task_id, record)
    await poll_later(redis, task_id, RECORD_TTL_S)
    await keep_live(res, task_id, delay)
    return delay


async def keep_live(res: WorkerResources, task_id: str, delay_s: float) -> None:
    """Keep the job's live state and event stream in Redis until well after the next check: nothing is
    published while the job waits, and they would expire after KEEP_RESULT_S."""
    ttl_s = max(res.store.ttl_s, int(delay_s * 2) + 1)
    async with res.store.redis.pipeline(transaction=False) as pipe:
        pipe.expire(state_key(task_id), ttl_s)
        pipe.expire(events_key(task_id), ttl_s)
        await pipe.execute()


async def settle(res: WorkerResources, task_id: str, record: ProviderBatchRecord) -> bool:
    """For a job no longer active: cancel its provider batch if the job was cancelled, forget the batch
    (unless the provider could not be asked now), and say so (True)."""
    async with res.sessionmaker() as session:
        job = await session.get(GenerationJob, task_id)
    if job is not None and job.status in ACTIVE:
        return False
    if job is not None and job.status == JobStatus.cancelled and not await cancel_batch(res, task_id, record):
        return True  # the next sweep tries again
    await res.store.redis.delete(provider_batch_key(task_id))
    return True


async def sweep(res: WorkerResources) -> list[str]:
    """Every watched provider batch whose job ended: cancelled at the provider when the job was
    cancelled (its deferred run may never come: a cancel aborts it), then forgotten (kept for the next
    sweep when the provider could not be asked). Returns the ids of those jobs."""
    settled = []
    redis = res.store.redis
    async for raw in redis.scan_iter(match=provider_batch_key("*"), count=500):
        key = raw.decode() if isinstance(raw, bytes) else str(raw)
        task_id = task_of_key(key)
        record = await load_record(redis, task_id) if task_id else None
        if task_id and record is not None and await settle(res, task_id, record):
            settled.append(task_id)
    return settled


def task_of_key(key: str) -> str | None:
    """The job id in a `provider_batch_key`."""
    head, tail = provider_batch_key("\0").split("\0")
    if not (key.startswith(head) and key.endswith(tail)):
        return None
    return key[len(head) : len(key) - len(tail)] or None


async def cancel_batch(res: WorkerResources, task_id: str, record: ProviderBatchRecord) -> bool:
    """Cancel the job's provider batch (a batch already finished is left as it is); False when the
    provider could not be asked now (BatchCallError: to be tried again)."""
    api = _api_for(res, record)
    if api is None:
        return True
    try:
        if not record.batch_id:  # a run stopped while submitting it
            found = await _find(api, record)
            if found is None:
                return True
            record.batch_id = found
        status = await api.status(record.batch_id)
        if not status.state.finished:
            await api.cancel(record.batch_id)
            logger.info("Task %s cancelled: provider batch %s cancelled", task_id, record.batch_id)
    except LLMError as exc:
        logger.warning("Task %s: provider batch %s not cancelled (%s)", task_id, record.batch_id, exc.message)
        return not isinstance(exc, BatchCallError)
    return True


def _api_for(res: WorkerResources, record: ProviderBatchRecord) -> BatchAPI | None:
    try:
        bound = res.providers.for_job(
            GenerateJobOptions(llm_provider=record.provider, llm_model=record.model)
        )
    except LLMError as exc:
        logger.warning("Provider batch %s: %s", record.batch_id, exc.message)
        return None
    return batch_api_for(bound.provider)
