"""At scale: several API processes and workers (PostgreSQL) against bare arq, and SSE fan-out over
several API processes.

    .venv/bin/python bench/bench_scale.py [--quick] [--database sqlite|postgres] [--database-url URL]
        [--api-processes 2] [--workers 2] [--max-jobs 250] [--fanout-api-processes 4] [--part all]

(a) Jobs. `testgen api --workers N` and `testgen worker --processes N` as subprocesses (offline model,
OFFLINE_LLM_DELAY_S per batch). The stories are queued through the API's bulk endpoint, one request per
1,000 stories, one after another, each on a new connection (so the kernel spreads them over the API
processes). Each job makes 3 model calls at once (15 test cases x 3 scenarios). Wall time = just
before the first request -> the last `finished_at` in the database.
Then bare arq does the same shape of work on the same Redis (another queue), on the event loop ours run
on (uvloop where installed): as many plain arq `Worker` processes with the same max_jobs, poll delay and
queue read limit, each job 3 concurrent sleeps of the model latency and as many progress writes (SET +
XADD + EXPIRE of a payload the size of our snapshot, one round trip each, as our Lua script is) as our
jobs made (counted from their event streams), no HTTP, no database; queued with arq's own `enqueue_job`,
1,000 at a time (100 at once).
Wall time = just before the first enqueue -> the last job's `finish_time` in arq's results.

(b) Fan-out. `testgen api --workers N` (no worker: the job stays queued), one job, S raw SSE clients
(`_harness.sse_client`) spread over client processes of at most --clients-per-process connections
each (a process here may hold 20,000 open files). Once every client has the `queued` replay, one
progress event is published with ProgressStore.publish; latency = each client's receive time - the
time just before the publish. RSS = the API processes' VmRSS summed (not the supervisor).

Concurrency (--max-jobs, per worker process, both sides): 250 by default. The product default
(WORKER_MAX_JOBS=50) would make 10,000 one-second jobs on 2 workers take >= 100 s on either side: the
model latency, not the queueing machinery, would set both figures and the comparison would say
nothing. At 250 (500 jobs, 1,500 model calls in flight) the floor is 20 s for 10,000 jobs, so the
per-job cost of each side shows. LLM_MAX_CONCURRENCY is set to 3 x max_jobs (every batch of every
running job at once), so our provider limiter is never what waits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

import httpx
from _harness import (
    PYTHON,
    ROOT,
    Env,
    cpu_s,
    environment,
    free_port,
    pct,
    raise_nofile,
    rss_mb,
    seed_stories,
    sse_client,
    stop,
    table,
    verdict,
    wait_port,
)
from arq.connections import RedisSettings, create_pool
from arq.jobs import deserialize_result
from arq.worker import Worker, func
from redis.asyncio import Redis
from sqlalchemy import func as sql_func
from sqlalchemy import select, text

from testgen.core import event_loop, heap
from testgen.core.config import Settings
from testgen.core.database import create_engine
from testgen.core.redis_keys import API_PROCESSES_KEY, WORKERS_KEY, events_key
from testgen.data.job_states import TERMINAL
from testgen.data.models import GenerationJob
from testgen.streaming.progress_store import ProgressStore

OPTIONS = {"num_test_cases": 15, "scenarios_per_test_case": 3}  # 45 scenarios -> 3 batches of 15
BATCHES = 3
DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BARE_QUEUE = "bench:bare:queue"
BARE_READY = "bench:bare:workers"
BARE_FUNCTION = "bare_job"
BARE_ENQUEUE_AT_ONCE = 100
TARGET_RATIO = 2.0
TARGET_BULK_S = 1.0
TARGET_P99_MS = 1000.0
TARGET_RSS_MB = 1200.0


@dataclass
class Config:
    jobs: int
    bulk: int
    latency: float
    api: int
    workers: int
    max_jobs: int
    fanout_api: int
    subscribers: int
    per_client_process: int
    timeout_s: float
    profile: Path | None = None

    @property
    def poll_delay(self) -> float:
        return float(Settings.model_fields["worker_poll_delay_s"].default)

    @property
    def queue_read_limit(self) -> int:
        return max(self.max_jobs * 5, 200)  # as worker/options.py derives it


# ---------------------------------------------------------------------------------------- processes


@contextmanager
def service(env: Env, args: list[str], **overrides: Any) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m testgen <args>` (a supervisor when N > 1), stopped on exit."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "testgen", *args], env=env.env_vars(**overrides), cwd=ROOT, preexec_fn=raise_nofile
    )
    try:
        yield proc
    finally:
        stop(proc)


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def family(pid: int) -> list[int]:
    """The supervisor's children, or the process itself when it has none (N = 1)."""
    return children(pid) or [pid]


