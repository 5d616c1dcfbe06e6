"""The review gate against the real app, Redis and database: review steps and their comments in the
job's status, who may take which step, self-approval, the save gate, edits after approval, the
reviewer's inbox, and who approved a saved test case."""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.data.models import AuditEvent, GenerationJob, utcnow
from testgen.domain.roles import Role
from tests.support import saved_jobs
from tests.support.accounts import Account, add_user, sign_in
from tests.support.helpers import is_status, make_story, wait_for_job


@dataclass
class Caller:
    """A signed-in user's client (its CSRF token sent with every request)."""

    account: Account
    client: AsyncClient
    csrf: str

    async def get(self, url: str, **kw: Any) -> Response:
        return await self.client.get(url, **kw)

    async def post(self, url: str, json: Any = None) -> Response:
        return await self.client.post(url, json=json, headers={"X-CSRF-Token": self.csrf})

    async def patch(self, url: str, json: Any) -> Response:
        return await self.client.patch(url, json=json, headers={"X-CSRF-Token": self.csrf})

    async def review(self, task_id: str, action: str, **body: Any) -> Response:
        return await self.post(review_url(task_id), {"action": action, **body})


@dataclass
class World:
    project_id: int
    other_project_id: int
    admin: Caller
    author: Caller  # an editor of the project
    reviewer: Caller
    second_reviewer: Caller
    viewer: Caller
    sessionmaker: async_sessionmaker[AsyncSession]

    async def draft(self, by: Caller | None = None, story_id: str = "US-1") -> str:
        """A completed draft of the story, queued by `by` (default: the author)."""
        return await add_draft(self.sessionmaker, story_id, (by or self.author).account.id)

    async def require_review(self, **settings: bool) -> None:
        r = await self.admin.patch(f"/projects/{self.project_id}", {"review_required": True, **settings})
        assert r.status_code == 200, r.text


def review_url(task_id: str) -> str:
    return f"/generate-test-cases/{task_id}/review"


def status_url(task_id: str) -> str:
    return f"/generate-test-cases/status/{task_id}"


def save_url(task_id: str) -> str:
    return f"/generate-test-cases/{task_id}/save"


def edit_url(task_id: str, index: int) -> str:
    return f"/generate-test-cases/{task_id}/test-cases/{index}"


async def add_draft(
    sessionmaker: async_sessionmaker[AsyncSession], story_id: str, created_by: int | None
) -> str:
    task_id = str(uuid.uuid4())
    now = utcnow()
    async with sessionmaker() as session:
        session.add(
            GenerationJob(
                id=task_id,
                story_id=story_id,
                kind="generate",
                status="completed",
                progress=100,
                message="Generated 2 test cases",
                attempts=1,
                options=saved_jobs.GENERATE_OPTIONS,
                result=copy.deepcopy(saved_jobs.DRAFT),
                created_by=created_by,
                created_at=now - dt.timedelta(seconds=5),
                started_at=now - dt.timedelta(seconds=4),
                finished_at=now,
            )
        )
        await session.commit()
    return task_id


@pytest.fixture
async def world(app, client, sessionmaker) -> AsyncIterator[World]:  # type: ignore[no-untyped-def]
    story = await make_story(client, "US-1", criteria=2)
    await make_story(client, "US-2", criteria=2)
    other = await make_story(client, "US-OTHER", project="Elsewhere", criteria=2)
    project_id, other_id = story["project_id"], other["project_id"]
    accounts = {
        "admin": await add_user(sessionmaker, "admin@example.com", admin=True),
        "author": await add_user(sessionmaker, "author@example.com", roles={project_id: Role.editor}),
        "reviewer": await add_user(sessionmaker, "rev@example.com", roles={project_id: Role.reviewer}),
        "second_reviewer": await add_user(
            sessionmaker, "rev2@example.com", roles={project_id: Role.reviewer, other_id: Role.viewer}
        ),
        "viewer": await add_user(sessionmaker, "viewer@example.com", roles={project_id: Role.viewer}),
    }
    app.state.users_gate.mark()
    callers: dict[str, Caller] = {}
    try:
        for name, account in accounts.items():
            own = AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver")
            callers[name] = Caller(account, own, await sign_in(own, account.email))
        yield World(project_id, other_id, sessionmaker=sessionmaker, **callers)
    finally:
        for caller in callers.values():
            await caller.client.aclose()


