"""arq's internals that core.arq_adapter relies on, checked against arq itself on a real Redis: each
test fails when arq changes what the adapter assumes (a key name, a marker, a method's signature or
role, a format)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from arq.connections import ArqRedis
from arq.jobs import JobStatus
from arq.worker import Function, Retry, Worker, func
from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import RedisError

from testgen.core.arq_adapter import (
    ArqJob,
    ArqWorker,
    ClaimMarks,
    JsonArqRedis,
    arq_jobs,
    deserialize_job,
    enqueue_many,
    in_progress_key,
    job_key,
    poll_later,
    request_abort,
    requeue_now,
    result_key,
    serialize_job,
)
from testgen.core.redis import create_redis
from testgen.core.redis_keys import GENERATE_JOB, QUEUE_NAME
from tests.support.harness import WAIT_S, wait_for


@pytest.fixture
async def arq_pool(redis_url: str, redis: Redis) -> AsyncIterator[ArqRedis]:
    """Our arq client (JSON jobs, our queue) on a flushed Redis."""
    pool = create_redis(redis_url)
    yield pool
    with contextlib.suppress(RedisError, OSError):
        await pool.aclose()


async def noop(ctx: dict[str, Any], task_id: str, **kwargs: Any) -> None:
    return None


async def stop(main: asyncio.Task[None]) -> None:
    """Cancel arq's main loop until it ends: under load one cancel was seen lost on the way (the loop
    polled on until the test's time limit)."""
    while not main.done():
        main.cancel()
        await asyncio.wait({main}, timeout=1)
    with contextlib.suppress(asyncio.CancelledError):
        main.result()


def plain_worker(pool: ArqRedis, *functions: Function, **options: Any) -> Worker:
    """arq's own Worker (not ours) with our serialisers and queue."""
    settings: dict[str, Any] = {
        "redis_pool": pool,
        "queue_name": QUEUE_NAME,
        "handle_signals": False,
        "job_serializer": serialize_job,
        "job_deserializer": deserialize_job,
        "poll_delay": 0.05,
        **options,
    }
    return Worker(functions=list(functions) or [func(noop, name="noop")], **settings)


