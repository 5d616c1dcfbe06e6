"""The URLs a queued job's answer gives follow the root path the API is reached under."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.support.helpers import make_story


async def test_job_urls_carry_the_root_path_of_each_request(app: FastAPI, client: AsyncClient) -> None:
    for story_id in ("US-1", "US-2", "US-3"):
        await make_story(client, story_id)
    transport = ASGITransport(app=app, root_path="/testgen")
    async with AsyncClient(transport=transport, base_url="http://testserver") as proxied:
        first = await proxied.post("/testgen/generate-test-cases/US-1/queue")
        bulk = await proxied.post("/testgen/generate-test-cases/queue", json={"story_ids": ["US-2"]})
    direct = await client.post("/generate-test-cases/US-3/queue")

    answers = [(first.json(), "/testgen"), (bulk.json()["jobs"][0], "/testgen"), (direct.json(), "")]
    for answer, root in answers:
        task_id = answer["task_id"]
        assert answer["status_url"] == f"{root}/generate-test-cases/status/{task_id}"
        assert answer["events_url"] == f"{root}/generate-test-cases/status/{task_id}/events"
    batch = bulk.json()["batch_id"]
    assert bulk.json()["events_url"] == f"/testgen/generate-test-cases/events?batch={batch}"
