"""Bulk jobs delivered through the provider's Batch API, with a real worker, each provider's real SDK and
its fake Batch API: the jobs wait queued with their batch's id while the worker checks it, then finish
through the normal steps; requests the batch failed or that it never answered are asked normally, a
restarted worker resumes the watch, and cancelling a job cancels its provider batch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis

from testgen.core import messages
from testgen.core.config import Settings
from testgen.core.redis_keys import events_key, provider_batch_key, state_key
from testgen.data.job_states import JobStatus
from testgen.data.usage import BATCH_PRICE_FACTOR
from testgen.generation.llm.batch_api import BatchAPI, BatchItem, batch_api_for
from testgen.generation.planning import plan_batches
from testgen.worker import provider_batches
from tests.support.fake_batches import BatchFake, start_batch_server
from tests.support.harness import run_worker, wait_for
from tests.support.helpers import make_story, read_events
from tests.support.model_servers import PROVIDERS, STORY, ModelServer

BULK = "/generate-test-cases/queue"


@pytest.fixture(scope="module", params=PROVIDERS)
def model_server(request: pytest.FixtureRequest) -> Iterator[ModelServer]:
    with start_batch_server(request.param) as (server, _):
        yield server


@pytest.fixture
def configured(settings: Settings, provider: ModelServer) -> Settings:
    """The worker's settings: the provider's fake as the default, its batches checked every 50 ms."""
    settings.provider_batch_poll_s = settings.provider_batch_poll_max_s = 0.05
    return provider.configure(settings)


@asynccontextmanager
async def make_api(settings: Settings, provider: ModelServer) -> AsyncIterator[BatchAPI]:
    """The provider's Batch API client, as a worker builds it."""
    built = provider.build(settings, None)
    api = batch_api_for(built)
    assert api is not None
    try:
        yield api
    finally:
        await built.aclose()


def fake_of(provider: ModelServer) -> BatchFake:
    return cast(BatchFake, provider.fake)


async def bulk(http: AsyncClient, story_ids: list[str], **options: Any) -> list[dict[str, Any]]:
    r = await http.post(BULK, json={"story_ids": story_ids, **options})
    assert r.status_code == 202, r.text
    return list(r.json()["jobs"])


async def status_of(http: AsyncClient, job: dict[str, Any]) -> dict[str, Any]:
    return dict((await http.get(job["status_url"])).json())


async def submitted(
    http: AsyncClient, provider: ModelServer, jobs: list[dict[str, Any]], requests: int
) -> list[str]:
    """Wait for each job to say it is in a provider batch (`requests` requests each); the fake's batch
    ids, in the jobs' order."""
    fake = fake_of(provider)
    await wait_for(lambda: fake.creates == len(jobs), what="a provider batch per job")
    ids = []
    for job in jobs:
        status = await wait_for(
            lambda job=job: _if_submitted(http, job), what=f"job {job['task_id']} to say it was submitted"
        )
        assert status["status"] == JobStatus.queued
        batch_id = next(b for b in fake.batches if _named(provider, b) in status["message"])
        assert status["message"] == messages.provider_batch_submitted(_named(provider, batch_id), requests)
        ids.append(batch_id)
    return ids


def _named(provider: ModelServer, batch_id: str) -> str:
    """A batch's id as the provider gives it to clients."""
    return f"batches/{batch_id}" if provider.name == "gemini" else batch_id


async def _if_submitted(http: AsyncClient, job: dict[str, Any], batch: str = "") -> dict[str, Any] | None:
    status = await status_of(http, job)
    message = status.get("message") or ""
    return status if "provider's batch" in message and batch in message else None