TICK = os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds every process of the machine has used (all cores), from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK  # all but idle and iowait


async def redis_calls(redis: Redis) -> int:
    """Commands Redis has run so far (INFO commandstats; a script's own commands count too)."""
    stats = await redis.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


async def redis_pid(redis: Redis) -> int:
    return int((await redis.info("server"))["process_id"])


async def postgres_backends(engine: Any) -> list[int]:
    """The PostgreSQL server processes serving the bench's database (none on SQLite)."""
    if engine.dialect.name != "postgresql":
        return []
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        return [int(pid) for (pid,) in rows]


class CpuMeter:
    """CPU seconds used between start() and stop() by groups of processes, by this process (the
    bench's client) and by the whole machine (everything, other users' processes included)."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.base: dict[str, float] = {}

    def start(self) -> None:
        self.base = {name: cpu_s(pids) for name, pids in self.groups.items()}
        self.base["bench client"] = time.process_time()
        self.base["machine"] = machine_busy_s()
        self.base["wall"] = time.monotonic()

    def stop(self, **cumulative: float) -> dict[str, float]:
        """The deltas, plus `cumulative` figures (processes born during the run) as given."""
        used = {name: cpu_s(pids) - self.base[name] for name, pids in self.groups.items()}
        used.update(cumulative)
        used["bench client"] = time.process_time() - self.base["bench client"]
        used["machine"] = machine_busy_s() - self.base["machine"]
        used["wall"] = time.monotonic() - self.base["wall"]
        return used


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except FileNotFoundError:
        return 0


async def wait_members(
    redis: Redis, key: str, count: int, since: float, procs: list[Any], what: str, limit_s: float = 90
) -> None:
    """Until `count` members of sorted set `key` have a score (a time) after `since`."""
    deadline = time.monotonic() + limit_s
    while await redis.zcount(key, since, "+inf") < count:
        dead = [
            p for p in procs if (p.poll() if isinstance(p, subprocess.Popen) else p.returncode) is not None
        ]
        if dead:
            raise RuntimeError(f"{what}: a process exited while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: {count} processes not ready after {limit_s:.0f} s")
        await asyncio.sleep(0.1)


class RssSampler:
    """Peak summed VmRSS of each group of processes, every 0.2 s, in the background."""

    def __init__(self, groups: dict[str, int]) -> None:
        self.groups = groups
        self.peak = dict.fromkeys(groups, 0.0)
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            for name, pid in self.groups.items():
                self.peak[name] = max(self.peak[name], rss_mb(family(pid)))
            await asyncio.sleep(0.2)

    def __enter__(self) -> RssSampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()


@contextmanager
def profiled(cfg: Config, targets: dict[str, int], seconds: float | None = None) -> Iterator[None]:
    """With --profile DIR: py-spy samples each target process (collapsed stacks in DIR/<name>.txt,
    for flame graphs or a plain sort) for `seconds`, or until the block ends; it is given 1 s to
    attach first."""
    if cfg.profile is None:
        yield
        return
    cfg.profile.mkdir(parents=True, exist_ok=True)
    py_spy = str(Path(PYTHON).parent / "py-spy")
    options = ["--format", "raw", "--rate", "100", "--nonblocking"]
    options += ["--duration", f"{seconds:.0f}"] if seconds else []
    spies = [
        subprocess.Popen(
            [py_spy, "record", *options, "--pid", str(pid), "--output", str(cfg.profile / f"{name}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in targets.items()
    ]
    time.sleep(1.0)
    try:
        yield
    finally:
        for process in spies:
            if not seconds:
                process.send_signal(signal.SIGINT)
            try:
                process.wait((seconds or 0) + 10)
            except subprocess.TimeoutExpired:
                process.kill()


def chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def aware(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


# ------------------------------------------------------------------------------------- (a) ours


async def run_ours(env: Env, cfg: Config, redis: Redis) -> dict[str, Any]:
    stories = await seed_stories(env.database_url, cfg.jobs, prefix="S")
    overrides = {
        "offline_llm_delay_s": cfg.latency,
        "worker_max_jobs": cfg.max_jobs,
        "llm_max_concurrency": BATCHES * cfg.max_jobs,
    }
    port = free_port()
    since = time.time()
    engine = create_engine(env.database_url)
    latencies: list[float] = []
    task_ids: list[str] = []
    finished = False
    try:
        with (
            service(env, ["api", "--workers", str(cfg.api), "--port", str(port)], **overrides) as api,
            service(env, ["worker", "--processes", str(cfg.workers)], **overrides) as workers,
        ):
            await asyncio.to_thread(wait_port, port, api, 90)
            await wait_members(redis, API_PROCESSES_KEY, cfg.api, since, [api], "API")
            await wait_members(redis, WORKERS_KEY, cfg.workers, since, [workers], "workers")
            meter = CpuMeter(
                {"API": family(api.pid), "workers": family(workers.pid), "Redis": [await redis_pid(redis)]}
            )
            with (
                RssSampler({"api": api.pid, "workers": workers.pid}) as rss,
                profiled(cfg, {"jobs-api": family(api.pid)[0], "jobs-worker": family(workers.pid)[0]}),
            ):
                calls = await redis_calls(redis)
                meter.start()
                t0 = dt.datetime.now(dt.UTC)
                started = time.monotonic()
                limits = httpx.Limits(max_keepalive_connections=0)  # a new connection per request
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits, trust_env=False
                ) as http:
                    for chunk in chunks(stories, cfg.bulk):
                        sent = time.perf_counter()
                        r = await http.post(
                            "/generate-test-cases/queue", json={"story_ids": chunk, **OPTIONS}
                        )
                        latencies.append(time.perf_counter() - sent)
                        if r.status_code != 202 or r.json()["created"] != len(chunk):
                            raise RuntimeError(f"bulk enqueue answered {r.status_code}: {r.text[:300]}")
                        task_ids += [job["task_id"] for job in r.json()["jobs"]]
                queued_s = time.monotonic() - started
                deadline = started + cfg.timeout_s
                while time.monotonic() < deadline:
                    async with engine.connect() as conn:
                        done = await conn.scalar(
                            select(sql_func.count())
                            .select_from(GenerationJob)
                            .where(GenerationJob.status.in_(TERMINAL))
                        )
                    if (done or 0) >= cfg.jobs:
                        finished = True
                        break
                    await asyncio.sleep(0.25)
                backends = await postgres_backends(engine)
                cpu = meter.stop(**({"PostgreSQL": cpu_s(backends)} if backends else {}))
                calls = await redis_calls(redis) - calls
        async with engine.connect() as conn:
            rows = (await conn.execute(select(GenerationJob.status, GenerationJob.finished_at))).all()
    finally:
        await engine.dispose()
    completed = [aware(f) for status, f in rows if status == "completed" and f is not None]
    wall = (max(completed) - t0).total_seconds() if completed else float("nan")
    writes, payload = await count_writes(redis, task_ids)
    return {
        "wall": wall,
        "finished": finished,
        "not_completed": cfg.jobs - len(completed),
        "latencies": latencies,
        "queued_s": queued_s,
        "peak": rss.peak,
        "cpu": cpu,
        "calls": calls,
        "writes": writes,
        "payload": payload,
    }


async def count_writes(redis: Redis, task_ids: list[str]) -> tuple[int, int]:
    """Progress writes per job made by the worker (every event but the API's `queued`), from the
    event streams of a sample of jobs; and the mean size of one snapshot."""
    sample = task_ids[:: max(1, len(task_ids) // 50)]
    async with redis.pipeline(transaction=False) as pipe:
        for task_id in sample:
            pipe.xlen(events_key(task_id))
        lengths = await pipe.execute()
    counts = sorted(set(lengths))
    if len(counts) != 1:
        print(f"note: jobs made different numbers of progress writes: {counts}; using the largest")
    entries = await redis.xrange(events_key(sample[0]))
    payload = round(sum(len(fields[b"data"]) for _, fields in entries) / max(1, len(entries)))
    return max(counts) - 1, payload


# --------------------------------------------------------------------------------- (a) bare arq


def bare_worker_main(args: argparse.Namespace) -> int:
    """One plain arq worker process: the same shape of work as our generation job, nothing else."""
    data = "x" * args.payload
    writes = args.writes
    before, after = max(0, writes - BATCHES - 2), min(2, max(0, writes - BATCHES))

    async def startup(ctx: dict[str, Any]) -> None:
        await ctx["redis"].zadd(BARE_READY, {str(os.getpid()): time.time()})

    async def bare_job(ctx: dict[str, Any], task_id: str) -> str:
        redis = ctx["redis"]

        async def write(event: str) -> None:
            async with redis.pipeline(transaction=False) as pipe:
                pipe.set(f"bench:bare:state:{task_id}", data, ex=3600)
                pipe.xadd(
                    f"bench:bare:events:{task_id}",
                    {"event": event, "data": data},
                    maxlen=1000,
                    approximate=True,
                )
                pipe.expire(f"bench:bare:events:{task_id}", 3600)
                await pipe.execute()

        lock = asyncio.Lock()

        async def batch() -> None:
            await asyncio.sleep(args.latency)
            async with lock:
                await write("progress")

        for _ in range(before):
            await write("progress")
        await asyncio.gather(*(batch() for _ in range(min(BATCHES, writes))))
        for _ in range(after):
            await write("progress")
        return "completed"

    # On the event loop our workers run on (EVENT_LOOP's default), so that the loop is not the difference.
    asyncio.set_event_loop(event_loop.new_event_loop(Settings.model_fields["event_loop"].default))
    Worker(
        functions=[func(bare_job, name=BARE_FUNCTION)],
        redis_settings=RedisSettings.from_dsn(args.redis_url),
        queue_name=BARE_QUEUE,
        max_jobs=args.max_jobs,
        poll_delay=args.poll_delay,
        queue_read_limit=args.queue_read_limit,
        on_startup=startup,
        keep_result=3600,
    ).run()
    return 0


def start_processes(command: list[str], copies: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen(command, cwd=ROOT, preexec_fn=raise_nofile) for _ in range(copies)]


async def run_bare(env: Env, cfg: Config, redis: Redis, writes: int, payload: int) -> dict[str, Any]:
    since = time.time()
    command = [
        PYTHON,
        __file__,
        "--role=bare-worker",
        f"--redis-url={env.redis_url}",
        f"--max-jobs={cfg.max_jobs}",
        f"--poll-delay={cfg.poll_delay}",
        f"--queue-read-limit={cfg.queue_read_limit}",
        f"--writes={writes}",
        f"--payload={payload}",
        f"--latency={cfg.latency}",
    ]
    procs = start_processes(command, cfg.workers)
    ids = [f"bare-{i:05d}" for i in range(cfg.jobs)]
    latencies: list[float] = []
    pool = await create_pool(RedisSettings.from_dsn(env.redis_url))
    finished = False
    try:
        await wait_members(redis, BARE_READY, cfg.workers, since, procs, "bare arq workers")
        meter = CpuMeter({"workers": [p.pid for p in procs], "Redis": [await redis_pid(redis)]})
        with (
            RssSampler({f"w{i}": p.pid for i, p in enumerate(procs)}) as rss,
            profiled(cfg, {"bare-worker": procs[0].pid}),
        ):
            calls = await redis_calls(redis)
            meter.start()
            t0 = dt.datetime.now(dt.UTC)
            started = time.monotonic()
            gate = asyncio.Semaphore(BARE_ENQUEUE_AT_ONCE)

            async def enqueue(ident: str) -> None:
                async with gate:
                    job = await pool.enqueue_job(BARE_FUNCTION, ident, _job_id=ident, _queue_name=BARE_QUEUE)
                    if job is None:
                        raise RuntimeError(f"arq refused job {ident}")

            for chunk in chunks(ids, cfg.bulk):
                sent = time.perf_counter()
                await asyncio.gather(*(enqueue(ident) for ident in chunk))
                latencies.append(time.perf_counter() - sent)
            queued_s = time.monotonic() - started
            deadline = started + cfg.timeout_s
            while time.monotonic() < deadline:
                done = 0
                for chunk in chunks(ids, 1000):
                    done += await redis.exists(*[f"arq:result:{ident}" for ident in chunk])
                if done >= cfg.jobs:
                    finished = True
                    break
                await asyncio.sleep(0.25)
            cpu = meter.stop()
            calls = await redis_calls(redis) - calls
        finishes: list[dt.datetime] = []
        failed = 0
        for chunk in chunks(ids, 1000):
            for raw in await redis.mget([f"arq:result:{ident}" for ident in chunk]):
                if raw is None:
                    continue
                result = deserialize_result(raw)
                if result.success:
                    finishes.append(result.finish_time)
                else:
                    failed += 1
    finally:
        await pool.aclose()
        for proc in procs:
            stop(proc)
    peak = sum(rss.peak.values())
    return {
        "wall": (max(finishes) - t0).total_seconds() if finishes else float("nan"),
        "finished": finished,
        "not_completed": cfg.jobs - len(finishes),
        "latencies": latencies,
        "queued_s": queued_s,
        "peak": {"api": 0.0, "workers": peak},
        "cpu": cpu,
        "calls": calls,
    }


# ------------------------------------------------------------------------------------- (b) fan-out


async def sse_clients_main(args: argparse.Namespace) -> int:
    """A client process: --count SSE clients of --path; protocol on stdin/stdout (one line each):
    prints `ready <connected> <failed>`, waits for `go`, then prints the receive times as JSON."""
    raise_nofile()
    heap.settle()
    count = args.count
    state = {"connected": 0, "failed": 0}
    times: list[float] = []
    everyone = asyncio.Event()

    def on_event(event: str, _ident: str, at: float) -> None:
        if event == "queued":
            state["connected"] += 1
        elif event == "progress":
            times.append(at)
            if len(times) >= count - state["failed"]:
                everyone.set()

    def on_done(task: asyncio.Task[None]) -> None:
        if task.cancelled() or task.exception() is not None:
            state["failed"] += 1

    tasks: list[asyncio.Task[None]] = []
    for start in range(0, count, 250):  # stay under the listen backlog
        for _ in range(start, min(count, start + 250)):
            task = asyncio.create_task(sse_client(args.port, args.path, on_event))
            task.add_done_callback(on_done)
            tasks.append(task)
        deadline = time.monotonic() + 60
        while state["connected"] + state["failed"] < len(tasks) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    print(f"ready {state['connected']} {state['failed']}", flush=True)
    line = await asyncio.to_thread(sys.stdin.readline)
    if line.strip() == "go":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), args.wait_s)
    print(json.dumps({"times": times, "failed": state["failed"]}), flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # stay alive (for the CPU figures) until told
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return 0


async def run_fanout(env: Env, cfg: Config, redis: Redis) -> dict[str, Any]:
    story = (await seed_stories(env.database_url, 1, prefix="F"))[0]
    port = free_port()
    since = time.time()
    n = cfg.subscribers
    with service(env, ["api", "--workers", str(cfg.fanout_api), "--port", str(port)]) as api:
        await asyncio.to_thread(wait_port, port, api, 90)
        await wait_members(redis, API_PROCESSES_KEY, cfg.fanout_api, since, [api], "API")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=30, trust_env=False
        ) as http:
            r = await http.post(f"/generate-test-cases/{story}/queue", json={})
            r.raise_for_status()
            task = r.json()["task_id"]
        pids = family(api.pid)
        rss_idle = rss_mb(pids)
        files_idle = {pid: open_files(pid) for pid in pids}
        shares = [n // math.ceil(n / cfg.per_client_process)] * math.ceil(n / cfg.per_client_process)
        shares[0] += n - sum(shares)
        clients = [
            await asyncio.create_subprocess_exec(
                PYTHON,
                __file__,
                "--role=sse-clients",
                f"--port={port}",
                f"--path=/generate-test-cases/status/{task}/events",
                f"--count={share}",
                "--wait-s=30",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                cwd=ROOT,
                limit=2**26,
                preexec_fn=raise_nofile,
            )
            for share in shares
        ]
        try:
            connected = failed = 0
            for client in clients:
                assert client.stdout is not None
                line = (await asyncio.wait_for(client.stdout.readline(), 300)).decode().split()
                if not line or line[0] != "ready":
                    raise RuntimeError("an SSE client process exited before its clients connected")
                connected, failed = connected + int(line[1]), failed + int(line[2])
            rss = rss_mb(pids)
            spread = [open_files(pid) - files_idle[pid] for pid in pids]
            store = ProgressStore(redis, 3600)
            snapshot = await store.get(task)
            assert snapshot is not None
            snapshot["progress"] = 1
            meter = CpuMeter(
                {"API": pids, "clients": [c.pid for c in clients], "Redis": [await redis_pid(redis)]}
            )
            with profiled(cfg, {"fanout-api": pids[0], "fanout-clients": clients[0].pid}, 5):
                meter.start()
                t0 = time.time()
                await store.publish(snapshot, "progress")
            for client in clients:
                assert client.stdin is not None
                client.stdin.write(b"go\n")
                await client.stdin.drain()
            times: list[float] = []
            late_failures = 0
            for client in clients:
                assert client.stdout is not None
                answer = json.loads(await asyncio.wait_for(client.stdout.readline(), 120))
                times += answer["times"]
                late_failures += answer["failed"]
            cpu = meter.stop()
            for client in clients:
                assert client.stdin is not None
                client.stdin.close()
        finally:
            for client in clients:
                if client.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        client.kill()
                await client.wait()
    latencies = [(t - t0) * 1000 for t in times]
    return {
        "n": n,
        "api": len(pids),
        "client_procs": len(clients),
        "connected": connected,
        "failed": max(failed, late_failures),
        "spread": spread,
        "rss_idle": rss_idle,
        "rss": rss,
        "lat": latencies,
        "lost": n - len(latencies),
        "cpu": cpu,
    }


# ---------------------------------------------------------------------------------------- report


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}"


def report_jobs(cfg: Config, database: str, ours: dict[str, Any], bare: dict[str, Any]) -> bool:
    print(
        f"(a) {cfg.jobs:,} jobs x {BATCHES} batches, model latency {cfg.latency:g} s, {database}; "
        f"{cfg.api} API processes, {cfg.workers} worker processes, max_jobs {cfg.max_jobs} per worker "
        f"(LLM_MAX_CONCURRENCY {BATCHES * cfg.max_jobs}); {ours['writes']} progress writes per job "
        f"(+ `queued`), snapshot {ours['payload']} bytes"
    )
    floor = math.ceil(cfg.jobs / (cfg.workers * cfg.max_jobs)) * cfg.latency
    rows = []
    for name, r in (("testgen (HTTP bulk enqueue, DB, SSE state)", ours), ("bare arq (enqueue_job)", bare)):
        lat = r["latencies"]
        rows.append(
            [
                name,
                f"{ms(median(lat))} / {ms(max(lat))}",
                f"{r['queued_s']:.1f}",
                f"{r['wall']:.1f}",
                f"{cfg.jobs / r['wall']:.0f}",
                f"{r['peak']['api']:.0f}" if r["peak"]["api"] else "-",
                f"{r['peak']['workers']:.0f}",
                r["not_completed"],
            ]
        )
    table(
        [
            "run",
            f"enqueue {cfg.bulk:,} ms p50 / max",
            "all queued s",
            "wall s",
            "jobs/s",
            "peak RSS API MB",
            "peak RSS workers MB",
            "not completed",
        ],
        rows,
    )
    parts = ["API", "workers", "Redis", "PostgreSQL", "bench client"]
    cpu_rows = []
    for name, r in (("testgen", ours), ("bare arq", bare)):
        cpu = r["cpu"]
        service = sum(cpu.get(k, 0.0) for k in parts[:4])
        cpu_rows.append(
            [
                name,
                *[f"{cpu[k]:.1f}" if k in cpu else "-" for k in parts],
                f"{cpu['machine'] - service - cpu['bench client']:.1f}",
                f"{cpu['machine']:.1f} of {cpu['wall'] * (os.cpu_count() or 1):.0f}",
                f"{service / cfg.jobs * 1000:.1f}",
            ]
        )
    print("CPU seconds from the first enqueue to the last job done:")
    table(
        ["run", *parts, "rest of machine", "machine busy of available", "service CPU ms per job"],
        cpu_rows,
    )
    print(
        f"Redis commands per job (INFO commandstats, a script's own commands included, the bench's "
        f"polling too): testgen {ours['calls'] / cfg.jobs:.1f}, bare arq {bare['calls'] / cfg.jobs:.1f}"
    )
    print(f"bulk requests ({cfg.bulk:,} stories each), ms: {', '.join(ms(x) for x in ours['latencies'])}")
    print(f"floor (jobs / (workers x max_jobs) x latency): {floor:.1f} s")
    ratio = ours["wall"] / bare["wall"]
    cores = os.cpu_count() or 1
    bounds = []
    for r in (ours, bare):
        need = sum(r["cpu"].get(k, 0.0) for k in parts)  # everything the run itself used
        bounds.append(max(floor, need / cores))
    print(
        f"lower bounds with the {cores} cores to ourselves (max of the latency floor and the run's own "
        f"CPU / {cores}): testgen {bounds[0]:.1f} s, bare arq {bounds[1]:.1f} s "
        f"-> {bounds[0] / bounds[1]:.2f}x"
    )
    slowest = max(ours["latencies"])
    print(f"ours / bare arq: {ratio:.2f}x")
    full = cfg.jobs >= 10_000
    if full:
        print(f"target: within {TARGET_RATIO:g}x of bare arq {verdict(ratio <= TARGET_RATIO)} ({ratio:.2f}x)")
        if database == "postgres" and cfg.bulk == 1000:
            print(
                f"target: 1,000 stories per bulk request < {TARGET_BULK_S:g} s on PostgreSQL "
                f"{verdict(slowest < TARGET_BULK_S)} (slowest {ms(slowest)} ms)"
            )
    return bool(ours["not_completed"] == 0 and bare["not_completed"] == 0)


def report_fanout(cfg: Config, r: dict[str, Any]) -> bool:
    print(
        f"(b) SSE fan-out: {r['n']:,} subscribers of one job over {r['api']} API processes, "
        f"{r['client_procs']} client processes, one event"
    )
    table(
        [
            "subscribers",
            "connected",
            "per API process",
            "RSS idle MB",
            "RSS MB",
            "p50 ms",
            "p99 ms",
            "max ms",
            "lost",
        ],
        [
            [
                r["n"],
                r["connected"],
                "/".join(str(x) for x in r["spread"]),
                f"{r['rss_idle']:.0f}",
                f"{r['rss']:.0f}",
                f"{pct(r['lat'], 50):.0f}",
                f"{pct(r['lat'], 99):.0f}",
                f"{max(r['lat'], default=float('nan')):.0f}",
                r["lost"],
            ]
        ],
    )
    cpu = r["cpu"]
    ours = cpu["API"] + cpu["clients"] + cpu["Redis"] + cpu["bench client"]
    print(
        f"CPU seconds from the publish to the clients' answers ({cpu['wall']:.2f} s wall, "
        f"{cpu['wall'] * (os.cpu_count() or 1):.2f} available): API processes {cpu['API']:.2f}, "
        f"client processes {cpu['clients']:.2f}, Redis {cpu['Redis']:.2f}, "
        f"rest of machine {cpu['machine'] - ours:.2f}"
    )
    cores = os.cpu_count() or 1
    print(
        f"lower bound for the last delivery with the {cores} cores to ourselves: "
        f"(API + clients CPU) / {cores} = {(cpu['API'] + cpu['clients']) / cores * 1000:.0f} ms"
    )
    if r["n"] >= 20_000:
        p99 = pct(r["lat"], 99)
        print(
            f"targets: p99 < {TARGET_P99_MS:g} ms {verdict(p99 < TARGET_P99_MS)} ({p99:.0f}), "
            f"RSS < {TARGET_RSS_MB:g} MB {verdict(r['rss'] < TARGET_RSS_MB)} ({r['rss']:.0f}), "
            f"lost 0 {verdict(r['lost'] == 0)} ({r['lost']})"
        )
    return bool(r["lost"] == 0)


# ------------------------------------------------------------------------------------------ main


async def bench(cfg: Config, env: Env, part: str, database: str) -> bool:
    redis = Redis.from_url(env.redis_url)
    ok = True
    try:
        if part in ("all", "jobs"):
            ours = await run_ours(env, cfg, redis)
            bare = await run_bare(env, cfg, redis, ours["writes"], ours["payload"])
            ok = report_jobs(cfg, database, ours, bare) and ok
        if part in ("all", "fanout"):
            ok = report_fanout(cfg, await run_fanout(env, cfg, redis)) and ok
    finally:
        await redis.aclose()
    return ok


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a CI-sized run (< 60 s)")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgres"],
        help="default: postgres, or in --quick mode sqlite unless TEST_DATABASE_URL is set",
    )
    parser.add_argument(
        "--database-url",
        help="a URL of the PostgreSQL server (a fresh database is created on it and dropped); "
        f"default TEST_DATABASE_URL, else {DEFAULT_POSTGRES}",
    )
    parser.add_argument("--api-processes", type=int, default=2, help="API processes for (a) (default 2)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes, both sides of (a) (default 2)"
    )
    parser.add_argument(
        "--max-jobs", type=int, default=250, help="jobs at once per worker process (default 250)"
    )
    parser.add_argument(
        "--fanout-api-processes", type=int, default=4, help="API processes for (b) (default 4)"
    )
    parser.add_argument("--jobs", type=int, help="default 10,000 (quick 300)")
    parser.add_argument("--latency", type=float, help="model latency per batch, s (default 1, quick 0.2)")
    parser.add_argument(
        "--subscribers", type=int, help="SSE subscribers for (b) (default 20,000, quick 2,000)"
    )
    parser.add_argument("--part", choices=["all", "jobs", "fanout"], default="all")
    parser.add_argument(
        "--profile", type=Path, help="run py-spy (pip install py-spy) on one process of each kind into DIR"
    )
    # The roles of the benchmark's own child processes.
    hidden = argparse.SUPPRESS
    parser.add_argument("--role", choices=["bare-worker", "sse-clients"], help=hidden)
    parser.add_argument("--redis-url", help=hidden)
    parser.add_argument("--poll-delay", type=float, help=hidden)
    parser.add_argument("--queue-read-limit", type=int, help=hidden)
    parser.add_argument("--writes", type=int, help=hidden)
    parser.add_argument("--payload", type=int, help=hidden)
    parser.add_argument("--port", type=int, help=hidden)
    parser.add_argument("--path", help=hidden)
    parser.add_argument("--count", type=int, help=hidden)
    parser.add_argument("--wait-s", type=float, help=hidden)
    return parser.parse_args()


def main() -> int:
    args = parse()
    if args.role == "bare-worker":
        return bare_worker_main(args)
    if args.role == "sse-clients":
        return asyncio.run(sse_clients_main(args))
    quick = args.quick
    bounds = {  # everything the bench starts is bounded in count (and each wait in time)
        "--jobs": (args.jobs, 1, 50_000),
        "--subscribers": (args.subscribers, 1, 25_000),  # one loopback port each (28,231 here)
        "--api-processes": (args.api_processes, 1, 16),
        "--fanout-api-processes": (args.fanout_api_processes, 1, 16),
        "--workers": (args.workers, 1, 16),
        "--max-jobs": (args.max_jobs, 1, 2000),
    }
    for flag, (value, low, high) in bounds.items():
        if value is not None and not low <= value <= high:
            print(f"bench_scale: {flag} must be from {low} to {high}, got {value}", file=sys.stderr)
            return 2
    server = args.database_url or os.environ.get("TEST_DATABASE_URL")
    database = args.database or ("sqlite" if quick and not server else "postgres")
    jobs = args.jobs or (300 if quick else 10_000)
    cfg = Config(
        jobs=jobs,
        bulk=100 if quick else 1000,
        latency=args.latency if args.latency is not None else (0.2 if quick else 1.0),
        api=args.api_processes,
        workers=args.workers,
        max_jobs=args.max_jobs,
        fanout_api=args.fanout_api_processes,
        subscribers=args.subscribers or (2000 if quick else 20_000),
        per_client_process=1000 if quick else 5000,
        timeout_s=120 if quick else 900,
        profile=args.profile,
    )
    machine = f"nproc {os.cpu_count()}, load {os.getloadavg()[0]:.1f} at start"
    with environment((server or DEFAULT_POSTGRES) if database == "postgres" else None) as env:
        ok = asyncio.run(bench(cfg, env, args.part, database))
    print(f"machine: {machine} (shared: every figure is a floor for a bigger box)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
