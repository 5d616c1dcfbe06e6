from __future__ import annotations

import asyncio

import pytest
from arq.jobs import Job
from arq.jobs import JobStatus as ArqStatus
from fastapi import FastAPI
from httpx import AsyncClient
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import func, select

from testgen.api.app import create_app
from testgen.core.config import Settings
from testgen.core.database import create_engine, create_sessionmaker
from testgen.data.models import GenerationJob
from tests.support.harness import WAIT_S, run_worker, wait_for
from tests.support.helpers import make_story, queue, read_events, resume_cursor

TERMINAL = {"completed", "failed", "cancelled"}


async def test_whole_flow_queue_stream_status(http: AsyncClient, worker: object) -> None:
    await make_story(http, "US-001")
    queued = await queue(http, "US-001", num_test_cases=15, scenarios_per_test_case=3)
    assert queued["status"] == "queued" and queued["story_id"] == "US-001"  # answered before the work
    assert len(queued["task_id"]) == 36 and queued["task_id"].count("-") == 4
    assert queued["status_url"] == f"/generate-test-cases/status/{queued['task_id']}"
    assert queued["events_url"] == f"/generate-test-cases/status/{queued['task_id']}/events"

    events = await read_events(http, queued["events_url"])
    names = [e.event for e in events]
    assert names[0] == "queued" and names[-1] == "completed"
    assert {"started", "generating", "progress"} <= set(names)
    progress = [e.data["progress"] for e in events]
    assert progress == sorted(progress)
    assert {5, 20, 30, 90, 100} <= set(progress)
    batch_steps = [p for p in progress if 30 < p <= 70]
    assert len(batch_steps) == 3 and batch_steps[-1] == 70  # 45 scenarios in 3 batches of 15
    ids = [e.id for e in events]
    assert len(set(ids)) == len(ids)

    result = events[-1].data["result"]
    assert len(result["test_cases"]) == 15
    assert all(len(tc["scenarios"]) == 3 for tc in result["test_cases"])
    assert result["provider"] == "offline"
    assert result["stats"]["batches"] == 3 and result["stats"]["llm_calls"] == 3

    status = (await http.get(queued["status_url"])).json()
    assert status["status"] == "completed" and status["progress"] == 100
    assert status["error"] is None and status["result"]["test_cases"] == result["test_cases"]
    assert status["started_at"] and status["finished_at"] and status["created_at"]


async def test_enqueue_checks(client: AsyncClient) -> None:
    await make_story(client, "US-001")
    await make_story(client, "LONE-1", project=None)
    r = await client.post("/generate-test-cases/US-999/queue")
    assert r.status_code == 404 and r.json()["detail"] == "User story US-999 not found"
    r = await client.post("/generate-test-cases/LONE-1/queue")
    assert r.status_code == 409
    assert r.json()["detail"].startswith("User story LONE-1 is not associated with a project")
    for bad in ({"num_test_cases": 0}, {"num_test_cases": 51}, {"scenarios_per_test_case": 11}, {"x": 1}):
        r = await client.post("/generate-test-cases/US-001/queue", json=bad)
        assert r.status_code == 422, bad
        assert [e["loc"] for e in r.json()["detail"]] == [["body", *bad]], r.text
    first = await client.post("/generate-test-cases/US-001/queue")
    assert first.status_code == 202
    again = await client.post("/generate-test-cases/US-001/queue", json={"num_test_cases": 2})
    assert again.status_code == 200
    assert again.json()["task_id"] == first.json()["task_id"]


async def test_concurrent_enqueues_make_one_job(client: AsyncClient, database_url: str) -> None:
    await make_story(client, "US-001")
    answers = await asyncio.gather(*(client.post("/generate-test-cases/US-001/queue") for _ in range(8)))
    assert sorted(r.status_code for r in answers).count(202) == 1
    assert len({r.json()["task_id"] for r in answers}) == 1


async def test_three_stories_progress_independently(http: AsyncClient, settings: Settings) -> None:
    settings.offline_llm_delay_s = 0.2
    async with run_worker(settings):
        jobs = {}
        for sid, n in (("A-1", 2), ("B-1", 9), ("C-1", 20)):
            await make_story(http, sid)
            jobs[sid] = await queue(http, sid, num_test_cases=n, scenarios_per_test_case=3)
        streams = await asyncio.gather(*(read_events(http, j["events_url"]) for j in jobs.values()))
    for (sid, job), events in zip(jobs.items(), streams, strict=True):
        assert {e.data["task_id"] for e in events} == {job["task_id"]}
        assert {e.data["story_id"] for e in events} == {sid}
        assert events[-1].event == "completed"
    counts = {
        sid: len([e for e in ev if 30 < e.data["progress"] <= 70])
        for sid, ev in zip(jobs, streams, strict=True)
    }
    assert counts == {"A-1": 1, "B-1": 2, "C-1": 4}


