"""The model pass over a story's playwright-bdd skeleton: a job queued with POST
…/test-cases/automation/fill, run by a real worker with the offline provider, followed on the status
endpoint and the event stream (a real uvicorn), charged to the project's budget, and its proposals in
the skeleton downloaded with `task_id`, each marked for review; a step without a usable body stays
pending."""

from __future__ import annotations

import io
import re
import zipfile
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.automation import fill
from testgen.automation.fill import FillStep
from testgen.core.config import OFFLINE_MODEL, Settings
from testgen.data.models import GenerationJob
from testgen.worker import automation_fill
from tests.support.harness import run_worker
from tests.support.helpers import is_status, make_story, queue, read_events, wait_for_job

BASE_URL = "http://127.0.0.1:9/shop/"
MARK = f"// PROPOSAL from offline/{OFFLINE_MODEL} — review before use"


async def job_ids(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(GenerationJob.id).order_by(GenerationJob.id)))


def unzip(content: bytes) -> dict[str, str]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name).decode() for name in archive.namelist()}


async def saved_story(client: AsyncClient, story_id: str = "US-1") -> dict[str, Any]:
    story = await make_story(client, story_id)
    job = await queue(client, story_id, num_test_cases=3, scenarios_per_test_case=2)
    await wait_for_job(client, job["status_url"], is_status("completed"), what="the draft")
    r = await client.post(f"/generate-test-cases/{job['task_id']}/save")
    assert r.status_code == 201, r.text
    return story


