"""Every use testgen makes of arq's internals (arq 0.28, pinned in pyproject.toml), in one module.

arq's public API (`create_pool`, `ArqRedis.enqueue_job`, `RedisSettings`, `Worker` and its options,
`func`, `cron`, `Job`) is used wherever it is needed. What arq does not publish, and why we rely on
it, is all here; tests/worker/test_arq_adapter.py has a test for each item that fails when arq
changes it.

Redis keys and their rules (arq.constants, arq.connections.ArqRedis.enqueue_job):
- `arq:job:<id>` holds a queued job's definition, `arq:result:<id>` its kept result; `enqueue_job`
  skips an id that has either, else PSETEXes the job key for `expires_extra_ms` and ZADDs the id to
  the queue, scored with `arq.utils.timestamp_ms()` (due now). `enqueue_many` does the same for many
  jobs in one round trip, with `arq.jobs.serialize_job` and the pool's `job_serializer`,
  `default_queue_name` and `expires_extra_ms` attributes.
- `arq:in-progress:<id>` is the marker a worker sets (PSETEX, its longest job timeout + 10 s) when it
  starts a job, and clears when the job ends: the claim script sets it, the reaper reads and clears
  it to put a lost job back on the queue (`requeue_now`).
- `arq:retry:<id>` counts a job's starts against `max_tries`; a job that raises `Retry` keeps its job
  key and goes back on the queue, due later. `poll_later` deletes the count and extends the job key, for
  a job deferred while it waits for work done elsewhere (a provider batch), so a check is not a try.
- `arq:abort` is the sorted set a worker reads to cancel running jobs (`allow_abort_jobs`):
  `request_abort` adds to it without `Job.abort`'s wait for the result.
- A worker ends a job (`Worker.finish_job`, `finish_failed_job`) in one transaction: it deletes the job
  key and the in-progress marker and writes the result; a job put back on the queue keeps its job key.
  So the job key or the marker exists for as long as arq may run the job, and once the result
  exists it never runs again (`arq_jobs` reads the three).

Serialisation (arq.jobs, arq.worker):
- The job and result dicts arq builds are JSON-safe except a failed job's result, which is the
  exception itself under "r": `serialize_job` stores it as "Type: message". Nothing is pickled. A
  result says whether the job succeeded under "s".
- `ArqRedis.__init__` takes the serialisers and the queue name as keyword arguments and passes the
  rest to redis-py: `JsonArqRedis` defaults them, for Sentinel's `master_for`, which builds the client.

The worker (arq.worker.Worker), overridden in `ArqWorker`:
- `Worker.main` awaits `_poll_iteration()` once per cycle and sleeps `poll_delay` in between: we pass
  0 and wait on our own terms (`between_polls`); a Redis error there would end arq's worker, we hand
  it to `on_redis_error`.
- `start_jobs(job_ids)` is replaced by one Lua script per job with arq's checks (not in progress,
  still queued, due). It uses what arq's own uses: `sem`, `job_counter`, `max_jobs`, `tasks`,
  `in_progress_timeout_s`, `loop`, `run_job(job_id, score)` and `_release_sem_dec_counter_on_complete()`.
- `handle_sig_wait_for_completion(signum)` is the signal handler when `job_completion_wait` is set
  (`_job_completion_wait`); `handle_sig(signum)` cancels the running jobs at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from signal import Signals
from typing import Any

from arq.connections import ArqRedis
from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    result_key_prefix,
    retry_key_prefix,
)
from arq.jobs import serialize_job as arq_job_payload
from arq.utils import timestamp_ms
from arq.worker import Worker
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from testgen.core.redis_keys import QUEUE_NAME

logger = logging.getLogger(__name__)


# --- Keys -----------------------------------------------------------------------------------------


def in_progress_key(job_id: str) -> str:
    """The marker of a job a worker runs; it outlives a worker that died (see `requeue_now`)."""
    return in_progress_key_prefix + job_id


def job_key(job_id: str) -> str:
    """A queued job's definition (its function and arguments), kept until it runs and a while after."""
    return job_key_prefix + job_id


def result_key(job_id: str) -> str:
    """A finished job's kept result."""
    return result_key_prefix + job_id


# --- Serialisation --------------------------------------------------------------------------------


def serialize_job(data: dict[str, Any]) -> bytes:
    """JSON for arq's jobs and results. A failed job's result is an exception: it is stored as
    "Type: message" (arq would otherwise log a traceback and store a placeholder)."""
    return json.dumps(data, separators=(",", ":"), default=_exception_text).encode()


def _exception_text(value: object) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def deserialize_job(data: bytes) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(data)
    return result