async def test_resume_with_last_event_id_has_no_gap_or_duplicate(
    http: AsyncClient, settings: Settings, redis: Redis
) -> None:
    settings.offline_llm_delay_s = 0.1
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=20, scenarios_per_test_case=3)
    async with run_worker(settings):
        first = await read_events(http, job["events_url"], limit=3)
        key = f"testgen:job:{job['task_id']}:events"
        # Events keep coming while the client is away: reconnect once two more are stored.
        await wait_for(lambda: _has_more(redis, key, len(first) + 2), what="two more events")
        rest = await read_events(http, job["events_url"], last_event_id=first[-1].id)
    stored = await redis.xrange(f"testgen:job:{job['task_id']}:events")
    assert [e.id for e in first + rest] == [i.decode() for i, _ in stored]
    assert rest[-1].event == "completed"
    # After the end, a reconnect from the final id answers 204 (EventSource stops reconnecting).
    r = await http.get(job["events_url"], headers={"Last-Event-ID": rest[-1].id})
    assert r.status_code == 204


async def _has_more(redis: Redis, key: str, count: int) -> bool:
    return int(await redis.xlen(key)) >= count


async def test_subscribing_after_the_end_replays_final_state(http: AsyncClient, worker: object) -> None:
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=1, scenarios_per_test_case=1)
    await read_events(http, job["events_url"])
    again = await read_events(http, job["events_url"])
    assert again[-1].event == "completed" and again[-1].data["result"]["test_cases"]


async def test_multiplexed_stream_carries_all_jobs(http: AsyncClient, settings: Settings) -> None:
    settings.offline_llm_delay_s = 0.05
    tasks = []
    for sid in ("A-1", "B-1", "C-1"):
        await make_story(http, sid)
        tasks.append((await queue(http, sid, num_test_cases=6))["task_id"])
    async with run_worker(settings):
        url = f"/generate-test-cases/events?task_id={tasks[0]}&task_id={tasks[1]}&story_id=C-1"
        first = await read_events(http, url, limit=4)
        rest = await read_events(http, url, last_event_id=resume_cursor(first))
    events = first + rest
    assert {e.data["task_id"] for e in events} == set(tasks)
    for task in tasks:
        mine = [e for e in events if e.data["task_id"] == task]
        assert [e.event for e in mine].count("completed") == 1 and mine[-1].event == "completed"
        progress = [e.data["progress"] for e in mine]
        assert progress == sorted(progress)
    # each id names the one job that changed; resuming from the assembled cursor is exactly-once
    assert all(e.id == f"{e.data['task_id']}={e.id.partition('=')[2]}" for e in events)
    assert len({e.id for e in events}) == len(events)
    r = await http.get(url, headers={"Last-Event-ID": resume_cursor(events)})
    assert r.status_code == 204
    assert (await http.get("/generate-test-cases/events?task_id=nope")).status_code == 404
    nothing = await http.get("/generate-test-cases/events")
    assert nothing.status_code == 404 and "name task_id, story_id or batch values" in nothing.json()["detail"]
    too_many = [("batch", f"b{i}") for i in range(11)]
    assert (await http.get("/generate-test-cases/events", params=too_many)).status_code == 422
    assert (await http.get("/generate-test-cases/events?task_id=%C3%A9")).status_code == 422


async def test_cancel_stops_a_running_job(http: AsyncClient, settings: Settings) -> None:
    settings.offline_llm_delay_s = 3600  # only a cancel ends these model calls
    await make_story(http, "US-001")
    job = await queue(http, "US-001")
    async with run_worker(settings) as w:
        seen = await read_events(http, job["events_url"], limit=4)
        assert seen[-1].data["status"] == "generating"
        r = await http.post(f"/generate-test-cases/{job['task_id']}/cancel")
        assert r.status_code == 202 and r.json()["status"] == "cancelled"
        rest = await read_events(http, job["events_url"], last_event_id=seen[-1].id)
        assert rest[-1].event == "cancelled"
        # The worker's job task ends: the hour-long model call was interrupted.
        await wait_for(lambda: not w.tasks, what="the worker's job task to end")
    status = (await http.get(job["status_url"])).json()
    assert status["status"] == "cancelled" and status["result"] is None
    r = await http.post(f"/generate-test-cases/{job['task_id']}/cancel")
    assert r.status_code == 409 and "already cancelled" in r.json()["detail"]
    # the story can be queued again once its job is over
    assert (await http.post("/generate-test-cases/US-001/queue")).status_code == 202