async def queue_fill(client: AsyncClient, story_id: str = "US-1", **body: object) -> dict[str, Any]:
    r = await client.post(
        f"/user-stories/{story_id}/test-cases/automation/fill", json={"base_url": BASE_URL, **body}
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


async def test_a_fill_job_reports_each_batch_and_its_skeleton_holds_the_marked_proposals(
    http: AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(automation_fill, "FILL_BATCH_STEPS", 3)
    real_body = fill.offline_body

    def one_bad_body(step: FillStep, base_url: str) -> str:
        # The model's answer for the first When step reaches for Node: it is dropped, the step stays pending
        if step.step.startswith("When ") and not one_bad_body.done:  # type: ignore[attr-defined]
            one_bad_body.done = True  # type: ignore[attr-defined]
            return 'require("fs").rmSync("/");'
        return real_body(step, base_url)

    one_bad_body.done = False  # type: ignore[attr-defined]
    monkeypatch.setattr(fill, "offline_body", one_bad_body)
    async with run_worker(settings):
        story = await saved_story(http)
    plain = unzip(
        (
            await http.get("/user-stories/US-1/test-cases/automation", params={"framework": "playwright-bdd"})
        ).content
    )["steps/steps.ts"]
    pending = plain.count("test.fixme(true, ")
    assert pending >= 4 and "PROPOSAL" not in plain  # the deterministic skeleton stays the default

    queued = await queue_fill(http)
    assert set(queued) >= {"task_id", "status_url", "events_url"} and queued["status"] == "queued"
    async with run_worker(settings):
        events = await read_events(http, queued["events_url"])
    assert events[-1].event == "completed", events[-1].data
    progress = [e.data["progress"] for e in events]
    assert progress == sorted(progress) and progress[-1] == 100
    batches = -(-pending // 3)
    steps = [e.data["message"] for e in events if e.data["message"].startswith("Proposed bodies for ")]
    assert steps[:batches] == [
        f"Proposed bodies for {min(pending, 3 * (i + 1))}/{pending} steps (Batch {i + 1}/{batches})"
        for i in range(batches)
    ]

    state = (await http.get(queued["status_url"])).json()
    assert state["kind"] == "automation_fill" and state["options"]["base_url"] == BASE_URL
    result = state["result"]
    assert (result["steps"], result["proposed"], result["failed"]) == (pending, pending - 1, 1)
    failed = [p for p in result["proposals"] if p["body"] is None]
    assert len(failed) == 1 and failed[0]["error"] == "uses require" and failed[0]["step"].startswith("When ")
    assert result["stats"]["llm_calls"] == batches and result["stats"]["tokens"]["total"] > 0

    r = await http.get(
        "/user-stories/US-1/test-cases/automation",
        params={"framework": "playwright-bdd", "task_id": queued["task_id"]},
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'attachment; filename="US-1-proposed-playwright-bdd.zip"'
    files = unzip(r.content)
    steps_ts = files["steps/steps.ts"]
    assert steps_ts.count(MARK) == pending - 1
    assert steps_ts.count("test.fixme(true, ") == 1 and "require" not in steps_ts
    assert 'import { expect, test } from "@playwright/test";' in steps_ts
    assert f'await page.goto("{BASE_URL}");' in steps_ts
    # each proposal sits in its own definition, right under the marker
    for block in re.findall(re.escape(MARK) + r"\n(.*?)\n\}\);", steps_ts, re.S):
        assert block.startswith("  await ") and "test.fixme" not in block

    usage = (await http.get(f"/projects/{story['project_id']}/usage?days=1")).json()
    assert [m["jobs"] for m in usage["per_model"]] == [2]  # the draft and the fill
    assert usage["spent_today"] > result["stats"]["tokens"]["total"]


async def test_a_fill_over_the_budget_fails_before_any_call(
    client: AsyncClient, worker: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = await saved_story(client)
    project = f"/projects/{story['project_id']}"
    spent = (await client.get(f"{project}/usage?days=1")).json()["spent_today"]
    calls: list[int] = []
    real = fill.offline_answer
    monkeypatch.setattr(fill, "offline_answer", lambda *a: calls.append(1) or real(*a))
    assert (await client.patch(project, json={"token_budget_daily": spent + 10})).status_code == 200
    queued = await queue_fill(client, framework="playwright-bdd")
    failed = await wait_for_job(client, queued["status_url"], is_status("failed", "completed"), what="it")
    assert failed["status"] == "failed" and failed["error"]["type"] == "budget", failed
    assert calls == [] and f"daily token budget of {spent + 10}" in failed["error"]["message"]
    # a project that spent its budget already is refused at the door
    assert (await client.patch(project, json={"token_budget_daily": spent})).status_code == 200
    r = await client.post("/user-stories/US-1/test-cases/automation/fill", json={"base_url": BASE_URL})
    assert r.status_code == 429 and "token_budget_daily" in r.json()["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"base_url": ""},
        {"base_url": "ftp://shop.example/"},
        {"base_url": "javascript:alert(1)"},
        {"base_url": "/relative/path"},
        {"base_url": "http://"},
        {"base_url": "http://user:secret@shop.example/"},
        {"base_url": "http://shop.example/a b"},
        {"base_url": "http://shop.example:99999/"},
        {"base_url": "http://shop.example/\u0000"},
        {"base_url": "https://shop.example/" + "a" * 2000},
        {"base_url": 42},
        {"base_url": BASE_URL, "framework": "behave"},
        {"base_url": BASE_URL, "extra": True},
    ],
)
async def test_the_base_url_is_an_http_url_and_the_framework_playwright_bdd(
    client: AsyncClient, body: dict[str, object]
) -> None:
    await make_story(client, "US-1")
    r = await client.post("/user-stories/US-1/test-cases/automation/fill", json=body)
    assert r.status_code == 422, (body, r.text)


async def test_a_fill_needs_saved_test_cases_and_its_skeleton_a_completed_fill_of_the_story(
    client: AsyncClient, worker: object
) -> None:
    await make_story(client, "US-2")
    r = await client.post("/user-stories/US-2/test-cases/automation/fill", json={"base_url": BASE_URL})
    assert r.status_code == 409 and "no saved test cases" in r.json()["detail"]
    assert (await client.post("/user-stories/NOPE/test-cases/automation/fill", json={})).status_code == 404
    await saved_story(client, "US-1")
    draft = await queue(client, "US-1")
    queued = await queue_fill(client)
    await wait_for_job(client, queued["status_url"], is_status("completed"), what="the fill")
    url = "/user-stories/{}/test-cases/automation"
    asked = {"framework": "playwright-bdd", "task_id": queued["task_id"]}
    assert (await client.get(url.format("US-2"), params=asked)).status_code == 404  # another story's
    other = {**asked, "task_id": draft["task_id"]}
    assert (await client.get(url.format("US-1"), params=other)).status_code == 404  # not a fill job
    behave = {**asked, "framework": "behave"}
    assert (await client.get(url.format("US-1"), params=behave)).status_code == 409
    assert (await client.get(url.format("US-1"), params=asked)).status_code == 200


async def test_asking_the_model_pass_on_the_download_says_how_to_queue_it_and_queues_nothing(
    client: AsyncClient, worker: object, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await saved_story(client, "US-1")
    jobs_before = await job_ids(sessionmaker)
    asked = {"framework": "playwright-bdd", "fill": "playwright", "base_url": BASE_URL}
    r = await client.get("/user-stories/US-1/test-cases/automation", params=asked)
    assert r.status_code == 400
    assert "POST /user-stories/US-1/test-cases/automation/fill" in r.json()["detail"]
    assert await job_ids(sessionmaker) == jobs_before
    plain = {"framework": "playwright-bdd"}
    assert (await client.get("/user-stories/US-1/test-cases/automation", params=plain)).status_code == 200
