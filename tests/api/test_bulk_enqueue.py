"""Bulk enqueue: many stories in one request and one transaction, one event stream for them all."""

from __future__ import annotations

import asyncio
from typing import Any

from httpx import ASGITransport, AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.api.app import create_app
from testgen.api.schemas.jobs import MAX_BULK_STORIES
from testgen.api.services.bulk_enqueue import record_batch
from testgen.core.config import Settings
from testgen.core.redis_keys import QUEUE_NAME, batch_key
from testgen.data.job_states import ACTIVE
from testgen.data.models import GenerationJob
from tests.support.helpers import is_status, make_story, queue, read_events, wait_for_job

BULK = "/generate-test-cases/queue"


async def bulk(client: AsyncClient, expect: int = 202, **body: Any) -> dict[str, Any]:
    r = await client.post(BULK, json=body)
    assert r.status_code == expect, r.text
    return dict(r.json())


async def job_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(GenerationJob))).scalar_one())


async def active_jobs_per_story(engine: AsyncEngine) -> dict[str, int]:
    query = (
        select(GenerationJob.story_id, func.count())
        .where(GenerationJob.status.in_([s.value for s in ACTIVE]))
        .group_by(GenerationJob.story_id)
    )
    async with engine.connect() as conn:
        return {row[0]: row[1] for row in await conn.execute(query)}


async def test_story_ids_queued_once_each_and_a_live_job_comes_back(
    client: AsyncClient, redis: Redis, engine: AsyncEngine
) -> None:
    for story in ("US-1", "US-2", "US-3"):
        await make_story(client, story)
    earlier = await queue(client, "US-1")

    answer = await bulk(client, story_ids=["US-2", "US-1", "US-3", "US-2"], num_test_cases=2)

    assert [job["story_id"] for job in answer["jobs"]] == ["US-2", "US-1", "US-3"]
    assert answer["created"] == 2 and answer["reused"] == 1
    assert answer["jobs"][1]["task_id"] == earlier["task_id"]
    new = [answer["jobs"][0]["task_id"], answer["jobs"][2]["task_id"]]
    for task_id in new:  # queued for arq and published, like a single enqueue
        assert await redis.zscore(QUEUE_NAME, task_id) is not None
        status = (await client.get(f"/generate-test-cases/status/{task_id}")).json()
        assert status["status"] == "queued" and status["options"]["num_test_cases"] == 2
    assert answer["events_url"] == f"/generate-test-cases/events?batch={answer['batch_id']}"
    for job in answer["jobs"]:  # each job's own URLs (resolved once per answer, then filled in)
        assert job["status_url"] == f"/generate-test-cases/status/{job['task_id']}"
        assert job["events_url"] == f"/generate-test-cases/status/{job['task_id']}/events"
    assert await job_rows(engine) == 3

    again = await bulk(client, expect=200, story_ids=["US-1", "US-2", "US-3"])
    assert again["created"] == 0 and again["reused"] == 3
    assert {job["task_id"] for job in again["jobs"]} == {earlier["task_id"], *new}
    assert await job_rows(engine) == 3
    assert await redis.zcard(QUEUE_NAME) == 3


async def test_a_project_without_its_tested_stories(
    client: AsyncClient, worker: object, engine: AsyncEngine
) -> None:
    project_id = (await make_story(client, "US-1"))["project_id"]
    for story in ("US-2", "US-3"):
        await make_story(client, story)
    await make_story(client, "OTHER-1", project="Elsewhere")
    done = await queue(client, "US-2", num_test_cases=1, scenarios_per_test_case=1)
    await wait_for_job(client, done["status_url"], is_status("completed"), what="US-2's draft")
    assert (await client.post(f"/generate-test-cases/{done['task_id']}/save")).status_code == 201

    answer = await bulk(client, project_id=project_id, only_without_tests=True)
    assert [job["story_id"] for job in answer["jobs"]] == ["US-1", "US-3"]

    for job in answer["jobs"]:
        await wait_for_job(client, job["status_url"], is_status("completed"), what="the batch's drafts")
    everything = await bulk(client, project_id=project_id)
    assert [job["story_id"] for job in everything["jobs"]] == ["US-1", "US-2", "US-3"]
    assert everything["created"] == 3


async def test_the_batch_stream_follows_every_job_to_its_end(http: AsyncClient, worker: object) -> None:
    for story in ("US-1", "US-2", "US-3"):
        await make_story(http, story)
    answer = await bulk(http, story_ids=["US-1", "US-2", "US-3"], num_test_cases=2, scenarios_per_test_case=1)

    events = await read_events(http, answer["events_url"])  # ends when every job has ended

    tasks = {job["task_id"] for job in answer["jobs"]}
    finals = {e.data["task_id"]: e.event for e in events if e.event in ("completed", "failed", "cancelled")}
    assert finals == dict.fromkeys(tasks, "completed")
    for task_id in tasks:
        seen = [e.event for e in events if e.data["task_id"] == task_id]
        assert seen[0] == "queued" and seen.count("completed") == 1
    stale = await http.get("/generate-test-cases/events?batch=0123456789abcdef0123456789abcdef")
    assert stale.status_code == 404 and "expired" in stale.json()["detail"]


