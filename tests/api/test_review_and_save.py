from __future__ import annotations

import asyncio
from typing import Any

import pytest
from httpx import AsyncClient
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.services import review
from testgen.core.config import Settings
from testgen.core.redis_keys import events_key, state_key
from testgen.data import models, repository
from testgen.domain.test_cases import Scenario
from testgen.domain.test_cases import TestCaseDraft as Draft
from testgen.generation.llm.base import (
    BatchRequest,
    BatchResult,
    CallStats,
    LLMProvider,
    StoryText,
    TestCaseSlot,
)
from testgen.generation.llm.factory import ProviderSet
from testgen.generation.llm.offline import OfflineProvider
from testgen.generation.llm.prompt import build_prompt
from testgen.generation.quality import coverage, duplicate_positions
from testgen.worker.generate import run_generation
from testgen.worker.regenerate import run_regeneration
from testgen.worker.resources import WorkerResources
from tests.support.harness import WAIT_S, run_worker
from tests.support.helpers import is_status, make_story, queue, read_events, wait_for_job

TERMINAL = {"completed", "failed", "cancelled"}


async def wait_done(client: AsyncClient, status_url: str) -> dict[str, Any]:
    return await wait_for_job(client, status_url, is_status(*TERMINAL), what="the job to end")


async def generate(client: AsyncClient, story_id: str, **options: int) -> dict[str, Any]:
    job = await queue(client, story_id, **options)
    status = await wait_done(client, job["status_url"])
    assert status["status"] == "completed", status
    return {**status, "status_url": job["status_url"]}


def save_url(task_id: str) -> str:
    return f"/generate-test-cases/{task_id}/save"


def regenerate_url(task_id: str, index: int | str) -> str:
    return f"/generate-test-cases/{task_id}/test-cases/{index}/regenerate"


async def count_test_cases(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(models.TestCase)) or 0)


def titles(case: dict[str, Any]) -> set[str]:
    return {s["title"] for s in case["scenarios"]}


# --- save ---------------------------------------------------------------------------------------


