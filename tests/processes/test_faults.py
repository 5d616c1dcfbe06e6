"""Faults driven with real processes: a worker killed with SIGKILL, Redis stopped and started."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import SecretStr
from redis.asyncio import Redis

from testgen.core import embedded_redis
from testgen.core.arq_adapter import in_progress_key
from testgen.core.config import Settings
from testgen.core.redis_keys import CLAIMED_KEY, FINISHING_KEY
from testgen.data import repository
from testgen.data.job_states import COMPLETE
from testgen.data.models import utcnow
from testgen.worker import reaper
from tests.support.harness import run_worker, wait_for
from tests.support.helpers import is_status, make_story, queue, read_events, wait_for_job

pytestmark = pytest.mark.slow


def start_worker_process(settings: Settings, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.effective_redis_url,
        "DATA_DIR": str(tmp_path / "data"),
        "LLM_PROVIDER": "offline",
        "OFFLINE_LLM_DELAY_S": "3600",  # the job runs until the worker stops
        "WORKER_SHUTDOWN_WAIT_S": str(settings.worker_shutdown_wait_s),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "testgen", "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def test_job_of_a_killed_worker_is_requeued_and_completes(
    http: AsyncClient, settings: Settings, tmp_path: Path, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Back on the queue within LEASE_TTL_S + REAP_INTERVAL_S of the kill: the lease lives LEASE_TTL_S
    at most, and the first reap pass that finds it lapsed re-queues the job (a pass comes every
    REAP_INTERVAL_S)."""
    settings.sse_ping_interval_s = 1  # keeps the client's read timeout from firing while we wait
    await make_story(http, "US-001")
    proc = start_worker_process(settings, tmp_path)
    try:
        job = await queue(http, "US-001", num_test_cases=3)
        seen = await read_events(http, job["events_url"], limit=4)  # queued, started, generating, generating
        assert seen[-1].data["status"] == "generating"
        lease = reaper.lease_key(job["task_id"])
        left_ms = await redis.pttl(lease)
        assert 0 < left_ms <= reaper.LEASE_TTL_S * 1000
        # Renewed once: the job started LEASE_RENEW_S before its lease can lapse, past the reaper's grace.
        await wait_for(lambda: _renewed(redis, lease, left_ms), what="the lease to be renewed")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # Per reap pass (reap_once, then reap_claims): whether the lease was there, the jobs re-queued.
    passes: list[tuple[bool, list[str]]] = []
    reap_once, reap_claims = reaper.reap_once, reaper.reap_claims

    async def first_of_a_pass(*args: Any, **kwargs: Any) -> list[str]:
        passes.append((bool(await redis.exists(lease)), []))
        reaped = await reap_once(*args, **kwargs)
        passes[-1][1].extend(reaped)
        return reaped

    async def claims_of_a_pass(*args: Any, **kwargs: Any) -> list[str]:
        reaped = await reap_claims(*args, **kwargs)
        passes[-1][1].extend(reaped)
        return reaped

    monkeypatch.setattr(reaper, "reap_once", first_of_a_pass)
    monkeypatch.setattr(reaper, "reap_claims", claims_of_a_pass)
    settings.offline_llm_delay_s = 0
    async with run_worker(settings):
        rest = await read_events(http, job["events_url"], last_event_id=seen[-1].id)
    names = [e.event for e in rest]
    assert names[0] == "queued" and "Worker lost; re-queued" in rest[0].data["message"]
    assert names[-1] == "completed"
    requeued_by = [job["task_id"] in reaped for _, reaped in passes].index(True)
    assert all(leased for leased, _ in passes[:requeued_by])  # no pass that found it lapsed missed it
    status = (await http.get(job["status_url"])).json()
    assert status["status"] == "completed" and len(status["result"]["test_cases"]) == 3
    first = await http.post(f"/generate-test-cases/{job['task_id']}/save")
    second = await http.post(f"/generate-test-cases/{job['task_id']}/save")
    assert first.status_code == 201 and second.status_code == 409
    assert len((await http.get("/user-stories/US-001/test-cases")).json()) == 3


def restartable_redis(tmp_path: Path) -> Callable[[], embedded_redis.EmbeddedRedis]:
    """A private Redis that keeps its data: each call starts it on the same port and files."""
    port, data = embedded_redis.free_port(), tmp_path / "redis"
    return lambda: embedded_redis.start(data_dir=data, port=port, persist=True)