class ProbeWorker(ArqWorker):
    """The adapter's worker with its hooks recorded."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.redis_errors: list[BaseException] = []

    def claim_marks(self, job_id: str) -> ClaimMarks:
        return ClaimMarks(lease_key=f"probe:lease:{job_id}", lease_ttl_s=10, claims_key="probe:claims")

    async def on_redis_error(self, exc: RedisError | OSError) -> None:
        self.redis_errors.append(exc)


# --- Keys and queueing --------------------------------------------------------------------------


async def test_enqueue_many_writes_what_enqueue_job_writes(arq_pool: ArqRedis, redis: Redis) -> None:
    kwargs = {"trace": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
    before = time.time() * 1000
    assert await arq_pool.enqueue_job(GENERATE_JOB, "by-arq", _job_id="by-arq", **kwargs) is not None
    async with arq_pool.pipeline(transaction=False) as pipe:
        enqueue_many(pipe, arq_pool, GENERATE_JOB, ["by-us"], kwargs)
        assert await pipe.execute() == [1]
    after = time.time() * 1000

    assert sorted(await redis.keys("arq:*")) == [b"arq:job:by-arq", b"arq:job:by-us"]
    assert (job_key("by-us"), result_key("by-us")) == ("arq:job:by-us", "arq:result:by-us")
    for job_id in ("by-arq", "by-us"):
        score = await redis.zscore(QUEUE_NAME, job_id)
        assert score is not None and before - 1 <= score <= after + 1  # ms since the epoch: due now
        ttl = await redis.pttl(job_key(job_id))
        assert arq_pool.expires_extra_ms - 10_000 < ttl <= arq_pool.expires_extra_ms
    theirs, ours = [deserialize_job(await redis.get(job_key(i)) or b"") for i in ("by-arq", "by-us")]
    assert ours.keys() == theirs.keys()
    assert {k: v for k, v in ours.items() if k not in ("a", "et")} == {
        k: v for k, v in theirs.items() if k not in ("a", "et")
    }
    assert (ours["a"], theirs["a"]) == (["by-us"], ["by-arq"])

    info = await arq_pool._get_job_def(b"by-us", None)  # how arq's worker reads a job back
    assert (info.function, list(info.args), info.kwargs) == (GENERATE_JOB, ["by-us"], kwargs)
    assert info.job_try is None


async def test_enqueue_many_skips_what_enqueue_job_skips(arq_pool: ArqRedis, redis: Redis) -> None:
    await arq_pool.enqueue_job(GENERATE_JOB, "queued", _job_id="queued")
    await redis.set("arq:result:done", b"{}")  # a kept result
    assert await arq_pool.enqueue_job(GENERATE_JOB, "queued", _job_id="queued") is None
    assert await arq_pool.enqueue_job(GENERATE_JOB, "done", _job_id="done") is None

    async with arq_pool.pipeline(transaction=False) as pipe:
        enqueue_many(pipe, arq_pool, GENERATE_JOB, ["queued", "done", "new"])
        assert await pipe.execute() == [1]
    assert sorted(await redis.zrange(QUEUE_NAME, 0, -1)) == [b"new", b"queued"]


async def test_a_worker_marks_the_job_it_runs_in_progress_until_it_ends(
    arq_pool: ArqRedis, redis: Redis
) -> None:
    seen: dict[str, Any] = {}

    async def probe(ctx: dict[str, Any], task_id: str) -> str:
        seen["keys"] = await redis.keys("arq:in-progress:*")
        seen["ttl"] = await redis.pttl(in_progress_key(task_id))
        return "done"

    job = await arq_pool.enqueue_job("probe", "t1", _job_id="t1")
    assert job is not None
    worker = plain_worker(arq_pool, func(probe, name="probe"), burst=True, job_timeout=30)
    assert worker.in_progress_timeout_s == 40  # the longest job timeout + 10 s: our claim's TTL too
    assert await worker.run_check() == 1

    assert seen["keys"] == [b"arq:in-progress:t1"]
    assert 0 < seen["ttl"] <= 40_000
    assert not await redis.exists(in_progress_key("t1"))
    assert await redis.exists("arq:result:t1")
    assert await job.status() == JobStatus.complete


async def test_a_failed_jobs_result_is_the_exception_which_we_store_as_text(
    arq_pool: ArqRedis, redis: Redis
) -> None:
    async def boom(ctx: dict[str, Any], task_id: str) -> None:
        raise ValueError("boom")

    job = await arq_pool.enqueue_job("boom", "t2", _job_id="t2")
    assert job is not None
    worker = plain_worker(arq_pool, func(boom, name="boom", max_tries=1), burst=True)
    await worker.main()

    stored = json.loads(await redis.get(result_key("t2")) or b"null")
    assert (stored["r"], stored["s"]) == ("ValueError: boom", False)
    info = await job.result_info()
    assert info is not None and (info.success, info.result) == (False, "ValueError: boom")


async def test_requeue_now_gives_a_lost_job_back_to_the_workers(arq_pool: ArqRedis, redis: Redis) -> None:
    await arq_pool.enqueue_job("noop", "lost", _job_id="lost")
    await redis.psetex("arq:in-progress:lost", 600_000, b"1")  # what a worker killed mid-job leaves
    worker = plain_worker(arq_pool, burst=True)
    await worker.start_jobs([b"lost"])
    assert worker.tasks == {}  # arq starts no job marked in progress

    assert await requeue_now(arq_pool, "lost")
    assert not await redis.exists(in_progress_key("lost"))
    assert await worker.run_check() == 1

    assert not await requeue_now(arq_pool, "never-queued")  # arq has no definition: nothing queued
    assert await redis.zscore(QUEUE_NAME, "never-queued") is None


async def test_poll_later_keeps_a_deferred_check_from_counting_as_a_try(arq_pool: ArqRedis) -> None:
    """A job deferred by Retry after poll_later runs again as its first try, its definition kept."""
    tries: list[int] = []
    ttls: list[int] = []

    async def checks(ctx: dict[str, Any], task_id: str) -> str:
        tries.append(ctx["job_try"])
        if len(tries) < 4:  # more checks than max_tries allows tries
            await poll_later(arq_pool, ctx["job_id"], 7200)
            ttls.append(await arq_pool.ttl(job_key(ctx["job_id"])))
            raise Retry(defer=0)
        return "done"

    await arq_pool.enqueue_job("checks", "t", _job_id="t")
    worker = plain_worker(arq_pool, func(checks, name="checks"), burst=True, max_tries=2)
    await asyncio.wait_for(worker.main(), WAIT_S)
    assert tries == [1, 1, 1, 1]
    assert all(3600 < ttl <= 7200 for ttl in ttls), ttls
    assert worker.jobs_complete == 1 and worker.jobs_failed == 0


async def test_arq_jobs_says_what_arq_holds_of_each_job(arq_pool: ArqRedis, redis: Redis) -> None:
    """Waiting, running, ended (failed or not), never queued: only what arq may still run is pending,
    and a failure is named by its exception type, never by its message."""
    running, release = asyncio.Event(), asyncio.Event()

    async def hold(ctx: dict[str, Any], task_id: str) -> None:
        running.set()
        await release.wait()

    async def boom(ctx: dict[str, Any], task_id: str) -> None:
        raise ValueError("a message quoting the job's input")

    for function, job_id in (("hold", "running"), ("boom", "failed"), ("noop", "done")):
        await arq_pool.enqueue_job(function, job_id, _job_id=job_id)
    await arq_pool.enqueue_job("noop", "waiting", _job_id="waiting", _defer_by=60)
    await redis.set(result_key("odd"), serialize_job({"s": False, "r": "<not a name>: x"}))
    worker = plain_worker(
        arq_pool, func(hold, name="hold"), func(boom, name="boom", max_tries=1), func(noop, name="noop")
    )
    main = asyncio.create_task(worker.main())
    try:
        await asyncio.wait_for(running.wait(), 10)

        async def both_ended() -> bool:
            return bool(await redis.exists(result_key("failed"), result_key("done")) == 2)

        await wait_for(both_ended, what="the results of failed and done")
        found = await arq_jobs(arq_pool, ["waiting", "running", "failed", "done", "never", "odd"])
    finally:
        release.set()
        await stop(main)
        for task in worker.tasks.values():  # none is left running once the held job is released
            task.cancel()

    assert found == {
        "waiting": ArqJob(defined=True, in_progress=False, finished=False),
        "running": ArqJob(defined=True, in_progress=True, finished=False),
        "failed": ArqJob(defined=False, in_progress=False, finished=True, failure="ValueError"),
        "done": ArqJob(defined=False, in_progress=False, finished=True),
        "never": ArqJob(defined=False, in_progress=False, finished=False),
        "odd": ArqJob(defined=False, in_progress=False, finished=True, failure="unknown"),
    }
    assert [job_id for job_id, job in found.items() if job.pending] == ["waiting", "running"]
    given_up = [job_id for job_id, job in found.items() if job.given_up(age_s=61, grace_s=60)]
    assert given_up == ["failed", "done", "never", "odd"]
    assert [job_id for job_id, job in found.items() if job.given_up(age_s=59, grace_s=60)] == [
        "failed",
        "done",
        "odd",
    ]
    assert await arq_jobs(arq_pool, []) == {}


async def test_request_abort_cancels_the_running_job(arq_pool: ArqRedis, redis: Redis) -> None:
    started = asyncio.Event()

    async def slow(ctx: dict[str, Any], task_id: str) -> None:
        started.set()
        await asyncio.sleep(30)

    job = await arq_pool.enqueue_job("slow", "t3", _job_id="t3")
    assert job is not None
    worker = plain_worker(arq_pool, func(slow, name="slow"), allow_abort_jobs=True)
    main = asyncio.create_task(worker.main())
    try:
        await asyncio.wait_for(started.wait(), 10)
        await request_abort(arq_pool, "not-running")
        assert await redis.zscore("arq:abort", "not-running") is not None
        await request_abort(arq_pool, "t3")
        info = await wait_for(job.result_info, what="the aborted job's result")
        assert info.success is False and info.result == "CancelledError: "
    finally:
        await stop(main)
        for task in worker.tasks.values():
            task.cancel()


# --- The client ---------------------------------------------------------------------------------


async def test_a_client_built_by_sentinel_has_our_serialisers_and_queue() -> None:
    client = Sentinel([("127.0.0.1", 1)]).master_for("master", redis_class=JsonArqRedis)  # connects lazily
    assert isinstance(client, ArqRedis)
    assert (client.job_serializer, client.job_deserializer) == (serialize_job, deserialize_job)
    assert client.default_queue_name == QUEUE_NAME
    assert JsonArqRedis(default_queue_name="other").default_queue_name == "other"
    await client.aclose()


# --- The worker ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "parameters"),
    [
        ("_poll_iteration", ["self"]),
        ("start_jobs", ["self", "job_ids"]),
        ("run_job", ["self", "job_id", "score"]),
        ("_release_sem_dec_counter_on_complete", ["self"]),
        ("handle_sig_wait_for_completion", ["self", "signum"]),
        ("handle_sig", ["self", "signum"]),
        ("close", ["self"]),
    ],
)
def test_the_worker_methods_the_adapter_overrides_or_calls_keep_their_signature(
    name: str, parameters: list[str]
) -> None:
    assert list(inspect.signature(getattr(Worker, name)).parameters) == parameters


async def test_the_state_start_jobs_shares_with_arqs_worker(arq_pool: ArqRedis) -> None:
    worker = plain_worker(arq_pool, max_jobs=3, job_timeout=20)
    assert isinstance(worker.sem, asyncio.BoundedSemaphore)
    assert (worker.job_counter, worker.max_jobs, worker.tasks) == (0, 3, {})
    assert worker.in_progress_timeout_s == 30
    assert worker.loop is asyncio.get_running_loop()
    assert worker.queue_name == QUEUE_NAME and worker.pool is arq_pool

    await worker.sem.acquire()
    worker.job_counter += 1
    worker._release_sem_dec_counter_on_complete()  # what a finished job's task calls
    assert worker.job_counter == 0
    for _ in range(worker.max_jobs + 1):  # every place is free again: max_jobs + 1 of them
        await asyncio.wait_for(worker.sem.acquire(), 1)
    assert worker.sem.locked()


async def test_main_calls_poll_iteration_once_a_cycle_without_sleeping_at_poll_delay_0(
    arq_pool: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    cycles = 0
    enough = asyncio.Event()
    arq_waits: list[tuple[int, float]] = []  # (cycles so far, delay) of each sleep arq's code asks for
    real_sleep = asyncio.sleep

    def sleep(delay: float, *args: Any, **kwargs: Any) -> Any:
        if sys._getframe(1).f_globals.get("__name__", "").startswith("arq."):
            arq_waits.append((cycles, delay))
        return real_sleep(delay, *args, **kwargs)

    class Counting(Worker):
        async def _poll_iteration(self) -> None:
            nonlocal cycles
            cycles += 1
            if cycles == 50:
                enough.set()

    monkeypatch.setattr(asyncio, "sleep", sleep)
    worker = Counting(
        functions=[func(noop, name="noop")],
        redis_pool=arq_pool,
        queue_name=QUEUE_NAME,
        handle_signals=False,
        poll_delay=0,
    )
    main = asyncio.create_task(worker.main())
    try:
        await asyncio.wait_for(enough.wait(), WAIT_S)
    finally:
        await stop(main)
    # One sleep of 0 s (a yield to the loop) after each cycle: no wait of arq's own between them.
    assert arq_waits[:49] == [(n, 0) for n in range(1, 50)]

    ours = ProbeWorker(functions=[func(noop, name="noop")], redis_pool=arq_pool, poll_delay=0.3)
    assert (ours.poll_delay_s, ours.idle_wait_s) == (0, 0.3)


async def test_a_poll_hands_the_due_job_ids_to_start_jobs(arq_pool: ArqRedis) -> None:
    handed: list[list[bytes]] = []

    class Recording(Worker):
        async def start_jobs(self, job_ids: list[bytes]) -> None:
            handed.append(list(job_ids))

    await arq_pool.enqueue_job("noop", "due", _job_id="due")
    await arq_pool.enqueue_job("noop", "later", _job_id="later", _defer_by=60)
    worker = Recording(
        functions=[func(noop, name="noop")], redis_pool=arq_pool, queue_name=QUEUE_NAME, handle_signals=False
    )
    await worker._poll_iteration()
    assert handed == [[b"due"]]


async def test_a_redis_error_in_a_poll_reaches_poll_iteration() -> None:
    unreachable = create_redis("redis://127.0.0.1:1")
    try:
        with pytest.raises((RedisError, OSError)):  # arq lets it end the worker
            await plain_worker(unreachable)._poll_iteration()
        ours = ProbeWorker(functions=[func(noop, name="noop")], redis_pool=unreachable, handle_signals=False)
        await ours._poll_iteration()
        assert len(ours.redis_errors) == 1  # ours hands it to on_redis_error and polls again
    finally:
        await unreachable.aclose()


async def test_with_job_completion_wait_a_stop_signal_waits_and_a_second_one_cancels(
    arq_pool: ArqRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = asyncio.get_running_loop()
    handlers: dict[int, Callable[[], None]] = {}

    def add_signal_handler(signum: int, callback: Callable[..., None], *args: Any) -> None:
        handlers[signum] = functools.partial(callback, *args)

    monkeypatch.setattr(loop, "add_signal_handler", add_signal_handler)
    worker = ProbeWorker(
        functions=[func(noop, name="noop")], redis_pool=arq_pool, handle_signals=True, job_completion_wait=5
    )
    assert set(handlers) == {signal.SIGINT, signal.SIGTERM}
    assert worker._job_completion_wait == 5
    running = asyncio.create_task(asyncio.sleep(30))
    worker.tasks["running"] = running

    handlers[signal.SIGTERM]()  # what arq registered: our handle_sig_wait_for_completion
    (waiting,) = [t for t in asyncio.all_tasks() if "_wait_for_tasks_to_complete" in repr(t.get_coro())]
    for _ in range(3):  # arq's wait has started, and looked at the running job
        await asyncio.sleep(0)
    assert worker.allow_pick_jobs is False and not running.done()  # the job may finish
    assert not waiting.done()

    handlers[signal.SIGTERM]()
    await asyncio.sleep(0)
    assert running.cancelled()  # stopped at once
    worker.tasks.clear()  # lets arq's wait for the running jobs end
    await asyncio.wait_for(waiting, WAIT_S)
