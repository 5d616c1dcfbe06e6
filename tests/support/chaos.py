"""Chaos run of the whole topology: API processes and workers on one Redis and one database, with
faults, and every job and every client's event stream checked afterwards.

    .venv/bin/python -m tests.support.chaos [--jobs 500] [--clients 200] [--api 2] [--workers 3]
                                    [--database-url postgresql+asyncpg://…] [--delay 0.5]

`tests/processes/test_chaos.py` runs it in a short mode in the test suite. Faults, while jobs are queued and
run: a random worker is SIGKILLed and started again every `kill_every_s`; Redis is stopped and
started again once (its data kept, as a restart does); one API process is SIGKILLed and started
again once. The jobs are queued through the API's bulk endpoint in several batches over the first
seconds; each SSE client follows one batch on its multiplexed stream and, when the stream breaks or
ends early, reconnects by itself with the latest position of each job (Last-Event-ID), as
EventSource does.

Checks, once every job has ended:
- every story has exactly one job and it completed, with exactly one `completed` event (the last)
  in its Redis stream and the test cases asked for;
- every client saw, for every job of its batch, exactly the job's Redis stream (XRANGE): no gap, no
  duplicate, nothing out of order;
- saving each draft twice gives one 201 and one 409.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from redis.asyncio import Redis
from sqlalchemy import func, insert, select

from testgen.core import embedded_redis
from testgen.core.database import create_engine
from testgen.core.redis_keys import events_key
from testgen.data import migrations
from testgen.data.models import GenerationJob, Project, UserStory

TERMINAL_EVENTS = ("completed", "failed", "cancelled")
OPTIONS = {"num_test_cases": 6, "scenarios_per_test_case": 2}  # 12 scenarios: 3 batches of 4
BATCH_MAX_SCENARIOS = 4


@dataclass
class Plan:
    jobs: int = 500
    clients: int = 200
    api_processes: int = 2
    workers: int = 3
    delay_s: float = 0.5  # the offline model's latency per batch
    batches: int = 10  # bulk enqueue requests, one per `enqueue_every_s`
    enqueue_every_s: float = 1.0
    kill_every_s: float = 5.0
    chaos_s: float = 30.0  # worker kills go on this long
    redis_restart_at_s: float = 8.0
    api_kill_at_s: float = 14.0
    deadline_s: float = 180.0  # every job must have ended by then


@dataclass
class Report:
    seconds: float = 0.0
    worker_kills: int = 0
    redis_restarts: int = 0
    api_kills: int = 0
    enqueue_retries: int = 0
    reconnects: int = 0
    jobs: int = 0
    completed: int = 0
    followers: int = 0
    exact: int = 0
    saves: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.jobs} jobs, {self.completed} completed exactly once; {self.followers} (client, job) "
            f"streams, {self.exact} identical to XRANGE; saves {self.saves}; faults: {self.worker_kills} "
            f"worker kills, {self.redis_restarts} Redis restart, {self.api_kills} API kill; "
            f"{self.reconnects} client reconnects, {self.enqueue_retries} enqueue retries; "
            f"{self.seconds:.1f} s"
        )


class Topology:
    """The processes of one run, each restartable: API processes on one port, workers, Redis."""

    def __init__(self, tmp: Path, database_url: str, plan: Plan) -> None:
        self.tmp = tmp
        self.database_url = database_url
        self.plan = plan
        self.redis_port = embedded_redis.free_port()
        self.port = embedded_redis.free_port()
        self.redis: embedded_redis.EmbeddedRedis | None = None
        self.apis: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GEMINI_", "OPENAI_", "API_KEYS"))}
        env.update(
            DATABASE_URL=self.database_url,
            REDIS_URL=self.redis_url,
            DATA_DIR=str(self.tmp / "data"),
            LLM_PROVIDER="offline",
            OFFLINE_LLM_DELAY_S=str(self.plan.delay_s),
            BATCH_MAX_SCENARIOS=str(BATCH_MAX_SCENARIOS),
            LOG_LEVEL="WARNING",
            RATE_LIMIT_PER_MINUTE="0",
            MAX_JOBS_IN_FLIGHT_PER_KEY="0",
            MAX_STREAMS_PER_KEY="0",
            SSE_PING_INTERVAL_S="2",
            NO_PROXY="127.0.0.1,localhost",
        )
        return env

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "testgen", *args],
            env=self.env(),
            cwd=self.tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start_redis(self) -> None:
        self.redis = embedded_redis.start(data_dir=self.tmp / "redis", port=self.redis_port, persist=True)

    def start_api(self) -> subprocess.Popen[bytes]:
        return self._spawn("api", "--port", str(self.port), "--reuse-port")

    def start_worker(self) -> subprocess.Popen[bytes]:
        return self._spawn("worker")

    def start(self) -> None:
        self.start_redis()
        self.apis = [self.start_api() for _ in range(self.plan.api_processes)]
        self.workers = [self.start_worker() for _ in range(self.plan.workers)]

    def stop(self) -> None:
        for proc in [*self.apis, *self.workers]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.apis, *self.workers]:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self.redis is not None:
            self.redis.stop()


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


async def seed(database_url: str, n: int) -> list[str]:
    engine = create_engine(database_url)
    ids = [f"CH-{i:05d}" for i in range(n)]
    criteria = ["A reset link is emailed", "The link expires after 1 hour", "Old passwords are rejected"]
    try:
        async with engine.begin() as conn:
            project = (await conn.execute(insert(Project).values(name="chaos"))).inserted_primary_key[0]  # type: ignore[index]
            rows = [
                {"id": i, "project_id": project, "title": f"Story {i}", "acceptance_criteria": criteria}
                for i in ids
            ]
            for start in range(0, len(rows), 500):
                await conn.execute(insert(UserStory), rows[start : start + 500])
    finally:
        await engine.dispose()
    return ids


async def jobs_of(database_url: str) -> dict[str, list[tuple[str, str]]]:
    """story id -> [(task id, status)] from the database."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(select(GenerationJob.story_id, GenerationJob.id, GenerationJob.status))
            found: dict[str, list[tuple[str, str]]] = {}
            for story, task, status in rows:
                found.setdefault(str(story), []).append((task, status))
            return found
    finally:
        await engine.dispose()