async def test_the_same_jobs_queued_again_share_one_batch(http: AsyncClient, redis: Redis) -> None:
    """A batch is named by its set of jobs: asking again for stories whose jobs all run (in any
    order) answers with the same batch and stores no new key; another set of jobs is another batch."""
    stories = ["US-1", "US-2", "US-3"]
    for story in stories:
        await make_story(http, story)
    answers = [await bulk(http, story_ids=stories)]  # no worker: the jobs stay queued
    for i in range(1, 10):
        answers.append(await bulk(http, expect=200, story_ids=stories[i % 3 :] + stories[: i % 3]))
    assert all(a["created"] == 0 and a["reused"] == 3 for a in answers[1:])
    assert {a["batch_id"] for a in answers} == {answers[0]["batch_id"]}
    assert [key async for key in redis.scan_iter(match=batch_key("*"))] == [
        batch_key(answers[0]["batch_id"]).encode()
    ]
    tasks = {job["task_id"] for job in answers[0]["jobs"]}
    for answer in answers:
        events = await read_events(http, answer["events_url"], limit=3)
        assert {e.data["task_id"] for e in events} == tasks

    other = await bulk(http, expect=200, story_ids=stories[:2])
    assert other["batch_id"] != answers[0]["batch_id"]
    assert len([key async for key in redis.scan_iter(match=batch_key("*"))]) == 2


async def test_a_batch_of_thousands_of_jobs_is_recorded_whole(redis: Redis) -> None:
    """The batch's list is written in chunks by a script: every id of a large batch is in it, once."""
    ids = [f"task-{i:05d}" for i in range(2500)]
    async with redis.pipeline(transaction=False) as pipe:
        for _ in range(2):  # written once, then only kept longer
            record_batch(pipe, "big", ids, 60)
        await pipe.execute()
    assert [ident.decode() for ident in await redis.lrange(batch_key("big"), 0, -1)] == ids
    assert 0 < await redis.ttl(batch_key("big")) <= 60


async def test_bad_selections_are_refused_and_nothing_is_written(
    client: AsyncClient, engine: AsyncEngine
) -> None:
    await make_story(client, "US-1")
    await make_story(client, "LOOSE-1", project=None)
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({}, 422, "either story_ids or project_id"),
        ({"story_ids": ["US-1"], "project_id": 1}, 422, "either story_ids or project_id"),
        ({"story_ids": []}, 422, "at least 1"),
        ({"story_ids": ["US-1", "NOPE-9"]}, 404, "NOPE-9"),
        ({"project_id": 999}, 404, "Project 999"),
        ({"story_ids": None, "project_id": 1}, 422, "may be omitted but not null"),
        ({"story_ids": ["US-1", "LOOSE-1"]}, 409, "LOOSE-1 is not associated with a project"),
        ({"story_ids": [f"S-{i}" for i in range(MAX_BULK_STORIES + 1)]}, 422, "at most"),
        ({"story_ids": ["US-1"], "num_test_cases": 500}, 422, "less than or equal"),
        ({"story_ids": ["US-1"], "colour": "red"}, 422, "Extra inputs"),
    ]
    for body, status, says in cases:
        r = await client.post(BULK, json=body)
        assert r.status_code == status, (body.keys(), r.text[:300])
        assert says in r.text, (body.keys(), r.text[:300])
    assert await job_rows(engine) == 0


async def test_the_jobs_in_flight_limit_counts_every_new_job(
    settings: Settings, redis: object, engine: AsyncEngine
) -> None:
    settings.max_jobs_in_flight_per_key = 2
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        for story in ("US-1", "US-2", "US-3"):
            await make_story(client, story)
        r = await client.post(BULK, json={"story_ids": ["US-1", "US-2", "US-3"]})
        assert r.status_code == 429 and "3 more were asked for" in r.json()["detail"]
        assert await job_rows(engine) == 0
        await bulk(client, story_ids=["US-1", "US-2"])
        await bulk(client, expect=200, story_ids=["US-1", "US-2"])  # their jobs again: no new place
        assert (await client.post("/generate-test-cases/US-3/queue")).status_code == 429


async def test_racing_enqueues_leave_one_live_job_per_story(client: AsyncClient, engine: AsyncEngine) -> None:
    stories = [f"US-{i}" for i in range(1, 9)]
    for story in stories:
        await make_story(client, story)
    singles = [client.post(f"/generate-test-cases/{story}/queue") for story in stories]
    answers = await asyncio.gather(
        client.post(BULK, json={"story_ids": stories}),
        *singles,
        client.post(BULK, json={"story_ids": stories[::-1]}),
    )
    assert all(r.status_code in (200, 202) for r in answers), [r.text for r in answers]
    assert await active_jobs_per_story(engine) == dict.fromkeys(stories, 1)
    by_story: dict[str, set[str]] = {}
    for r in answers:
        body = r.json()
        for job in body.get("jobs", [body]):
            by_story.setdefault(job["story_id"], set()).add(job["task_id"])
    assert all(len(ids) == 1 for ids in by_story.values()), by_story