async def test_cancel_a_queued_job(
    client: AsyncClient, app: FastAPI, settings: Settings, redis: Redis
) -> None:
    await make_story(client, "US-001")
    job = await queue(client, "US-001")
    r = await client.post(f"/generate-test-cases/{job['task_id']}/cancel")
    assert r.status_code == 202 and r.json()["status"] == "cancelled"
    assert (await client.get(job["status_url"])).json()["status"] == "cancelled"
    # A worker that comes along later takes the job off the queue without running it.
    arq_job = Job(job["task_id"], app.state.redis)
    async with run_worker(settings):
        await wait_for(lambda: _arq_done(arq_job), what="the worker to take the job off the queue")
    status = (await client.get(job["status_url"])).json()
    assert status["status"] == "cancelled" and status["started_at"] is None and status["result"] is None
    events = await redis.xrange(f"testgen:job:{job['task_id']}:events")
    assert b"started" not in {fields[b"event"] for _, fields in events}


async def _arq_done(job: Job) -> bool:
    return await job.status() in (ArqStatus.complete, ArqStatus.not_found)


async def test_unknown_task_ids_are_404(http: AsyncClient) -> None:
    for method, url in [
        ("GET", "/generate-test-cases/status/nope"),
        ("GET", "/generate-test-cases/status/nope/events"),
        ("POST", "/generate-test-cases/nope/cancel"),
    ]:
        r = await http.request(method, url)
        assert r.status_code == 404, url
        assert r.json()["detail"] == "Task nope not found"


async def test_redis_down_is_503_and_leaves_no_job(settings: Settings, database_url: str) -> None:
    from testgen.core.embedded_redis import free_port

    settings.redis_url = SecretStr(f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(settings)
    from httpx import ASGITransport

    transport = ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        await make_story(client, "US-001")
        r = await client.post("/generate-test-cases/US-001/queue")
    assert r.status_code == 503
    assert r.json()["detail"].startswith("queue unavailable: cannot reach Redis at redis://127.0.0.1:")
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as s:
        assert await s.scalar(select(func.count()).select_from(GenerationJob)) == 0
    await engine.dispose()


async def test_result_survives_redis_expiry(http: AsyncClient, worker: object, redis: Redis) -> None:
    await make_story(http, "US-001")
    job = await queue(http, "US-001", num_test_cases=2, scenarios_per_test_case=2)
    await read_events(http, job["events_url"])
    assert await redis.exists(f"testgen:job:{job['task_id']}")
    ttl = await redis.ttl(f"testgen:job:{job['task_id']}:events")
    assert 3500 < ttl <= 3600
    await redis.flushdb()
    status = (await http.get(job["status_url"])).json()
    assert status["status"] == "completed" and len(status["result"]["test_cases"]) == 2
    replay = await read_events(http, job["events_url"])
    assert [e.event for e in replay] == ["completed"]
    assert replay[0].data["result"]["test_cases"] == status["result"]["test_cases"]
    assert (await http.get(job["events_url"], headers={"Last-Event-ID": replay[0].id})).status_code == 204


async def test_heartbeat_comment_while_idle(http: AsyncClient, settings: Settings) -> None:
    settings.sse_ping_interval_s = 0.2
    await make_story(http, "US-001")
    job = await queue(http, "US-001")  # no worker: the job stays queued
    chunks = []
    async with http.stream("GET", job["events_url"]) as r, asyncio.timeout(WAIT_S):
        assert r.headers["content-type"].startswith("text/event-stream")
        async for chunk in r.aiter_text():
            chunks.append(chunk)
            if ": ping" in "".join(chunks):
                break
    assert ": ping" in "".join(chunks)


@pytest.mark.parametrize("options", [{"num_test_cases": 7, "scenarios_per_test_case": 7}])
async def test_exact_counts_with_uneven_batches(
    http: AsyncClient, worker: object, options: dict[str, int]
) -> None:
    await make_story(http, "US-001")
    job = await queue(http, "US-001", **options)
    events = await read_events(http, job["events_url"])
    result = events[-1].data["result"]
    assert len(result["test_cases"]) == 7
    assert {len(tc["scenarios"]) for tc in result["test_cases"]} == {7}
    assert result["stats"]["batches"] == 4  # 2 test cases (14 scenarios) per batch of at most 15