async def test_redis_restart_mid_run(settings: Settings, tmp_path: Path) -> None:
    """The API answers 503 while Redis is down, recovers by itself, and the job still completes."""
    from httpx import ASGITransport

    from testgen.api.app import create_app

    start_redis = restartable_redis(tmp_path)
    server = start_redis()
    settings.redis_url = SecretStr(server.url)
    settings.offline_llm_delay_s = 1.5
    app = create_app(settings)
    transport = ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=transport, base_url="http://t") as client,
        ):
            await make_story(client, "US-001")
            async with run_worker(settings):
                job = await queue(client, "US-001", num_test_cases=3)
                await wait_for_job(client, job["status_url"], is_status("generating"), what="generating")
                server.stop()
                down = await client.post("/generate-test-cases/US-001/queue")
                # The running job is found in the database: no Redis needed to answer.
                assert down.status_code == 200 and down.json()["task_id"] == job["task_id"], down.text
                await make_story(client, "US-002")
                r = await client.post("/generate-test-cases/US-002/queue")
                assert r.status_code == 503 and "cannot reach Redis" in r.json()["detail"]
                assert (await client.get(job["status_url"])).status_code == 200  # from the database
                server = start_redis()
                status = await wait_for_job(
                    client, job["status_url"], is_status("completed", "failed"), what="the job to end"
                )
                assert status["status"] == "completed", status
                again = await client.post("/generate-test-cases/US-002/queue")
                assert again.status_code == 202
    finally:
        server.stop()


async def test_sigterm_puts_a_running_job_back_on_the_queue(
    http: AsyncClient, settings: Settings, tmp_path: Path
) -> None:
    await make_story(http, "US-001")
    settings.worker_shutdown_wait_s = 1
    proc = start_worker_process(settings, tmp_path)  # model calls take 30 s
    try:
        job = await queue(http, "US-001")
        seen = await read_events(http, job["events_url"], limit=4)
        assert seen[-1].data["status"] == "generating"
        proc.send_signal(signal.SIGTERM)
        # Within a minute: WORKER_SHUTDOWN_WAIT_S (1 s), not the hour the job would take.
        await asyncio.to_thread(proc.wait, 60)
    finally:
        if proc.poll() is None:
            proc.kill()
    status = (await http.get(job["status_url"])).json()
    assert status["status"] == "queued" and "Worker stopped" in status["message"]
    settings.offline_llm_delay_s = 0
    async with run_worker(settings):
        rest = await read_events(http, job["events_url"], last_event_id=seen[-1].id)
    assert rest[0].event == "queued" and rest[-1].event == "completed"


async def test_database_unavailable_gives_503_and_changes_nothing(settings: Settings, redis: Redis) -> None:
    from httpx import ASGITransport

    from testgen.api.app import create_app

    settings.database_url = f"postgresql+asyncpg://nobody@127.0.0.1:{embedded_redis.free_port()}/none"
    app = create_app(settings)
    transport = ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        for method, url, body in [
            ("POST", "/projects", {"name": "P"}),
            ("GET", "/user-stories", None),
            ("POST", "/generate-test-cases/US-1/queue", None),
        ]:
            r = await client.request(method, url, json=body)
            assert r.status_code == 503, (url, r.status_code, r.text)
            assert "database unavailable" in r.json()["detail"]
    assert await redis.keys("testgen:job:*") == []  # nothing half-made in Redis either


async def test_sse_clients_get_retry_and_resume_across_a_redis_restart(
    settings: Settings, tmp_path: Path
) -> None:
    import uvicorn

    from testgen.api.app import create_app

    start_redis = restartable_redis(tmp_path)
    server = start_redis()
    settings.redis_url = SecretStr(server.url)
    settings.offline_llm_delay_s = 1.0
    app = create_app(settings)
    web = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(web.serve())
    try:
        await wait_for(lambda: web.started or serving.done(), what="uvicorn to start")
        base = f"http://127.0.0.1:{web.servers[0].sockets[0].getsockname()[1]}"
        async with AsyncClient(base_url=base, timeout=10) as client, run_worker(settings):
            await make_story(client, "US-001")
            job = await queue(client, "US-001", num_test_cases=10)
            text = ""
            async with client.stream("GET", job["events_url"]) as response:
                async for chunk in response.aiter_text():
                    text += chunk
                    if "event: generating" in text and not server.process.poll():
                        server.stop()  # Redis goes away while the client is connected
            assert text.rstrip().endswith("retry: 2000")  # the stream ended with a hint to come back
            last_id = [line[4:] for line in text.splitlines() if line.startswith("id: ")][-1]
            server = start_redis()
            rest, rest_ids = [], []
            for _ in range(50):  # the client comes back, as EventSource would, until the job ends
                r = await client.get(job["events_url"], headers={"Last-Event-ID": last_id})
                if r.status_code == 204:
                    break
                got = [line[4:] for line in r.text.splitlines() if line.startswith("id: ")]
                events = [line[7:] for line in r.text.splitlines() if line.startswith("event: ")]
                rest += events
                rest_ids += got
                last_id = got[-1] if got else last_id
                if "completed" in events:
                    break
            assert rest[-1] == "completed"
            stored = await Redis.from_url(server.url).xrange(f"testgen:job:{job['task_id']}:events")
            seen_ids = [line[4:] for line in text.splitlines() if line.startswith("id: ")]
            assert seen_ids + rest_ids == [i.decode() for i, _ in stored]  # every stored event, once
    finally:
        web.should_exit = True
        await serving
        server.stop()