async def status_of(caller: Caller, task_id: str) -> dict[str, Any]:
    r = await caller.get(status_url(task_id))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def saved_rows(caller: Caller, story_id: str = "US-1") -> list[dict[str, Any]]:
    r = await caller.get(f"/user-stories/{story_id}/test-cases")
    assert r.status_code == 200, r.text
    return list(r.json())


# --- steps, comments, roles ---------------------------------------------------------------------


async def test_review_steps_and_comments_are_in_the_status(world: World) -> None:
    task = await world.draft()
    assert (await status_of(world.viewer, task))["review"] is None

    r = await world.author.review(
        task, "submit", comment="Ready", test_case_comments={"1": "Check the cards"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["review"]["state"] == "in_review"
    r = await world.reviewer.review(
        task, "request_changes", comment="Close, not yet", test_case_comments={"0": "Add a refund"}
    )
    assert r.status_code == 200, r.text
    assert (await world.author.review(task, "submit", comment="Refund added")).status_code == 200
    assert (await world.reviewer.review(task, "approve", comment="Good")).status_code == 200

    review = (await status_of(world.viewer, task))["review"]
    assert review["state"] == "approved" and review["author_id"] == world.author.account.id
    steps = [(s["action"], s["actor_id"], s["comment"], s["test_case_comments"]) for s in review["steps"]]
    author, reviewer = world.author.account.id, world.reviewer.account.id
    assert steps == [
        ("submit", author, "Ready", {"1": "Check the cards"}),
        ("request_changes", reviewer, "Close, not yet", {"0": "Add a refund"}),
        ("submit", author, "Refund added", {}),
        ("approve", reviewer, "Good", {}),
    ]
    assert [s["actor"] for s in review["steps"]] == ["author", "rev", "author", "rev"]
    times = [dt.datetime.fromisoformat(s["at"]) for s in review["steps"]]
    assert times == sorted(times)

    drafts = (await world.viewer.get("/user-stories/US-1/drafts")).json()
    assert [d["review"]["state"] for d in drafts] == ["approved"]
    async with world.sessionmaker() as session:
        query = select(AuditEvent.action, AuditEvent.object_id).where(AuditEvent.action.like("review_%"))
        audited = [tuple(row) for row in await session.execute(query.order_by(AuditEvent.id))]
    assert audited == [
        ("review_submit", task),
        ("review_request_changes", task),
        ("review_submit", task),
        ("review_approve", task),
    ]


async def test_who_may_take_which_step(world: World) -> None:
    task = await world.draft()
    assert (await world.viewer.review(task, "submit")).status_code == 403
    assert (await world.author.review(task, "submit")).status_code == 200
    for action in ("approve", "request_changes"):
        r = await world.author.review(task, action)
        assert r.status_code == 403 and "reviewer or above" in r.json()["detail"]
        assert (await world.viewer.review(task, action)).status_code == 403
    assert (await world.admin.review(task, "approve")).status_code == 200  # an admin reviews anywhere
    steps = (await status_of(world.viewer, task))["review"]["steps"]
    assert [s["action"] for s in steps] == ["submit", "approve"]


async def test_a_step_from_the_wrong_state_is_a_conflict(world: World) -> None:
    task = await world.draft()
    r = await world.reviewer.review(task, "approve")
    assert r.status_code == 409 and "submit it first" in r.json()["detail"]
    assert (await world.reviewer.review(task, "request_changes")).status_code == 409
    assert (await world.author.review(task, "submit")).status_code == 200
    r = await world.author.review(task, "submit")
    assert r.status_code == 409 and "in review already" in r.json()["detail"]
    assert (await world.reviewer.review(task, "approve")).status_code == 200
    assert (await world.second_reviewer.review(task, "approve")).status_code == 409
    assert (await world.second_reviewer.review(task, "request_changes")).status_code == 200  # reopens it
    r = await world.reviewer.review(task, "approve")
    assert r.status_code == 409 and "submit it again" in r.json()["detail"]
    assert (await status_of(world.viewer, task))["review"]["state"] == "changes_requested"


async def test_what_a_review_request_may_carry(world: World) -> None:
    task = await world.draft()
    for body in (
        {"action": "submit", "extra": 1},
        {"action": "publish"},
        {"action": "submit", "comment": "x" * 5001},
        {"action": "submit", "test_case_comments": {str(i): "c" for i in range(101)}},
        {"action": "submit", "test_case_comments": {"1000": "c"}},
        {"action": "submit", "test_case_comments": {"01": "c"}},
        {"action": "submit", "test_case_comments": {"one": "c"}},
    ):
        r = await world.author.post(review_url(task), body)
        assert r.status_code == 422, (body, r.text)
    r = await world.author.review(task, "submit", test_case_comments={"2": "no such test case"})
    assert r.status_code == 409 and "has 2 test cases" in r.json()["detail"]
    r = await world.author.review(task, "submit", comment="x" * 5000, test_case_comments={"0": "a", "1": " "})
    assert r.status_code == 200, r.text
    assert r.json()["review"]["steps"][0]["test_case_comments"] == {"0": "a"}


async def test_a_job_that_is_no_open_draft_is_not_reviewed(world: World) -> None:
    task = await world.draft()
    assert (await world.reviewer.post(save_url(task))).status_code == 201
    r = await world.author.review(task, "submit")
    assert r.status_code == 409 and "already saved" in r.json()["detail"]
    assert (await world.author.review(str(uuid.uuid4()), "submit")).status_code == 404


# --- self-approval ------------------------------------------------------------------------------


async def test_self_approval_is_refused_unless_the_project_allows_it(world: World) -> None:
    task = await world.draft(by=world.reviewer)
    assert (await world.reviewer.review(task, "submit")).status_code == 200
    r = await world.reviewer.review(task, "approve")
    assert r.status_code == 403 and "allow_self_approval" in r.json()["detail"]
    assert (await status_of(world.viewer, task))["review"]["state"] == "in_review"

    r = await world.admin.patch(f"/projects/{world.project_id}", {"allow_self_approval": True})
    assert r.status_code == 200 and r.json()["allow_self_approval"] is True
    assert r.json()["review_required"] is False
    assert (await world.reviewer.review(task, "approve")).status_code == 200


async def test_the_review_settings_are_strict_booleans(world: World) -> None:
    url = f"/projects/{world.project_id}"
    for body in ({"review_required": "yes"}, {"review_required": 1}, {"allow_self_approval": None}):
        assert (await world.admin.patch(url, body)).status_code == 422, body
    assert (await world.reviewer.patch(url, {"review_required": True})).status_code == 403
    project = (await world.viewer.get(url)).json()
    assert (project["review_required"], project["allow_self_approval"]) == (False, False)


# --- the save gate ------------------------------------------------------------------------------


async def test_a_draft_is_saved_only_once_approved_when_review_is_required(world: World) -> None:
    await world.require_review()
    task = await world.draft()
    r = await world.reviewer.post(save_url(task))
    assert r.status_code == 409 and "submit it" in r.json()["detail"] and "approval" in r.json()["detail"]
    assert (await world.author.review(task, "submit")).status_code == 200
    assert (await world.reviewer.post(save_url(task))).status_code == 409
    assert (await world.reviewer.review(task, "request_changes")).status_code == 200
    assert (await world.reviewer.post(save_url(task))).status_code == 409
    assert (await world.author.review(task, "submit")).status_code == 200
    approved = await world.second_reviewer.review(task, "approve")
    assert approved.status_code == 200
    approved_at = approved.json()["review"]["steps"][-1]["at"]

    first, second = saved_jobs.DRAFT["test_cases"]
    edited = {**second, "title": "Refuse a stolen card"}
    r = await world.reviewer.post(save_url(task), {"test_cases": [first, edited]})
    assert r.status_code == 409 and "edited since approval: submit again" in r.json()["detail"]
    r = await world.reviewer.post(save_url(task), {"test_cases": [second]})  # a subset, as approved
    assert r.status_code == 201, r.text
    rows = await saved_rows(world.viewer)
    assert [row["title"] for row in rows] == [second["title"]]
    assert rows[0]["approved_by"] == world.second_reviewer.account.id
    assert rows[0]["approved_at"] == approved_at
    case = (await world.viewer.get(f"/test-cases/{rows[0]['id']}")).json()
    assert case["approved_by"] == world.second_reviewer.account.id


async def test_a_self_approval_no_longer_allowed_does_not_save(world: World) -> None:
    await world.require_review(allow_self_approval=True)
    task = await world.draft(by=world.reviewer)
    assert (await world.reviewer.review(task, "submit")).status_code == 200
    assert (await world.reviewer.review(task, "approve")).status_code == 200
    await world.require_review(allow_self_approval=False)
    r = await world.reviewer.post(save_url(task))
    assert r.status_code == 403 and "another reviewer" in r.json()["detail"]
    assert (await world.second_reviewer.review(task, "request_changes")).status_code == 200
    assert (await world.reviewer.review(task, "submit")).status_code == 200
    assert (await world.second_reviewer.review(task, "approve")).status_code == 200
    assert (await world.reviewer.post(save_url(task))).status_code == 201
    assert {row["approved_by"] for row in await saved_rows(world.viewer)} == {
        world.second_reviewer.account.id
    }


async def test_an_approved_draft_records_its_approval_without_the_gate_too(world: World) -> None:
    approved, plain = await world.draft(), await world.draft(story_id="US-2")
    assert (await world.author.review(approved, "submit")).status_code == 200
    assert (await world.reviewer.review(approved, "approve")).status_code == 200
    assert (await world.reviewer.post(save_url(approved))).status_code == 201
    assert (await world.reviewer.post(save_url(plain))).status_code == 201
    assert {row["approved_by"] for row in await saved_rows(world.viewer)} == {world.reviewer.account.id}
    assert all(row["approved_at"] is not None for row in await saved_rows(world.viewer))
    unreviewed = await saved_rows(world.viewer, "US-2")
    assert {(row["approved_by"], row["approved_at"]) for row in unreviewed} == {(None, None)}


# --- editing a draft ----------------------------------------------------------------------------


async def test_an_edit_after_approval_sends_the_draft_back_to_review(world: World) -> None:
    await world.require_review()
    task = await world.draft()
    assert (await world.author.review(task, "submit")).status_code == 200
    assert (await world.reviewer.review(task, "approve")).status_code == 200
    first = saved_jobs.DRAFT["test_cases"][0]
    edited = {**first, "title": "Pay by card, then by voucher", "covered_criteria": [1, 0, 1]}

    r = await world.author.patch(edit_url(task, 0), edited)
    assert r.status_code == 200, r.text
    job = r.json()
    assert job["result"]["test_cases"][0]["title"] == "Pay by card, then by voucher"
    assert job["result"]["test_cases"][0]["covered_criteria"] == [0, 1]
    assert job["result"]["coverage"]["uncovered"] == []  # computed again
    assert job["result"]["test_cases"][1] == saved_jobs.DRAFT["test_cases"][1]
    assert job["review"]["state"] == "in_review"
    last = job["review"]["steps"][-1]
    assert (last["action"], last["actor_id"]) == ("submit", world.author.account.id)
    assert "edited after the approval" in last["comment"]

    again = await world.author.patch(edit_url(task, 0), edited)  # the same edit: nothing changes
    assert again.status_code == 200 and len(again.json()["review"]["steps"]) == len(job["review"]["steps"])
    assert (await world.reviewer.post(save_url(task))).status_code == 409
    assert (await world.reviewer.review(task, "approve")).status_code == 200
    assert (await world.reviewer.post(save_url(task))).status_code == 201
    rows = await saved_rows(world.viewer)
    assert rows[0]["title"] == "Pay by card, then by voucher"


async def test_what_a_draft_edit_refuses(world: World) -> None:
    task = await world.draft()
    first = saved_jobs.DRAFT["test_cases"][0]
    assert (await world.viewer.patch(edit_url(task, 0), first)).status_code == 403
    assert (await world.author.patch(edit_url(task, 2), first)).status_code == 404
    r = await world.author.patch(edit_url(task, 0), {**first, "covered_criteria": [5]})
    assert r.status_code == 409 and "criterion 5" in r.json()["detail"]
    assert (await world.author.patch(edit_url(task, 0), {**first, "extra": True})).status_code == 422
    r = await world.author.patch(edit_url(task, 0), {**first, "title": "Edited before any review"})
    assert r.status_code == 200 and r.json()["review"] is None  # no review: none starts
    assert (await world.reviewer.post(save_url(task))).status_code == 201
    assert (await world.author.patch(edit_url(task, 0), first)).status_code == 409


async def test_a_regeneration_sends_an_approved_draft_back_to_review(world: World) -> None:
    task = await world.draft()
    assert (await world.author.review(task, "submit")).status_code == 200
    assert (await world.reviewer.review(task, "approve")).status_code == 200
    r = await world.author.post(f"/generate-test-cases/{task}/test-cases/1/regenerate")
    assert r.status_code == 202, r.text
    review = (await status_of(world.viewer, task))["review"]
    assert (
        review["state"] == "in_review" and "regenerated after the approval" in review["steps"][-1]["comment"]
    )
    r = await world.reviewer.review(task, "approve")  # no worker runs: the regeneration stays queued
    assert r.status_code == 409 and "being regenerated" in r.json()["detail"]


# --- the inbox ----------------------------------------------------------------------------------


async def _inbox(caller: Caller, **params: int) -> list[str]:
    r = await caller.get("/reviews/inbox", params=params)
    assert r.status_code == 200, r.text
    return [item["task_id"] for item in r.json()]


async def test_the_inbox_lists_what_the_caller_may_approve(world: World) -> None:
    by_author = await world.draft()
    by_reviewer = await world.draft(by=world.reviewer, story_id="US-2")
    elsewhere = await add_draft(world.sessionmaker, "US-OTHER", world.admin.account.id)
    never_submitted = await world.draft()
    approved = await world.draft(story_id="US-2")
    for task, caller in ((by_author, world.author), (by_reviewer, world.reviewer), (approved, world.author)):
        assert (await caller.review(task, "submit")).status_code == 200
    assert (await world.admin.review(elsewhere, "submit")).status_code == 200
    assert (await world.second_reviewer.review(approved, "approve")).status_code == 200

    assert await _inbox(world.reviewer) == [by_author]
    assert await _inbox(world.second_reviewer) == [by_author, by_reviewer]  # a viewer of Elsewhere
    assert await _inbox(world.author) == [] and await _inbox(world.viewer) == []
    assert await _inbox(world.admin) == [by_author, by_reviewer]  # not the admin's own draft
    assert never_submitted not in await _inbox(world.admin)

    r = await world.admin.patch(f"/projects/{world.project_id}", {"allow_self_approval": True})
    assert r.status_code == 200
    assert await _inbox(world.reviewer) == [by_author, by_reviewer]
    assert await _inbox(world.reviewer, limit=1, offset=1) == [by_reviewer]

    item = (await world.reviewer.get("/reviews/inbox", params={"limit": 1})).json()[0]
    assert item["story_id"] == "US-1" and item["story_title"] == "Checkout US-1"
    assert (item["project_id"], item["project_name"]) == (world.project_id, "Shop")
    assert (item["author_id"], item["submitted_by"]) == (world.author.account.id, "author")
    assert item["submitted_at"] is not None and item["finished_at"] is not None
    assert (await world.reviewer.get("/reviews/inbox", params={"limit": 201})).status_code == 422

    assert (await world.reviewer.review(by_author, "approve")).status_code == 200
    assert await _inbox(world.reviewer) == [by_reviewer]


# --- the author ---------------------------------------------------------------------------------


async def _created_by(sessionmaker: async_sessionmaker[AsyncSession], task_id: str) -> int | None:
    async with sessionmaker() as session:
        job = await session.get(GenerationJob, task_id)
        assert job is not None
        return job.created_by


async def test_the_user_who_queues_a_job_is_its_author(world: World) -> None:
    r = await world.author.post("/generate-test-cases/US-1/queue")
    assert r.status_code == 202, r.text
    assert await _created_by(world.sessionmaker, r.json()["task_id"]) == world.author.account.id
    r = await world.reviewer.post("/generate-test-cases/queue", {"story_ids": ["US-2"]})
    assert r.status_code == 202, r.text
    assert await _created_by(world.sessionmaker, r.json()["jobs"][0]["task_id"]) == world.reviewer.account.id
    draft = await add_draft(world.sessionmaker, "US-2", None)
    r = await world.second_reviewer.post(f"/generate-test-cases/{draft}/test-cases/0/regenerate")
    assert r.status_code == 202, r.text
    assert await _created_by(world.sessionmaker, r.json()["task_id"]) == world.second_reviewer.account.id


async def test_a_generated_draft_through_review_to_saved(world: World, worker: object) -> None:
    await world.require_review()
    queued = await world.author.post("/generate-test-cases/US-1/queue", {"num_test_cases": 2})
    assert queued.status_code == 202, queued.text
    job = await wait_for_job(
        world.author.client, queued.json()["status_url"], is_status("completed", "failed"), what="the draft"
    )
    assert job["status"] == "completed", job
    task = job["task_id"]
    assert (await world.author.review(task, "submit")).status_code == 200
    assert (await world.reviewer.review(task, "approve")).status_code == 200
    r = await world.reviewer.post(save_url(task))
    assert r.status_code == 201, r.text
    rows = await saved_rows(world.viewer)
    assert len(rows) == 2 and {row["approved_by"] for row in rows} == {world.reviewer.account.id}