async def active_count(database_url: str) -> int:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).where(GenerationJob.status.in_(["queued", "started", "generating"]))
            return int((await conn.execute(query)).scalar_one())
    finally:
        await engine.dispose()


class Client:
    """An SSE client of one batch's multiplexed stream that reconnects by itself, as EventSource
    does, sending the latest position of every job it follows."""

    def __init__(self, port: int, events_url: str, tasks: list[str], report: Report) -> None:
        self.port = port
        self.events_url = events_url
        self.tasks = set(tasks)
        self.report = report
        self.seen: dict[str, list[tuple[str, str]]] = {task: [] for task in tasks}
        self.ended: set[str] = set()

    def cursor(self) -> str:
        return ";".join(f"{task}={events[-1][0]}" for task, events in self.seen.items() if events)

    async def run(self, deadline: float) -> None:
        retry_s = 1.0
        while len(self.ended) < len(self.tasks) and time.monotonic() < deadline:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError, ConnectionError):
                done = await self._read_once()
                if done:
                    return
            self.report.reconnects += 1
            await asyncio.sleep(retry_s * random.uniform(0.5, 1.0))

    async def _read_once(self) -> bool:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**22)
        cursor = self.cursor()
        header = f"Last-Event-ID: {cursor}\r\n" if cursor else ""
        request = f"GET {self.events_url} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        writer.write(f"{request}{header}\r\n".encode())
        try:
            status = await reader.readline()
            if b" 204 " in status:
                return True
            if b" 200 " not in status:
                return False  # 503 while Redis is down, and the like: come back later
            ident, rest = "", b""
            while chunk := await reader.read(2**16):
                *lines, rest = (rest + chunk).split(b"\n")
                for line in lines:
                    if line.startswith(b"id: "):
                        ident = line[4:].strip().decode()
                    elif line.startswith(b"event: "):
                        task, _, entry = ident.partition("=")
                        event = line[7:].strip().decode()
                        self.seen[task].append((entry, event))
                        if event in TERMINAL_EVENTS:
                            self.ended.add(task)
                    elif line == b"0\r":
                        return False
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def wait_until_answers(base: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=base, timeout=5) as http:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/health")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API at {base} did not answer within {timeout_s} s")
            await asyncio.sleep(0.1)


async def enqueue(
    http: httpx.AsyncClient, database_url: str, stories: list[str], report: Report
) -> tuple[str, list[str]]:
    """Queue `stories` in one bulk request, retrying through faults; returns the events URL that
    follows them all and their task ids. A retry asks only for the stories that have no job yet (an
    answer lost with a killed API process may have queued them); those found are followed by id."""
    wanted, found = list(stories), list[str]()
    while wanted:
        try:
            r = await http.post("/generate-test-cases/queue", json={"story_ids": wanted, **OPTIONS})
            if r.status_code in (200, 202):
                body = r.json()
                extra = "".join(f"&task_id={task}" for task in found)
                return body["events_url"] + extra, found + [job["task_id"] for job in body["jobs"]]
        except httpx.HTTPError:
            pass
        report.enqueue_retries += 1
        await asyncio.sleep(0.5)
        have = await jobs_of(database_url)
        found += [have[story][0][0] for story in wanted if story in have]
        wanted = [story for story in wanted if story not in have]
    return "/generate-test-cases/events?" + "&".join(f"task_id={task}" for task in found), found


async def chaos(plan: Plan, database_url: str | None = None) -> Report:
    report = Report()
    with tempfile.TemporaryDirectory(prefix="testgen-chaos-") as tmp_name:
        tmp = Path(tmp_name)
        url = database_url or f"sqlite+aiosqlite:///{tmp / 'chaos.db'}"
        with ThreadPoolExecutor(1) as pool:  # alembic's env.py calls asyncio.run()
            pool.submit(migrations.upgrade, url).result()
        stories = await seed(url, plan.jobs)
        topology = Topology(tmp, url, plan)
        topology.start()
        try:
            await _run(topology, plan, url, stories, report)
        finally:
            topology.stop()
    return report


