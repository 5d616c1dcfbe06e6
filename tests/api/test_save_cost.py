"""Saving a large draft: the draft is compared with the story's saved test cases only, never with
itself; the comparison runs with no database lock held and the event loop free; what changes while it
compares (the saved test cases, the draft, the job) is seen by the write that follows."""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import string
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from rapidfuzz import process
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.schemas.test_cases import MAX_SAVED_SCENARIOS
from testgen.data import repository
from testgen.data.job_states import EDIT_DRAFT
from testgen.domain.job_options import MAX_TEST_CASES
from testgen.domain.test_cases import MAX_SCENARIOS
from testgen.generation import similarity
from tests.support.harness import WAIT_S
from tests.support.helpers import is_status, make_story, queue, wait_for_job

WHEN = "they submit the form"


def shaped_cases(rng: random.Random, cases: int, scenarios: int, prefix: str) -> list[dict[str, Any]]:
    """Short scenarios with the same when step and given and then steps of their own: no numbers, no
    negations, so every one of them is compared with every saved one (one signature), and the when
    steps, compared first, are alike for all of them."""

    def words() -> str:
        return " ".join("".join(rng.choice(string.ascii_lowercase) for _ in range(7)) for _ in range(2))

    return [
        {
            "title": f"{prefix} {c}",
            "scenarios": [
                {"title": f"{prefix} {c}.{s}", "given": [words()], "when": [WHEN], "then": [words()]}
                for s in range(scenarios)
            ],
        }
        for c in range(cases)
    ]


def reworded(scenario: dict[str, Any]) -> dict[str, Any]:
    """The same test in other case and punctuation: a repeat."""
    return {
        "title": scenario["title"] + " again",
        "given": [g.upper() + "." for g in scenario["given"]],
        "when": ["They submit the form!"],
        "then": list(scenario["then"]),
    }


def save_url(task_id: str) -> str:
    return f"/generate-test-cases/{task_id}/save"


async def completed_job(client: AsyncClient, story_id: str) -> str:
    job = await queue(client, story_id, num_test_cases=1, scenarios_per_test_case=1)
    status = await wait_for_job(client, job["status_url"], is_status("completed"), what="the job to complete")
    return str(status["task_id"])


async def saved_story(
    client: AsyncClient, rng: random.Random, cases: int = 2, scenarios: int = 10
) -> list[Any]:
    """US-001 with `cases` saved test cases of the shape above; their rows."""
    await make_story(client, "US-001")
    task_id = await completed_job(client, "US-001")
    r = await client.post(
        save_url(task_id), json={"test_cases": shaped_cases(rng, cases, scenarios, "Saved")}
    )
    assert r.status_code == 201, r.text
    rows = (await client.get("/user-stories/US-001/test-cases")).json()
    assert len(rows) == cases
    return list(rows)


@contextlib.contextmanager
def while_comparing(monkeypatch: pytest.MonkeyPatch, act: Callable[[], None]) -> Iterator[list[int]]:
    """Run `act` once, on the first comparison of a draft scenario with the saved ones (on whichever
    thread compares); yields the number of comparison passes started (one per scenario)."""
    match = similarity.SavedIndex.match
    calls: list[int] = []

    def hooked(index: similarity.SavedIndex, key: similarity.ScenarioKey) -> similarity.SavedScenario | None:
        calls.append(1)
        if len(calls) == 1:
            act()
        return match(index, key)

    monkeypatch.setattr(similarity.SavedIndex, "match", hooked)
    yield calls


class OnLoop:
    """Runs a coroutine on the test's event loop from the thread that compares, and tells whether that
    was possible: on the loop's own thread, the loop is busy comparing and nothing else can run."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.thread = threading.get_ident()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        if threading.get_ident() == self.thread:
            coro.close()
            raise RuntimeError("the comparison runs on the event loop: nothing else can run meanwhile")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=WAIT_S)


def other_writer(
    database_url: str, task_id: str, on_loop: OnLoop, sessions: async_sessionmaker[AsyncSession]
) -> str:
    """'wrote' when another connection could write the job's row at once, else why it could not."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        db = sqlite3.connect(str(url.database), timeout=2, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE generation_jobs SET message = message WHERE id = ?", (task_id,))
            db.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            return f"SQLite: {exc}"
        finally:
            db.close()
        return "wrote"

    async def write() -> None:
        async with sessions() as session:
            await session.execute(text("SET LOCAL lock_timeout = '2s'"))
            await session.execute(
                text("UPDATE generation_jobs SET message = message WHERE id = :id"), {"id": task_id}
            )
            await session.rollback()

    try:
        on_loop.run(write())
    except Exception as exc:  # a lock timeout, or the loop busy comparing
        return f"{type(exc).__name__}: {exc}"
    return "wrote"


async def test_a_save_carries_at_most_a_drafts_test_cases(client: AsyncClient, worker: object) -> None:
    await make_story(client, "US-001")
    task_id = await completed_job(client, "US-001")
    case = {"title": "t", "scenarios": [{"title": "s", "given": ["g"], "when": ["w"], "then": ["t"]}]}
    r = await client.post(save_url(task_id), json={"test_cases": [case] * (MAX_TEST_CASES + 1)})
    assert r.status_code == 422 and [e["loc"] for e in r.json()["detail"]] == [["body", "test_cases"]]
    r = await client.post(
        save_url(task_id), json={"test_cases": [case], "keep": [[0, 0]] * (MAX_SAVED_SCENARIOS + 1)}
    )
    assert r.status_code == 422 and [e["loc"] for e in r.json()["detail"]] == [["body", "keep"]]
    assert MAX_SAVED_SCENARIOS == MAX_TEST_CASES * MAX_SCENARIOS