async def test_bulk_jobs_wait_for_their_provider_batch_then_finish_with_failed_requests_asked_again(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    fake = fake_of(provider)
    for story in ("US-1", "US-2"):
        await make_story(http, story)
    # 6 test cases of 3 scenarios: two requests a job (BATCH_MAX_SCENARIOS 15)
    jobs = await bulk(http, ["US-1", "US-2"], num_test_cases=6, scenarios_per_test_case=3, delivery="batch")
    async with run_worker(configured):
        first, second = await submitted(http, provider, jobs, 2)
        await wait_for(lambda: fake.batch(first).polls >= 2, what="the worker to check the batch again")
        assert fake.calls == 0  # nothing asked one by one meanwhile
        assert (await status_of(http, jobs[0]))["status"] == JobStatus.queued
        fake.finish(first)
        failing = sorted(fake.batch(second).requests)[1]
        fake.finish(second, fail={failing})
        done = [await read_events(http, job["events_url"]) for job in jobs]
    for events in done:
        assert events[-1].event == JobStatus.completed, events[-1].data
        result = events[-1].data["result"]
        assert len(result["test_cases"]) == 6 and {len(t["scenarios"]) for t in result["test_cases"]} == {3}
        assert result["stats"]["llm_calls"] == 2
    assert fake.calls == 1  # the one failed request, asked as a normal call
    assert [t["title"] for t in done[1][-1].data["result"]["test_cases"]] == [
        f"Test case {n}" for n in range(1, 7)
    ]
    # The ledger: three of the four calls answered in a provider batch, billed at half their price
    project_id = (await http.get("/user-stories/US-1")).json()["project_id"]
    (row,) = (await http.get(f"/projects/{project_id}/usage")).json()["per_model"]
    normal = next(r.usage for r in provider.fake.requests if r.usage)
    normal_tokens = normal[provider.usage_fields[2]]
    assert row["llm_calls"] == 4 and row["batch_calls"] == 3
    assert row["batch_tokens"] == row["tokens"] - normal_tokens > 0
    assert row["billed_tokens"] == row["tokens"] - row["batch_tokens"] * (1 - BATCH_PRICE_FACTOR)


async def test_an_expired_batchs_unanswered_requests_are_asked_normally(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    fake = fake_of(provider)
    await make_story(http, "US-1")
    jobs = await bulk(http, ["US-1"], num_test_cases=6, scenarios_per_test_case=3, delivery="batch")
    async with run_worker(configured):
        (batch_id,) = await submitted(http, provider, jobs, 2)
        fake.expire(batch_id, answered={sorted(fake.batch(batch_id).requests)[0]})
        events = await read_events(http, jobs[0]["events_url"])
    assert events[-1].event == JobStatus.completed, events[-1].data
    assert len(events[-1].data["result"]["test_cases"]) == 6
    assert fake.calls == 1


async def test_failed_requests_may_go_into_another_provider_batch(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    configured.provider_batch_resubmits = 1
    fake = fake_of(provider)
    await make_story(http, "US-1")
    jobs = await bulk(http, ["US-1"], num_test_cases=6, scenarios_per_test_case=3, delivery="batch")
    async with run_worker(configured):
        (first,) = await submitted(http, provider, jobs, 2)
        _, failing = sorted(fake.batch(first).requests)
        fake.finish(first, bad={failing})  # an answer that is not the asked JSON
        await wait_for(lambda: fake.creates == 2, what="the failed request's own provider batch")
        second = next(b for b in fake.batches if b != first)
        assert list(fake.batch(second).requests) == [failing]
        status = await wait_for(
            lambda: _if_submitted(http, jobs[0], _named(provider, second)), what="the second batch's message"
        )
        assert status["message"] == messages.provider_batch_submitted(_named(provider, second), 1)
        fake.finish(second)
        events = await read_events(http, jobs[0]["events_url"])
    assert events[-1].event == JobStatus.completed, events[-1].data
    result = events[-1].data["result"]
    assert [t["title"] for t in result["test_cases"]] == [f"Test case {n}" for n in range(1, 7)]
    assert fake.calls == 0 and result["stats"]["llm_calls"] == 2
    project_id = (await http.get("/user-stories/US-1")).json()["project_id"]
    (row,) = (await http.get(f"/projects/{project_id}/usage")).json()["per_model"]
    assert row["batch_calls"] == 2 and row["batch_tokens"] == row["tokens"]


async def test_each_check_keeps_the_waiting_jobs_live_state(
    http: AsyncClient, configured: Settings, provider: ModelServer, redis: Redis
) -> None:
    fake = fake_of(provider)
    await make_story(http, "US-1")
    jobs = await bulk(http, ["US-1"], num_test_cases=3, scenarios_per_test_case=2, delivery="batch")
    task_id = jobs[0]["task_id"]
    async with run_worker(configured):
        (batch_id,) = await submitted(http, provider, jobs, 1)
        for key in (state_key(task_id), events_key(task_id)):
            await redis.expire(key, 5)
        polls = fake.batch(batch_id).polls
        await wait_for(lambda: fake.batch(batch_id).polls >= polls + 2, what="two more checks")
        ttls = [await redis.ttl(key) for key in (state_key(task_id), events_key(task_id))]
        assert min(ttls) > 5, ttls
        fake.finish(batch_id)
        events = await read_events(http, jobs[0]["events_url"])
    assert events[-1].event == JobStatus.completed


async def test_a_batch_submitted_by_a_run_that_stopped_before_recording_it_is_found_not_sent_again(
    http: AsyncClient, configured: Settings, provider: ModelServer, redis: Redis
) -> None:
    fake = fake_of(provider)
    await make_story(http, "US-1")
    jobs = await bulk(http, ["US-1"], num_test_cases=3, scenarios_per_test_case=2, delivery="batch")
    task_id = jobs[0]["task_id"]
    # What a run leaves when it stops between the provider's answer and writing the batch's id
    label = f"testgen job {task_id} (0)"
    key = f"{task_id}:0"
    request = plan_batches(STORY, 3, 2, configured.batch_max_scenarios)[0]
    async with make_api(configured, provider) as api:
        batch_name = await api.submit([BatchItem(key, request)], model=provider.model, label=label)
    record = provider_batches.ProviderBatchRecord(
        batch_id="", label=label, provider=provider.name, model=provider.model, keys=[key], submitted_at=0
    )
    await provider_batches.save_record(redis, task_id, record)
    async with run_worker(configured):
        status = await wait_for(
            lambda: _if_submitted(http, jobs[0], batch_name), what="the job to wait for the found batch"
        )
        assert status["message"] == messages.provider_batch_waiting(batch_name, "pending")
        fake.finish(batch_name)
        events = await read_events(http, jobs[0]["events_url"])
    assert events[-1].event == JobStatus.completed, events[-1].data
    assert fake.creates == 1 and fake.calls == 0


async def test_a_restarted_worker_resumes_watching(
    http: AsyncClient, configured: Settings, provider: ModelServer, redis: Redis
) -> None:
    fake = fake_of(provider)
    await make_story(http, "US-1")
    jobs = await bulk(http, ["US-1"], num_test_cases=3, scenarios_per_test_case=2, delivery="batch")
    async with run_worker(configured):
        (batch_id,) = await submitted(http, provider, jobs, 1)
    assert await redis.exists(provider_batch_key(jobs[0]["task_id"]))
    fake.finish(batch_id)
    async with run_worker(configured):
        events = await read_events(http, jobs[0]["events_url"])
    assert events[-1].event == JobStatus.completed, events[-1].data
    assert fake.creates == 1 and fake.calls == 0  # the same batch, never submitted again


async def test_cancelling_a_job_cancels_its_provider_batch(
    http: AsyncClient, configured: Settings, provider: ModelServer, redis: Redis
) -> None:
    fake = fake_of(provider)
    await make_story(http, "US-1")
    jobs = await bulk(http, ["US-1"], num_test_cases=3, scenarios_per_test_case=2, delivery="batch")
    task_id = jobs[0]["task_id"]
    async with run_worker(configured) as worker:
        (batch_id,) = await submitted(http, provider, jobs, 1)
        assert (await http.post(f"/generate-test-cases/{task_id}/cancel")).status_code == 202
        # The cron's sweep cancels it (the job's own deferred run may have done so first, or never)
        assert await provider_batches.sweep(worker.ctx["resources"]) in ([task_id], [])
    batch = fake.batch(batch_id)
    assert batch.cancels >= 1 and batch.state in ("cancelled", "cancelling")
    assert not await redis.exists(provider_batch_key(task_id))
    assert (await status_of(http, jobs[0]))["status"] == JobStatus.cancelled
    assert fake.calls == 0


async def test_standard_delivery_sends_no_provider_batch(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    await make_story(http, "US-1")
    jobs = await bulk(http, ["US-1"], num_test_cases=3, scenarios_per_test_case=2)
    async with run_worker(configured):
        events = await read_events(http, jobs[0]["events_url"])
    assert events[-1].event == JobStatus.completed
    assert fake_of(provider).creates == 0 and provider.fake.calls == 1


async def test_a_project_that_defaults_to_batch_delivery_sends_its_bulk_jobs_in_a_provider_batch(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    story = await make_story(http, "US-1")
    r = await http.patch(f"/projects/{story['project_id']}", json={"default_delivery": "batch"})
    assert r.status_code == 200 and r.json()["default_delivery"] == "batch"
    jobs = await bulk(http, ["US-1"], num_test_cases=3, scenarios_per_test_case=2)
    async with run_worker(configured):
        (batch_id,) = await submitted(http, provider, jobs, 1)
        fake_of(provider).finish(batch_id)
        events = await read_events(http, jobs[0]["events_url"])
    assert events[-1].event == JobStatus.completed
    standard = await bulk(http, ["US-1"], num_test_cases=3, scenarios_per_test_case=2, delivery="standard")
    async with run_worker(configured):
        events = await read_events(http, standard[0]["events_url"])
    assert events[-1].event == JobStatus.completed
    assert fake_of(provider).creates == 1 and provider.fake.calls == 1