async def _run(topology: Topology, plan: Plan, url: str, stories: list[str], report: Report) -> None:
    base = f"http://127.0.0.1:{topology.port}"
    await wait_until_answers(base)
    started = time.monotonic()
    deadline = started + plan.deadline_s
    follows: list[asyncio.Task[None]] = []
    clients: list[Client] = []
    per_batch = -(-plan.jobs // plan.batches)
    clients_per_batch = max(1, plan.clients // plan.batches)

    async def faults() -> None:
        at = lambda s: started + s  # noqa: E731
        redis_done = api_done = False
        next_kill = at(plan.kill_every_s)
        while time.monotonic() < at(plan.chaos_s):
            now = time.monotonic()
            if not redis_done and now >= at(plan.redis_restart_at_s):
                assert topology.redis is not None
                topology.redis.stop()
                await asyncio.sleep(1.0)
                await asyncio.to_thread(topology.start_redis)
                report.redis_restarts += 1
                redis_done = True
            if not api_done and now >= at(plan.api_kill_at_s):
                victim = random.randrange(len(topology.apis))
                kill(topology.apis[victim])
                await asyncio.sleep(1.0)
                topology.apis[victim] = topology.start_api()
                report.api_kills += 1
                api_done = True
            if now >= next_kill:
                victim = random.randrange(len(topology.workers))
                kill(topology.workers[victim])
                topology.workers[victim] = topology.start_worker()
                report.worker_kills += 1
                next_kill += plan.kill_every_s
            await asyncio.sleep(0.1)

    fault_task = asyncio.create_task(faults())
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for i in range(plan.batches):
            chunk = stories[i * per_batch : (i + 1) * per_batch]
            if not chunk:
                break
            events_url, tasks = await enqueue(http, url, chunk, report)
            for _ in range(clients_per_batch):
                client = Client(topology.port, events_url, tasks, report)
                clients.append(client)
                follows.append(asyncio.create_task(client.run(deadline)))
            await asyncio.sleep(plan.enqueue_every_s)
        await fault_task
        while await active_count(url) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        _, stuck = await asyncio.wait(follows, timeout=max(1.0, deadline - time.monotonic()))
        report.seconds = time.monotonic() - started
        for follow in stuck:
            follow.cancel()
        if stuck:
            report.problems.append(f"{len(stuck)} clients still waiting at the deadline")
        await _verify(topology, clients, url, stories, report)
        await _save_twice(http, clients, report)


async def _verify(
    topology: Topology, clients: list[Client], url: str, stories: list[str], report: Report
) -> None:
    jobs = await jobs_of(url)
    report.jobs = sum(len(v) for v in jobs.values())
    for story in stories:
        if len(jobs.get(story, [])) != 1:
            report.problems.append(f"{story}: {len(jobs.get(story, []))} jobs")
    redis = Redis.from_url(topology.redis_url)
    try:
        truth: dict[str, list[tuple[str, str]]] = {}
        for story_jobs in jobs.values():
            for task, status in story_jobs:
                entries = await redis.xrange(events_key(task))
                truth[task] = [(eid.decode(), fields[b"event"].decode()) for eid, fields in entries]
                events = [event for _, event in truth[task]]
                if status == "completed" and events.count("completed") == 1 and events[-1] == "completed":
                    report.completed += 1
                else:
                    report.problems.append(f"{task}: status {status}, events {events}")
        for client in clients:
            for task, seen in client.seen.items():
                report.followers += 1
                if seen == truth.get(task):
                    report.exact += 1
                elif len(report.problems) < 20:
                    report.problems.append(f"client of {task}: saw {seen}, stream has {truth.get(task)}")
    finally:
        await redis.aclose()


async def _save_twice(http: httpx.AsyncClient, clients: list[Client], report: Report) -> None:
    tasks = sorted({task for client in clients for task in client.tasks})
    sem = asyncio.Semaphore(20)

    async def save(task: str) -> None:
        async with sem:
            first = await http.post(f"/generate-test-cases/{task}/save")
            second = await http.post(f"/generate-test-cases/{task}/save")
        key = f"{first.status_code}+{second.status_code}"
        report.saves[key] = report.saves.get(key, 0) + 1

    await asyncio.gather(*(save(task) for task in tasks))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--api", type=int, default=2)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.5)
    parser.add_argument("--chaos-s", type=float, default=30.0)
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    args = parser.parse_args()
    plan = Plan(
        jobs=args.jobs,
        clients=args.clients,
        api_processes=args.api,
        workers=args.workers,
        delay_s=args.delay,
        chaos_s=args.chaos_s,
    )
    report = asyncio.run(chaos(plan, args.database_url))
    print(report.summary())
    for problem in report.problems[:20]:
        print("  problem:", problem)
    print(json.dumps({"saves": report.saves}))
    ok = not report.problems and report.saves == {"201+409": report.completed}
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