async def test_a_final_state_its_worker_did_not_publish_is_published_by_the_reaper(
    app: FastAPI, client: AsyncClient, redis: Redis, settings: Settings
) -> None:
    """A worker that dies between writing a job's final row and publishing it (SIGKILL in that
    window, found by the chaos run) leaves clients waiting for an event; the reaper sends it."""
    await make_story(client, "US-001")
    async with run_worker(settings):
        done = await queue(client, "US-001", num_test_cases=1, scenarios_per_test_case=1)
        await wait_for_job(client, done["status_url"], is_status("completed"), what="the first job")
    assert await redis.zcard(FINISHING_KEY) == 0  # a worker that lives unmarks what it finished
    assert await redis.zcard(CLAIMED_KEY) == 0  # and forgets its claim
    await make_story(client, "US-002")
    job = await queue(client, "US-002", num_test_cases=1)
    async with app.state.sessionmaker() as session:  # as the dead worker left it: final in the row only
        assert await repository.change_job(
            session, COMPLETE, job["task_id"], progress=100, finished_at=utcnow()
        )
        await session.commit()
    await redis.zadd(FINISHING_KEY, {job["task_id"]: time.time() - 60})

    published = await reaper.publish_lost_finals(app.state.sessionmaker, app.state.store)

    assert published == [job["task_id"]]
    stored = await redis.xrange(f"testgen:job:{job['task_id']}:events")
    assert [fields[b"event"] for _, fields in stored][-1] == b"completed"
    assert await redis.zcard(FINISHING_KEY) == 0
    assert await reaper.publish_lost_finals(app.state.sessionmaker, app.state.store) == []


async def test_a_job_claimed_by_a_worker_that_died_before_starting_it_is_requeued(
    app: FastAPI, client: AsyncClient, redis: Redis, settings: Settings
) -> None:
    """A worker killed after claiming a job from arq's queue but before its row said `started` (it
    may have published `started` already): the row is still queued, so only the claim shows it."""
    await make_story(client, "US-001")
    await make_story(client, "US-002")
    lost = await queue(client, "US-001", num_test_cases=1)
    alive = await queue(client, "US-002", num_test_cases=1)
    old = (time.time() - 60) * 1000
    for job in (lost, alive):  # as the claim script leaves them, a minute ago
        await redis.psetex(in_progress_key(job["task_id"]), 600_000, b"1")
        await redis.zadd(CLAIMED_KEY, {job["task_id"]: old})
    await redis.set(reaper.lease_key(alive["task_id"]), b"1", ex=10)  # its worker renews the lease
    snapshot = {**(await client.get(lost["status_url"])).json(), "status": "started", "progress": 5}
    await app.state.store.publish(snapshot, "started")

    assert await reaper.reap_claims(app.state.sessionmaker, app.state.store) == [lost["task_id"]]

    assert not await redis.exists(in_progress_key(lost["task_id"]))
    assert await redis.exists(in_progress_key(alive["task_id"]))
    assert await redis.zrange(CLAIMED_KEY, 0, -1) == [alive["task_id"].encode()]
    events = await read_stream_events(redis, lost["task_id"])
    assert events == ["queued", "started", "queued"]
    await redis.delete(in_progress_key(alive["task_id"]))
    async with run_worker(settings):
        await wait_for_job(client, lost["status_url"], is_status("completed"), what="the re-queued job")


async def read_stream_events(redis: Redis, task_id: str) -> list[str]:
    return [fields[b"event"].decode() for _, fields in await redis.xrange(f"testgen:job:{task_id}:events")]


async def test_a_stream_publishes_a_final_state_redis_does_not_have_yet(
    app: FastAPI, http: AsyncClient, redis: Redis
) -> None:
    """Final in the database, not yet in Redis (its worker is about to publish it, or died first):
    the stream publishes it from the row, so every client and XRANGE agree on its entry."""
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=1)
    async with app.state.sessionmaker() as session:
        assert await repository.change_job(session, COMPLETE, job["task_id"], progress=100)
        await session.commit()

    first = await read_events(http, job["events_url"])
    second = await read_events(http, job["events_url"])

    stored = await redis.xrange(f"testgen:job:{job['task_id']}:events")
    assert [e.id for e in first] == [e.id for e in second] == [i.decode() for i, _ in stored]
    assert [e.event for e in first] == ["queued", "completed"]
    late = {**first[-1].data, "message": "the worker's own final state, too late"}
    assert await app.state.store.publish(late, "completed") is None  # one final state only


async def _renewed(redis: Redis, key: str, left_ms: int) -> bool:
    return bool(await redis.pttl(key) > left_ms)