async def test_the_largest_draft_is_compared_with_the_saved_tests_only(
    client: AsyncClient, worker: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(7)
    saved_rows = await saved_story(client, rng)
    saved = sum(len(row["scenarios"]) for row in saved_rows)
    task_id = await completed_job(client, "US-001")
    largest = shaped_cases(rng, MAX_TEST_CASES, MAX_SCENARIOS, "Draft")
    largest[30]["scenarios"][17] = reworded(saved_rows[1]["scenarios"][9])
    drafted = MAX_TEST_CASES * MAX_SCENARIOS

    scanned, judged = [0], [0]  # scenario parts compared in C; pairs of scenarios judged in Python
    extract, similar = process.extract, similarity.similar

    def counting_extract(query: str, choices: list[str], **kwargs: Any) -> Any:
        scanned[0] += len(choices)
        return extract(query, choices, **kwargs)

    def counting_similar(*args: Any) -> bool:
        judged[0] += 1
        return similar(*args)

    monkeypatch.setattr(process, "extract", counting_extract)
    monkeypatch.setattr(similarity, "similar", counting_similar)
    r = await client.post(save_url(task_id), json={"test_cases": largest})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["saved"] == MAX_TEST_CASES
    assert [(s["test_case"], s["scenario"]) for s in body["skipped"]] == [(30, 17)]
    assert body["skipped"][0]["message"].startswith(f"repeats saved test #{saved_rows[1]['id']} ")
    # Each scenario of the draft meets each saved one at most once per part, and only a few are
    # judged one by one (those whose when steps are the most alike); compared with each other, the
    # draft's scenarios alone would be drafted * (drafted - 1) / 2 = 3,123,750 pairs.
    assert 0 < scanned[0] <= 3 * drafted * saved, scanned
    assert judged[0] <= (similarity.NEAREST + 1) * drafted, judged


async def test_nothing_is_locked_and_the_loop_is_free_while_comparing(
    client: AsyncClient,
    worker: object,
    database_url: str,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(8)
    await saved_story(client, rng)
    task_id = await completed_job(client, "US-001")
    on_loop = OnLoop()
    seen: dict[str, Any] = {}

    def probe() -> None:
        seen["writer"] = other_writer(database_url, task_id, on_loop, sessionmaker)
        try:
            seen["health"] = on_loop.run(client.get("/health")).status_code
        except RuntimeError as exc:
            seen["health"] = str(exc)

    with while_comparing(monkeypatch, probe) as calls:
        r = await client.post(save_url(task_id), json={"test_cases": shaped_cases(rng, 5, 10, "Draft")})
    assert r.status_code == 201, r.text
    assert len(calls) == 50
    assert seen == {"writer": "wrote", "health": 200}


async def test_saved_tests_changed_while_comparing_are_compared_again(
    client: AsyncClient, worker: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(9)
    saved_rows = await saved_story(client, rng)
    task_id = await completed_job(client, "US-001")
    draft = shaped_cases(rng, 3, 4, "Draft")
    new_scenario = draft[2]["scenarios"][1]
    on_loop = OnLoop()
    edits: list[int] = []

    def edit_a_saved_test() -> None:  # it becomes the test the draft's scenario repeats
        r = on_loop.run(
            client.patch(f"/test-cases/{saved_rows[0]['id']}", json={"scenarios": [reworded(new_scenario)]})
        )
        edits.append(r.status_code)

    with while_comparing(monkeypatch, edit_a_saved_test) as calls:
        r = await client.post(save_url(task_id), json={"test_cases": draft})
    assert edits == [200]
    assert r.status_code == 201, r.text
    assert [(s["test_case"], s["scenario"]) for s in r.json()["skipped"]] == [(2, 1)]
    assert r.json()["skipped"][0]["message"].startswith(f"repeats saved test #{saved_rows[0]['id']} ")
    assert len(calls) == 2 * 12  # compared twice: before and after the edit


async def test_a_draft_changed_while_comparing_is_compared_again(
    client: AsyncClient,
    worker: object,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = random.Random(10)
    await saved_story(client, rng)
    task_id = await completed_job(client, "US-001")
    status = (await client.get(f"/generate-test-cases/status/{task_id}")).json()
    regenerated = {**status["result"], "test_cases": shaped_cases(rng, 2, 3, "Regenerated")}
    on_loop = OnLoop()

    async def regeneration_lands() -> bool:
        async with sessionmaker() as session:
            changed = await repository.change_job(session, EDIT_DRAFT, task_id, result=regenerated)
            await session.commit()
            return changed

    landed: list[bool] = []
    with while_comparing(monkeypatch, lambda: landed.append(on_loop.run(regeneration_lands()))):
        r = await client.post(save_url(task_id))
    assert landed == [True]
    assert r.status_code == 201 and r.json()["saved"] == 2, r.text
    rows = (await client.get("/user-stories/US-001/test-cases")).json()
    assert [row["title"] for row in rows[-2:]] == ["Regenerated 0", "Regenerated 1"]


async def test_a_job_saved_while_comparing_is_saved_once(
    client: AsyncClient, worker: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(11)
    await saved_story(client, rng)
    task_id = await completed_job(client, "US-001")
    on_loop = OnLoop()
    other: list[int] = []

    def another_save() -> None:
        other.append(on_loop.run(client.post(save_url(task_id))).status_code)

    with while_comparing(monkeypatch, another_save):
        r = await client.post(save_url(task_id), json={"test_cases": shaped_cases(rng, 3, 2, "Draft")})
    assert other == [201]
    assert r.status_code == 409 and "saved or discarded a moment ago" in r.json()["detail"], r.text
    rows = (await client.get("/user-stories/US-001/test-cases")).json()
    assert len(rows) == 2 + 1  # the saved story's two, and the draft saved by the other request