class JsonArqRedis(ArqRedis):
    """ArqRedis with our JSON serialisers and queue by default, so that a client built by someone
    else (Sentinel's `master_for`, from its pool) is the same as one we build."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("job_serializer", serialize_job)
        kwargs.setdefault("job_deserializer", deserialize_job)
        kwargs.setdefault("default_queue_name", QUEUE_NAME)
        super().__init__(*args, **kwargs)


# --- Queueing -------------------------------------------------------------------------------------

# arq's enqueue_job for each id (it takes four round trips per job: WATCH, EXISTS, MULTI/EXEC).
_ENQUEUE_MANY = """
local queued, score = 0, ARGV[#ARGV]
for i = 4, #ARGV - 1, 2 do
  local id = ARGV[i]
  if redis.call('EXISTS', ARGV[1] .. id, ARGV[2] .. id) == 0 then
    redis.call('PSETEX', ARGV[1] .. id, ARGV[3], ARGV[i + 1])
    redis.call('ZADD', KEYS[1], score, id)
    queued = queued + 1
  end
end
return queued
"""


def enqueue_many(
    pipe: Pipeline,
    redis: ArqRedis,
    function: str,
    job_ids: Sequence[str],
    kwargs: Mapping[str, Any] | None = None,
) -> None:
    """Add to `pipe` the queueing of one `function(job_id, **kwargs)` job per id, with `job_id` as
    arq's id: what `redis.enqueue_job(function, job_id, _job_id=job_id, **kwargs)` does for one, a job
    that is queued, running or has a kept result included (it is skipped)."""
    now = timestamp_ms()
    args: list[str | bytes | int] = [job_key_prefix, result_key_prefix, redis.expires_extra_ms]
    extra = dict(kwargs or {})
    for job_id in job_ids:
        payload = arq_job_payload(function, (job_id,), extra, None, now, serializer=redis.job_serializer)
        args += [job_id, payload]
    args.append(now)
    # EVAL, not a registered script: no SCRIPT EXISTS round trip first (redis-py types args as str only)
    pipe.eval(_ENQUEUE_MANY, 1, redis.default_queue_name, *args)  # type: ignore[arg-type]


async def poll_later(redis: Redis, job_id: str, keep_s: int) -> None:
    """Before a job is deferred to check again on work done elsewhere (arq's `Retry`): the check is not
    a try (arq counts each start under `arq:retry:<id>` against `max_tries`), and the job's definition
    lives `keep_s` more seconds (its key expires `expires_extra_ms` after the enqueue)."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(retry_key_prefix + job_id)
        pipe.expire(job_key_prefix + job_id, keep_s)
        await pipe.execute()


async def requeue_now(redis: Redis, job_id: str, queue_name: str = QUEUE_NAME) -> bool:
    """Put a job whose worker died back on arq's queue: no longer in progress, due now. False (and
    nothing queued) when arq no longer has the job's definition."""
    async with redis.pipeline(transaction=True) as pipe:
        pipe.delete(in_progress_key(job_id))
        pipe.exists(job_key(job_id))
        _, defined = await pipe.execute()
    if defined:
        await redis.zadd(queue_name, {job_id: timestamp_ms()})
    return bool(defined)


async def request_abort(redis: Redis, job_id: str) -> None:
    """Ask the worker running the job to cancel it (workers run with `allow_abort_jobs`)."""
    await redis.zadd(abort_jobs_ss, {job_id: timestamp_ms()})


# --- What arq holds of a job ---------------------------------------------------------------------


@dataclass(frozen=True)
class ArqJob:
    """What arq holds of one job (`arq_jobs`)."""

    defined: bool  # its definition is kept: it is queued, deferred or running
    in_progress: bool  # a worker marked it running
    finished: bool  # arq kept its result: the job ended and will never run again
    failure: str | None = None  # a failed result's exception type ("TimeoutError"); None otherwise

    @property
    def pending(self) -> bool:
        """arq may still run the job, or runs it now."""
        return not self.finished and (self.defined or self.in_progress)

    def given_up(self, *, age_s: float, grace_s: float) -> bool:
        """arq will never run the job: it ended it, or it holds nothing of a job queued `age_s` ago,
        more than `grace_s` (a job may be recorded elsewhere a moment before it is queued)."""
        return self.finished or (not self.pending and age_s > grace_s)


async def arq_jobs(redis: Redis, job_ids: Sequence[str]) -> dict[str, ArqJob]:
    """What arq holds of each job, read in one transaction (MULTI): arq ends a job in one transaction
    too, so a job is never seen half ended (neither defined nor finished)."""
    if not job_ids:
        return {}
    async with redis.pipeline(transaction=True) as pipe:
        for job_id in job_ids:
            pipe.exists(job_key(job_id))
            pipe.exists(in_progress_key(job_id))
            pipe.get(result_key(job_id))
        replies = await pipe.execute()
    found = {}
    for i, job_id in enumerate(job_ids):
        defined, in_progress, result = replies[3 * i : 3 * i + 3]
        found[job_id] = ArqJob(bool(defined), bool(in_progress), result is not None, _failure(result))
    return found


MAX_TYPE_NAME = 100


def _failure(result: bytes | None) -> str | None:
    """The exception type of a failed result ("Type: message", see `serialize_job`), only when it is a
    plain name: the message may quote anything the job saw, so it is never passed on."""
    if result is None:
        return None
    try:
        data = deserialize_job(result)
    except ValueError:  # not JSON (another serializer): whether it failed is unknown
        return None
    if not isinstance(data, dict) or data.get("s") is not False:
        return None
    name = str(data.get("r", "")).partition(":")[0]
    return name if name.isidentifier() and len(name) <= MAX_TYPE_NAME else "unknown"


# --- The worker -----------------------------------------------------------------------------------

# arq's start_jobs checks, atomically: not running, still queued, due. Marks it in progress, and
# writes the claim's marks (a lease with its TTL, the claim time in a sorted set) in the same step.
_CLAIM_JOB = """
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('PSETEX', KEYS[1], ARGV[3], '1')
redis.call('SET', KEYS[3], '1', 'EX', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
return score
"""


@dataclass(frozen=True)
class ClaimMarks:
    """What claiming a job writes besides arq's in-progress marker, in the same atomic step."""

    lease_key: str  # SET with lease_ttl_s
    lease_ttl_s: int
    claims_key: str  # a sorted set: job id -> claim time (ms)


class ArqWorker(Worker):
    """arq's Worker with the internals we change behind hooks for a subclass:

    - `between_polls()` is awaited after each look at the queue (arq sleeps `poll_delay` instead);
    - `on_redis_error(exc)` gets a failed look at the queue (arq's worker would end; re-raise to end);
    - `claim_marks(job_id)` names what a claim writes with arq's in-progress marker.

    A job is claimed in one Redis round trip (arq takes four), and a job this worker already runs is
    not looked at again: it stays in arq's queue until it ends, and with hundreds of jobs in flight
    and a poll per enqueue arq's checks would grow with the square of the load. The first stop
    signal lets running jobs finish (up to `job_completion_wait`) and says so; a second one stops at
    once: the jobs are cancelled and go back on the queue (none is lost).
    """

    def __init__(self, *args: Any, poll_delay: float = 0.05, **kwargs: Any) -> None:
        super().__init__(*args, poll_delay=0, **kwargs)
        self.idle_wait_s = poll_delay
        self._claim: AsyncScript | None = None
        self._stopping = False

    def running_jobs(self) -> int:
        return sum(not t.done() for t in self.tasks.values())

    def claim_marks(self, job_id: str) -> ClaimMarks:
        raise NotImplementedError

    async def between_polls(self) -> None:
        await asyncio.sleep(self.idle_wait_s)

    async def on_redis_error(self, exc: RedisError | OSError) -> None:
        raise exc

    def handle_sig_wait_for_completion(self, signum: Signals) -> None:
        if self._stopping:
            logger.warning("Stopping now: %d running jobs go back on the queue", len(self.tasks))
            self.handle_sig(signum)
            return
        self._stopping = True
        running = self.running_jobs()
        if running:
            logger.warning(
                "Stopping: waiting up to %d s for %d running job%s; press Ctrl-C again to stop now "
                "(they go back on the queue)",
                self._job_completion_wait,
                running,
                "" if running == 1 else "s",
            )
        super().handle_sig_wait_for_completion(signum)

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except (RedisError, OSError) as exc:
            await self.on_redis_error(exc)
            return
        await self.between_polls()

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        for raw_id in job_ids:
            job_id = raw_id.decode()
            if job_id in self.tasks:
                continue
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            marks = self.claim_marks(job_id)
            score = await self._claim_script(
                keys=[in_progress_key(job_id), self.queue_name, marks.lease_key, marks.claims_key],
                args=[job_id, timestamp_ms(), int(self.in_progress_timeout_s * 1000), marks.lease_ttl_s],
            )
            if not score:  # running elsewhere, finished, or re-queued for later
                self.job_counter -= 1
                self.sem.release()
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task

    @property
    def _claim_script(self) -> AsyncScript:
        if self._claim is None:
            self._claim = self.pool.register_script(_CLAIM_JOB)
        return self._claim