async def test_save_everything_with_provenance(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-001")
    job = await generate(client, "US-001", num_test_cases=3, scenarios_per_test_case=2)
    drafts = (await client.get("/user-stories/US-001/drafts")).json()
    assert [d["task_id"] for d in drafts] == [job["task_id"]]

    r = await client.post(save_url(job["task_id"]))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["saved"] == 3 and len(body["test_case_ids"]) == 3
    assert body["test_case_ids"] == sorted(body["test_case_ids"])

    saved = (await client.get("/user-stories/US-001/test-cases")).json()
    assert [tc["id"] for tc in saved] == body["test_case_ids"]
    for row, draft in zip(saved, job["result"]["test_cases"], strict=True):
        assert (row["task_id"], row["provider"], row["model"]) == (job["task_id"], "offline", "offline-v1")
        for field in ("title", "description", "preconditions", "priority", "test_type", "scenarios"):
            assert row[field] == draft[field], field
        assert row["covered_criteria"] == draft["covered_criteria"]

    status = (await client.get(job["status_url"])).json()
    assert status["saved_at"] is not None
    again = await client.post(save_url(job["task_id"]))
    assert again.status_code == 409 and "already saved" in again.json()["detail"]
    assert len((await client.get("/user-stories/US-001/test-cases")).json()) == 3
    assert (await client.get("/user-stories/US-001/drafts")).json() == []


async def test_save_a_reviewed_and_edited_subset(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-001")
    job = await generate(client, "US-001", num_test_cases=3, scenarios_per_test_case=2)
    first, _, third = job["result"]["test_cases"]
    edited = {
        **first,
        "title": "Pay with a saved card",
        "priority": "critical",
        "covered_criteria": [2, 0, 2],
        "scenarios": [{**first["scenarios"][0], "then": ["the order is paid", "a receipt is e-mailed"]}],
    }
    r = await client.post(save_url(job["task_id"]), json={"test_cases": [edited, third]})
    assert r.status_code == 201, r.text
    assert r.json()["saved"] == 2
    rows = (await client.get("/user-stories/US-001/test-cases")).json()
    assert [row["title"] for row in rows] == ["Pay with a saved card", third["title"]]
    assert rows[0]["priority"] == "critical" and rows[0]["covered_criteria"] == [0, 2]
    assert rows[0]["scenarios"] == edited["scenarios"]
    assert rows[1]["scenarios"] == third["scenarios"]
    assert all(row["task_id"] == job["task_id"] for row in rows)


async def test_invalid_edits_name_the_field_and_save_nothing(
    client: AsyncClient, worker: object, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_story(client, "US-001")
    job = await generate(client, "US-001", num_test_cases=2, scenarios_per_test_case=1)
    case = job["result"]["test_cases"][0]
    scenario = case["scenarios"][0]
    cases: list[tuple[dict[str, Any], list[Any]]] = [
        (
            {**case, "scenarios": [{**scenario, "then": []}]},
            ["body", "test_cases", 0, "scenarios", 0, "then"],
        ),
        (
            {**case, "scenarios": [scenario, {**scenario, "when": ["  "]}]},
            ["body", "test_cases", 0, "scenarios", 1, "when", 0],
        ),
        ({**case, "title": " "}, ["body", "test_cases", 0, "title"]),
        ({**case, "scenarios": []}, ["body", "test_cases", 0, "scenarios"]),
        ({**case, "test_type": "smoke"}, ["body", "test_cases", 0, "test_type"]),
    ]
    for bad, loc in cases:
        r = await client.post(save_url(job["task_id"]), json={"test_cases": [case, bad]})
        assert r.status_code == 422, r.text
        assert [e["loc"] for e in r.json()["detail"]] == [[*loc[:2], 1, *loc[3:]]]
    r = await client.post(save_url(job["task_id"]), json={"test_cases": []})
    assert r.status_code == 422 and [e["loc"] for e in r.json()["detail"]] == [["body", "test_cases"]]
    r = await client.post(
        save_url(job["task_id"]), json={"test_cases": [{**case, "covered_criteria": [1, 3]}]}
    )
    assert r.status_code == 409  # a valid index, but not one of this story's criteria
    assert r.json()["detail"] == (
        "test_cases.0.covered_criteria: criterion 3 does not exist; user story US-001 has 3 "
        "acceptance criteria (0-2)"
    )
    assert await count_test_cases(sessionmaker) == 0
    # nothing was marked saved: the whole draft can still be saved
    r = await client.post(save_url(job["task_id"]))
    assert r.status_code == 201 and r.json()["saved"] == 2


async def test_only_completed_unsaved_jobs_can_be_saved(client: AsyncClient) -> None:
    await make_story(client, "US-001")
    job = await queue(client, "US-001")  # no worker: it stays queued
    r = await client.post(save_url(job["task_id"]))
    assert r.status_code == 409 and r.json()["detail"].startswith(f"Task {job['task_id']} is queued")
    await client.post(f"/generate-test-cases/{job['task_id']}/cancel")
    r = await client.post(save_url(job["task_id"]))
    assert r.status_code == 409 and "is cancelled" in r.json()["detail"]
    r = await client.post(save_url("nope"))
    assert r.status_code == 404 and r.json()["detail"] == "Task nope not found"


async def test_racing_saves_insert_once(
    client: AsyncClient, worker: object, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_story(client, "US-001")
    await make_story(client, "US-002")
    job = await generate(client, "US-001", num_test_cases=4, scenarios_per_test_case=1)
    answers = await asyncio.gather(*(client.post(save_url(job["task_id"])) for _ in range(6)))
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409, 409]
    assert await count_test_cases(sessionmaker) == 4

    # Two sessions that both loaded the job before either saved: only the conditional UPDATE decides.
    other = await generate(client, "US-002", num_test_cases=3, scenarios_per_test_case=1)
    async with sessionmaker() as s1, sessionmaker() as s2:
        j1 = await repository.get_job(s1, other["task_id"])
        await s1.commit()  # on SQLite a read transaction holds the write lock
        j2 = await repository.get_job(s2, other["task_id"])
        await s2.commit()
        assert j1 is not None and j2 is not None and j1.saved_at is None and j2.saved_at is None
        outcomes = await asyncio.gather(
            review.save(s1, j1, None), review.save(s2, j2, None), return_exceptions=True
        )
    assert sorted(type(o).__name__ for o in outcomes) == ["ConflictError", "tuple"]
    assert [len(o[0]) for o in outcomes if isinstance(o, tuple)] == [3]
    assert await count_test_cases(sessionmaker) == 7


async def test_a_draft_outlives_redis_until_saved(client: AsyncClient, worker: object, redis: Redis) -> None:
    await make_story(client, "US-001")
    job = await generate(client, "US-001", num_test_cases=2, scenarios_per_test_case=2)
    await redis.flushdb()
    drafts = (await client.get("/user-stories/US-001/drafts")).json()
    assert len(drafts) == 1 and drafts[0]["result"]["test_cases"] == job["result"]["test_cases"]
    r = await client.post(save_url(job["task_id"]))
    assert r.status_code == 201 and r.json()["saved"] == 2


# --- discard ------------------------------------------------------------------------------------


async def test_discard_a_draft(client: AsyncClient, settings: Settings, redis: Redis) -> None:
    await make_story(client, "US-001")
    job = await queue(client, "US-001", num_test_cases=1, scenarios_per_test_case=1)
    r = await client.delete(f"/generate-test-cases/{job['task_id']}")
    assert r.status_code == 409 and "still queued; cancel it first" in r.json()["detail"]
    async with run_worker(settings):
        await wait_done(client, job["status_url"])
        child = (await client.post(regenerate_url(job["task_id"], 0))).json()
        assert (await wait_done(client, child["status_url"]))["status"] == "completed"
    assert await redis.exists(state_key(job["task_id"]), events_key(job["task_id"])) == 2

    r = await client.delete(f"/generate-test-cases/{job['task_id']}")
    assert r.status_code == 204
    for task in (job["task_id"], child["task_id"]):
        assert (await client.get(f"/generate-test-cases/status/{task}")).status_code == 404
        assert await redis.exists(state_key(task), events_key(task)) == 0
    assert (await client.get("/user-stories/US-001/drafts")).json() == []
    assert (await client.delete(f"/generate-test-cases/{job['task_id']}")).status_code == 404

    cancelled = await queue(client, "US-001")
    await client.post(f"/generate-test-cases/{cancelled['task_id']}/cancel")
    assert (await client.delete(f"/generate-test-cases/{cancelled['task_id']}")).status_code == 204


async def test_a_saved_job_cannot_be_discarded(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-001")
    job = await generate(client, "US-001", num_test_cases=1, scenarios_per_test_case=1)
    assert (await client.post(save_url(job["task_id"]))).status_code == 201
    r = await client.delete(f"/generate-test-cases/{job['task_id']}")
    assert r.status_code == 409 and "was saved" in r.json()["detail"]
    assert len((await client.get("/user-stories/US-001/test-cases")).json()) == 1


# --- saved test cases ---------------------------------------------------------------------------


async def test_get_patch_delete_a_test_case(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-001")
    job = await generate(client, "US-001", num_test_cases=2, scenarios_per_test_case=2)
    ids = (await client.post(save_url(job["task_id"]))).json()["test_case_ids"]
    url = f"/test-cases/{ids[0]}"
    before = (await client.get(url)).json()
    assert before["title"] == job["result"]["test_cases"][0]["title"] and before["story_id"] == "US-001"

    for method in ("GET", "PATCH", "DELETE"):
        r = await client.request(method, "/test-cases/424242", json={} if method == "PATCH" else None)
        assert r.status_code == 404 and r.json()["detail"] == "Test case 424242 not found", method
    for bad_id in (
        "abc",
        "0",
        str(2**31),
        str(2**63),
    ):  # not ids an INTEGER key can hold: not the driver's problem
        r = await client.get(f"/test-cases/{bad_id}")
        assert r.status_code == 422 and [e["loc"] for e in r.json()["detail"]] == [
            ["path", "test_case_id"]
        ], r.text

    r = await client.patch(
        url, json={"title": "  Renamed  ", "priority": "critical", "covered_criteria": [2, 0, 2]}
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert (after["title"], after["priority"], after["covered_criteria"]) == ("Renamed", "critical", [0, 2])
    assert after["scenarios"] == before["scenarios"] and after["description"] == before["description"]
    assert after["updated_at"] > before["updated_at"] and after["created_at"] == before["created_at"]

    bad_scenario = {"title": "x", "given": ["a"], "when": ["b"], "then": []}
    for body, loc in [
        ({"scenarios": [bad_scenario]}, ["body", "scenarios", 0, "then"]),
        ({"scenarios": []}, ["body", "scenarios"]),
        ({"title": None}, ["body", "title"]),
        ({"priority": "urgent"}, ["body", "priority"]),
        ({"story_id": "US-002"}, ["body", "story_id"]),
    ]:
        r = await client.patch(url, json=body)
        assert r.status_code == 422, body
        assert [e["loc"] for e in r.json()["detail"]] == [loc], body
    r = await client.patch(url, json={"covered_criteria": [5]})
    assert r.status_code == 409 and r.json()["detail"].startswith(
        "covered_criteria: criterion 5 does not exist"
    )

    scenarios = [{"title": "Edited", "given": ["g"], "when": ["w"], "then": ["t1", "t2"]}]
    assert (await client.patch(url, json={"scenarios": scenarios})).status_code == 200
    stored = (await client.get(url)).json()
    assert stored["scenarios"] == scenarios and stored["title"] == "Renamed"

    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert [tc["id"] for tc in (await client.get("/user-stories/US-001/test-cases")).json()] == ids[1:]


# --- regenerate one test case -------------------------------------------------------------------


async def test_regenerate_replaces_one_test_case(http: AsyncClient, worker: object) -> None:
    story = await make_story(http, "US-001")
    job = await generate(http, "US-001", num_test_cases=3, scenarios_per_test_case=2)
    old = job["result"]["test_cases"]

    r = await http.post(regenerate_url(job["task_id"], 1))
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["parent_id"] == job["task_id"] and queued["index"] == 1
    assert queued["task_id"] != job["task_id"] and queued["status"] == "queued"
    assert queued["status_url"] == f"/generate-test-cases/status/{queued['task_id']}"

    events = await read_events(http, queued["events_url"])
    assert events[0].event == "queued" and events[-1].event == "completed"
    assert {"started", "generating"} <= {e.event for e in events}
    assert [e.data["progress"] for e in events] == sorted(e.data["progress"] for e in events)
    final = events[-1].data
    assert final["kind"] == "regenerate" and final["result"]["index"] == 1
    assert final["result"]["parent_id"] == job["task_id"]
    new = final["result"]["test_case"]
    assert new["title"] != old[1]["title"] and new["test_type"] == old[1]["test_type"]
    assert not titles(new) & set().union(*map(titles, old))
    assert new["scenarios"] != old[1]["scenarios"] and len(new["scenarios"]) == 2

    parent = (await http.get(f"/generate-test-cases/status/{job['task_id']}")).json()
    cases = parent["result"]["test_cases"]
    assert cases == [old[0], new, old[2]]
    drafts = [Draft.model_validate(c) for c in cases]
    assert parent["result"]["coverage"] == coverage(story["acceptance_criteria"], drafts).model_dump()
    assert final["result"]["coverage"] == parent["result"]["coverage"]
    assert parent["status"] == "completed" and parent["saved_at"] is None

    # Again: differs from both earlier versions.
    again = (await http.post(regenerate_url(job["task_id"], 1))).json()
    newer = (await wait_done(http, again["status_url"]))["result"]["test_case"]
    assert not titles(newer) & (titles(new) | titles(old[1]))

    ids = (await http.post(save_url(job["task_id"]))).json()["test_case_ids"]
    saved = [(await http.get(f"/test-cases/{i}")).json() for i in ids]
    assert [s["title"] for s in saved] == [old[0]["title"], newer["title"], old[2]["title"]]


async def test_regenerate_checks(client: AsyncClient, settings: Settings) -> None:
    await make_story(client, "US-001")
    pending = await queue(client, "US-001", num_test_cases=2, scenarios_per_test_case=1)
    r = await client.post(regenerate_url(pending["task_id"], 0))
    assert r.status_code == 409 and "is queued" in r.json()["detail"]
    async with run_worker(settings):
        await wait_done(client, pending["status_url"])
        task = pending["task_id"]
        r = await client.post(regenerate_url(task, 2))
        assert r.status_code == 404
        assert r.json()["detail"] == f"Test case 2 of task {task} (it has 2, from 0) not found"
        for bad in (-1, "x"):
            r = await client.post(regenerate_url(task, bad))
            assert r.status_code == 422 and [e["loc"] for e in r.json()["detail"]] == [["path", "index"]], (
                r.text
            )
        assert (await client.post(regenerate_url("nope", 0))).status_code == 404
        child = (await client.post(regenerate_url(task, 0))).json()
        await wait_done(client, child["status_url"])
        r = await client.post(regenerate_url(child["task_id"], 0))
        assert r.status_code == 409 and f"of task {task}" in r.json()["detail"]
        r = await client.post(save_url(child["task_id"]))
        assert r.status_code == 409
        assert (await client.post(save_url(task))).status_code == 201
        r = await client.post(regenerate_url(task, 0))
        assert r.status_code == 409 and "already saved" in r.json()["detail"]


async def test_regeneration_leaves_a_saved_draft_alone(client: AsyncClient, settings: Settings) -> None:
    await make_story(client, "US-001")
    async with run_worker(settings):
        job = await generate(client, "US-001", num_test_cases=2, scenarios_per_test_case=1)
    child = (await client.post(regenerate_url(job["task_id"], 0))).json()  # queued, no worker yet
    ids = (await client.post(save_url(job["task_id"]))).json()["test_case_ids"]
    async with run_worker(settings):
        status = await wait_done(client, child["status_url"])
    assert status["status"] == "failed" and status["error"]["type"] == "conflict"
    assert "was saved or discarded meanwhile" in status["error"]["message"]
    parent = (await client.get(f"/generate-test-cases/status/{job['task_id']}")).json()
    assert parent["result"]["test_cases"] == job["result"]["test_cases"]
    assert (await client.get(f"/test-cases/{ids[0]}")).json()["title"] == job["result"]["test_cases"][0][
        "title"
    ]


async def test_concurrent_regenerations_of_one_draft_all_apply(
    client: AsyncClient, resources: WorkerResources
) -> None:
    await make_story(client, "US-001", criteria=4)
    job = await queue(client, "US-001", num_test_cases=4, scenarios_per_test_case=2)
    resources.provider = OfflineProvider()
    assert await run_generation(resources, job["task_id"]) == "completed"
    old = (await client.get(job["status_url"])).json()["result"]["test_cases"]
    children = [(await client.post(regenerate_url(job["task_id"], i))).json() for i in (0, 2, 3)]
    resources.provider = TogetherProvider(parties=len(children))  # all read the draft, then all write
    ends = await asyncio.gather(*(run_regeneration(resources, c["task_id"]) for c in children))
    assert ends == ["completed"] * 3
    done = [(await client.get(c["status_url"])).json() for c in children]
    cases = (await client.get(f"/generate-test-cases/status/{job['task_id']}")).json()["result"]["test_cases"]
    assert cases[1] == old[1]
    for d in done:
        index = d["result"]["index"]
        assert cases[index] == d["result"]["test_case"] != old[index]


class TogetherProvider(OfflineProvider):
    """Answers no call until `parties` calls are waiting: the jobs asking overlap for certain."""

    def __init__(self, parties: int) -> None:
        super().__init__()
        self._barrier = asyncio.Barrier(parties)

    async def generate_batch(self, request: BatchRequest) -> BatchResult:
        async with asyncio.timeout(WAIT_S):
            await self._barrier.wait()
        return await super().generate_batch(request)


def test_offline_provider_avoids_titles() -> None:
    story = StoryText("US-1", "Checkout", "", ["Pay by card", "Pay by invoice"])
    slot = TestCaseSlot(index=1, test_type="negative", criteria=[1])

    def ask(avoid: list[str]) -> Draft:
        request = BatchRequest(story, 0, 1, [slot], 3, avoid_titles=avoid)
        return asyncio.run(OfflineProvider().generate_batch(request)).test_cases[0]

    first = ask([])
    assert ask([]) == first
    second = ask([s.title for s in first.scenarios])
    third = ask([s.title for s in first.scenarios + second.scenarios])
    assert ask(["unrelated"]) == first
    for earlier, later in ((first, second), (first, third), (second, third)):
        assert not {s.title for s in earlier.scenarios} & {s.title for s in later.scenarios}
        assert not duplicate_positions([earlier, later])
        assert later.title != earlier.title
    assert second.test_type == first.test_type and second.covered_criteria == [1]


# --- near-duplicate scenarios -------------------------------------------------------------------


class EchoingProvider:
    """Writes the same first scenario, spelled differently, into every test case.

    Asked again (with `avoid_titles`), it answers with that duplicate first again, then, if `fresh`,
    scenarios it never wrote before; otherwise the same ones as the first time.
    """

    name = "echo"
    model = "echo-1"
    SPELLINGS = ("the shopper is signed in", "The Shopper is signed-in!", "the  shopper, is SIGNED in.")

    def __init__(self, *, fresh: bool = True) -> None:
        self.fresh = fresh
        self.requests: list[BatchRequest] = []

    def _echo(self, slot: TestCaseSlot) -> Scenario:
        spelling = self.SPELLINGS[slot.index % len(self.SPELLINGS)]
        return Scenario(
            title=f"Signed-in shopper {slot.index}", given=[spelling], when=["pays"], then=["paid"]
        )

    async def generate_batch(self, request: BatchRequest, model: str | None = None) -> BatchResult:
        self.requests.append(request)
        call = len(self.requests)
        cases = []
        for slot in request.slots:
            scenarios = [self._echo(slot)]
            for n in range(1, request.scenarios_per_test_case):
                tag = (
                    f"{call}.{slot.index}.{n}" if request.avoid_titles and self.fresh else f"{slot.index}.{n}"
                )
                scenarios.append(
                    Scenario(title=f"case {tag}", given=[f"data {tag}"], when=["pays"], then=["ok"])
                )
            cases.append(
                Draft(
                    title=f"TC {slot.index}",
                    test_type=slot.test_type,
                    scenarios=scenarios,
                    covered_criteria=slot.criteria,
                )
            )
        return BatchResult(test_cases=cases, stats=CallStats(calls=1, total_tokens=10))

    async def aclose(self) -> None:
        return None


def only(provider: LLMProvider, settings: Settings) -> ProviderSet:
    """A worker's providers with `provider` standing in for the default one."""
    return ProviderSet({settings.provider: provider}, settings)


@pytest.fixture
def worker_provider() -> LLMProvider:
    return EchoingProvider()


async def test_duplicates_are_replaced_and_counts_stay_exact(
    client: AsyncClient, resources: WorkerResources, redis: Redis
) -> None:
    await make_story(client, "US-001", criteria=4)
    job = await queue(client, "US-001", num_test_cases=4, scenarios_per_test_case=2)
    provider = EchoingProvider()
    resources.providers = only(provider, resources.settings)
    assert await run_generation(resources, job["task_id"]) == "completed"

    result = (await client.get(job["status_url"])).json()["result"]
    cases = [Draft.model_validate(c) for c in result["test_cases"]]
    assert [len(c.scenarios) for c in cases] == [2, 2, 2, 2]
    assert duplicate_positions(cases) == []
    assert result["stats"]["duplicates_replaced"] == 3 and "duplicates_remaining" not in result["stats"]
    # One extra call for the one batch, asking for the three test cases that hold duplicates.
    assert result["stats"]["scenarios"] == 8 and result["stats"]["llm_calls"] == 1 + 1
    assert result["stats"]["dedupe_calls"] == 1 and result["duplicates"] == []
    assert cases[0].scenarios[0].title == "Signed-in shopper 0"  # the first occurrence stays
    for i in (1, 2, 3):  # the duplicate was swapped for the answer's first fresh scenario
        assert (
            cases[i].scenarios[0].title.startswith("case ") and cases[i].scenarios[1].title == f"case {i}.1"
        )
    assert result["coverage"]["uncovered"] == []

    [reask] = provider.requests[1:]
    assert [s.index for s in reask.slots] == [1, 2, 3] and reask.scenarios_per_test_case == 2
    assert reask.technique == provider.requests[0].technique != ""
    assert {"Signed-in shopper 1", "case 0.1"} <= set(reask.avoid_titles)
    stored = await redis.xrange(events_key(job["task_id"]))
    messages = [f[b"data"].decode() for _, f in stored]
    assert any("Replacing 3 near-duplicate scenarios" in m and '"progress":80' in m for m in messages)


async def test_duplicates_that_keep_coming_back_are_bounded(
    client: AsyncClient, resources: WorkerResources
) -> None:
    provider = EchoingProvider(fresh=False)
    resources.providers = only(provider, resources.settings)
    await make_story(client, "US-001")
    job = await queue(client, "US-001", num_test_cases=3, scenarios_per_test_case=2)
    assert await run_generation(resources, job["task_id"]) == "completed"
    result = (await client.get(job["status_url"])).json()["result"]
    cases = [Draft.model_validate(c) for c in result["test_cases"]]
    assert [len(c.scenarios) for c in cases] == [2, 2, 2]
    assert result["stats"]["duplicates_replaced"] == 0 and result["stats"]["duplicates_remaining"] == 2
    assert len(provider.requests) == 1 + 1  # one batch, then one call for its two test cases, no more
    assert [(d["test_case"], d["scenario"], d["of"]) for d in result["duplicates"]] == [
        (1, 0, {"test_case": 0, "scenario": 0}),
        (2, 0, {"test_case": 0, "scenario": 0}),
    ]
    assert result["duplicates"][0]["message"] == "repeats test case 1, scenario 1 of this draft"
    assert result["quality"]["duplicates"] == {"replaced": 0, "within_draft": 2, "against_saved": 0}


class RepeatingProvider(EchoingProvider):
    """A model that repeats itself: the same text in every answer, whatever it is asked."""

    async def generate_batch(self, request: BatchRequest, model: str | None = None) -> BatchResult:
        self.requests.append(request)
        same = Scenario(title="Pay", given=["a basket"], when=["the shopper pays"], then=["it is paid"])
        cases = [
            Draft(title="TC", test_type=slot.test_type, scenarios=[same] * request.scenarios_per_test_case)
            for slot in request.slots
        ]
        return BatchResult(test_cases=cases, stats=CallStats(calls=1, total_tokens=10))


async def test_a_model_that_repeats_itself_costs_at_most_twice_the_base_calls(
    client: AsyncClient, resources: WorkerResources
) -> None:
    provider = RepeatingProvider()
    resources.providers = only(provider, resources.settings)
    await make_story(client, "US-001", criteria=5)
    job = await queue(client, "US-001", num_test_cases=50, scenarios_per_test_case=3)
    assert await run_generation(resources, job["task_id"]) == "completed"
    result = (await client.get(job["status_url"])).json()["result"]
    stats = result["stats"]
    assert stats["batches"] == 10 and stats["llm_calls"] == 10 + 10 == len(provider.requests)
    assert stats["dedupe_calls"] == 10 and stats["scenarios"] == 150
    # Every scenario but the first repeats it, and the answers could replace none of them.
    assert stats["duplicates_remaining"] == 149 == len(result["duplicates"])
    assert result["duplicates"][0] == {
        "test_case": 0,
        "scenario": 1,
        "message": "repeats test case 1, scenario 1 of this draft",
        "of": {"test_case": 0, "scenario": 0},
    }
    # Each batch was planned with its own technique, stated in its prompt.
    firsts = provider.requests[:10]
    assert len({r.technique for r in firsts[:6]}) == 6
    assert "Batch focus: acceptance criteria [0, 1, 2, 3, 4]; test types" in build_prompt(firsts[0])
    assert f"designed with {firsts[1].technique}" in build_prompt(firsts[1])


async def test_a_regenerated_duplicate_is_replaced(
    client: AsyncClient, settings: Settings, resources: WorkerResources
) -> None:
    await make_story(client, "US-001")
    job = await queue(client, "US-001", num_test_cases=2, scenarios_per_test_case=2)
    resources.providers = only(OfflineProvider(), resources.settings)
    assert await run_generation(resources, job["task_id"]) == "completed"
    original = (await client.get(job["status_url"])).json()["result"]["test_cases"]
    # The draft's first scenario, spelled differently: the regenerated case echoes it.
    echo = Scenario.model_validate(original[0]["scenarios"][0])
    echo = echo.model_copy(update={"title": "echo", "given": [g.upper() + "!" for g in echo.given]})

    class Echo(EchoingProvider):
        def _echo(self, slot: TestCaseSlot) -> Scenario:
            return echo

    provider = Echo()
    resources.providers = only(provider, resources.settings)
    child = (await client.post(regenerate_url(job["task_id"], 1))).json()
    assert await run_regeneration(resources, child["task_id"]) == "completed"
    result = (await client.get(child["status_url"])).json()["result"]
    assert result["stats"]["duplicates_replaced"] == 1 and result["stats"]["llm_calls"] == 2
    assert [s["title"] for s in result["test_case"]["scenarios"]] == ["case 2.1.1", "case 1.1.1"]
    assert provider.requests[0].avoid_titles[:2] == [s["title"] for s in original[1]["scenarios"]]
    parent = (await client.get(job["status_url"])).json()["result"]["test_cases"]
    assert parent == [original[0], result["test_case"]]


async def test_a_regeneration_cancelled_midway_changes_nothing(
    client: AsyncClient, resources: WorkerResources
) -> None:
    await make_story(client, "US-001")
    job = await queue(client, "US-001", num_test_cases=2, scenarios_per_test_case=1)
    resources.providers = only(OfflineProvider(), resources.settings)
    assert await run_generation(resources, job["task_id"]) == "completed"
    before = (await client.get(job["status_url"])).json()["result"]
    child = (await client.post(regenerate_url(job["task_id"], 1))).json()

    class CancelledWhileWriting(OfflineProvider):
        async def generate_batch(self, request: BatchRequest, model: str | None = None) -> BatchResult:
            r = await client.post(f"/generate-test-cases/{child['task_id']}/cancel")
            assert r.status_code == 202
            return await super().generate_batch(request, model)

    resources.providers = only(CancelledWhileWriting(), resources.settings)
    assert await run_regeneration(resources, child["task_id"]) == "finished-elsewhere"
    assert (await client.get(child["status_url"])).json()["status"] == "cancelled"
    assert (await client.get(job["status_url"])).json()["result"] == before
