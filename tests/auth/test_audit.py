"""The audit trail: every state-changing call appends a row (who, what, where, which object, the
names of the fields sent, never their values), admins read it, no route changes it, and the workers
prune the rows older than AUDIT_RETENTION_DAYS."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.app import create_app
from testgen.core.config import Settings
from testgen.data import audit
from testgen.data.models import AuditEvent
from testgen.domain.roles import Role
from testgen.worker.audit_pruning import prune_audit, retention_cutoff
from tests.support.accounts import PASSWORD, Account, add_user, sign_in
from tests.support.fake_jira import FakeJira
from tests.support.helpers import is_status, wait_for_job
from tests.worker.test_jira_import import cloud_issues, use_jira

ROOT = "root@example.com"
STORY_TEXT = "As a shopper I want to pay with the card ending 4242 from my wallet"
NEW_STORY_TEXT = "As a shopper I want to split the bill between two cards"
CRITERIA = ["The basket total is charged once", "A receipt names the card used"]


class Actor:
    """A signed-in client: its requests carry the CSRF token of its session."""

    def __init__(self, client: AsyncClient, csrf: str, account: Account) -> None:
        self.client, self.csrf, self.account = client, csrf, account

    async def __aenter__(self) -> Actor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.aclose()

    async def send(self, method: str, url: str, expected: int, **kw: Any) -> Any:
        response = await self.client.request(method, url, headers={"X-CSRF-Token": self.csrf}, **kw)
        assert response.status_code == expected, response.text
        return response.json() if response.content and "json" in response.headers["content-type"] else None


@dataclass
class Row:
    actor: str
    action: str
    project_id: int | None
    object_type: str | None
    object_id: str | None
    fields: list[str]


def _client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver")


async def _actor(app: FastAPI, account: Account) -> Actor:
    client = _client(app)
    return Actor(client, await sign_in(client, account.email), account)


async def _all_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[AuditEvent]:
    async with sessionmaker() as session:
        return list((await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars().all())


async def _rows_since(sessionmaker: async_sessionmaker[AsyncSession], after: int) -> list[Row]:
    return [
        Row(r.actor, r.action, r.project_id, r.object_type, r.object_id, r.fields)
        for r in await _all_rows(sessionmaker)
        if r.id > after
    ]


async def _last_id(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int(await session.scalar(select(func.max(AuditEvent.id))) or 0)


async def _assert_no_row_holds(sessionmaker: async_sessionmaker[AsyncSession], *texts: str) -> None:
    for row in await _all_rows(sessionmaker):
        cells = " ".join(
            str(value)
            for value in (row.actor, row.action, row.project_id, row.object_type, row.object_id, *row.fields)
        )
        for text in texts:
            assert text not in cells, (text, cells)
            for word in text.split():
                if len(word) > 6:
                    assert word not in cells, (word, cells)


class Recorder:
    """Runs one call and checks it appended exactly the rows expected."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def run(self, call: Any) -> tuple[Any, list[Row]]:
        before = await _last_id(self.sessionmaker)
        answer = await call
        return answer, await _rows_since(self.sessionmaker, before)

    async def expect(self, call: Any, *rows: Row) -> Any:
        answer, added = await self.run(call)
        assert added == list(rows)
        return answer


@pytest.fixture
async def root(app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]) -> Any:
    account = await add_user(sessionmaker, ROOT, admin=True)
    app.state.users_gate.mark()
    actor = await _actor(app, account)
    yield actor
    await actor.client.aclose()


async def _project(root: Actor, name: str = "Shop") -> int:
    project: dict[str, Any] = await root.send("POST", "/projects", 201, json={"name": name})
    return int(project["id"])


async def _story(actor: Actor, story_id: str, project_id: int) -> None:
    body = {
        "id": story_id,
        "project_id": project_id,
        "title": f"Pay for {story_id}",
        "description": STORY_TEXT,
        "acceptance_criteria": CRITERIA,
    }
    await actor.send("POST", "/user-stories", 201, json=body)


# --- what is recorded ---------------------------------------------------------------------------


async def test_sign_in_users_members_and_tokens_are_recorded(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    rec = Recorder(sessionmaker)
    account = await add_user(sessionmaker, ROOT, admin=True)
    app.state.users_gate.mark()
    me = f"user:{ROOT}"
    async with _client(app) as client:
        wrong = client.post("/auth/login", json={"email": ROOT, "password": "not the password"})
        response = await rec.expect(wrong, Row(me, "sign_in_failed", None, "user", str(account.id), []))
        assert response.status_code == 401
        csrf = await rec.expect(sign_in(client, ROOT), Row(me, "sign_in", None, "user", str(account.id), []))
        root = Actor(client, csrf, account)

        project_id = await _project(root)
        user, added = await rec.run(
            root.send(
                "POST", "/users", 201, json={"email": "bob@example.com", "name": "Bob", "password": PASSWORD}
            )
        )
        assert added == [Row(me, "user_create", None, "user", str(user["id"]), ["email", "name", "password"])]
        bob = str(user["id"])
        await rec.expect(
            root.send("PATCH", f"/users/{bob}", 200, json={"name": "Bobby"}),
            Row(me, "user_update", None, "user", bob, ["name"]),
        )
        members = f"/projects/{project_id}/members"
        await rec.expect(
            root.send("POST", members, 201, json={"email": "bob@example.com", "role": "editor"}),
            Row(me, "member_add", project_id, "user", bob, ["email", "role"]),
        )
        await rec.expect(
            root.send("PATCH", f"{members}/{bob}", 200, json={"role": "reviewer"}),
            Row(me, "member_update", project_id, "user", bob, ["role"]),
        )

        bob_actor = await _actor(app, Account(int(bob), "bob@example.com"))
        async with bob_actor:
            created, added = await rec.run(bob_actor.send("POST", "/auth/tokens", 201, json={"name": "ci"}))
            assert added == [
                Row("user:bob@example.com", "token_create", None, "token", str(created["id"]), ["name"])
            ]
            token = created["token"]
            await rec.expect(
                bob_actor.send("DELETE", f"/auth/tokens/{created['id']}", 204),
                Row("user:bob@example.com", "token_revoke", None, "token", str(created["id"]), []),
            )
        await rec.expect(
            root.send("DELETE", f"{members}/{bob}", 204),
            Row(me, "member_remove", project_id, "user", bob, []),
        )
    await _assert_no_row_holds(sessionmaker, token, token[:12], PASSWORD)


async def test_stories_generation_saving_test_cases_export_and_settings_are_recorded(
    app: FastAPI, root: Actor, sessionmaker: async_sessionmaker[AsyncSession], worker: object
) -> None:
    rec = Recorder(sessionmaker)
    project_id = await _project(root)
    ann = await _actor(app, await add_user(sessionmaker, "ann@example.com", roles={project_id: Role.admin}))
    me, story = "user:ann@example.com", "PAY-1"
    async with ann:
        await rec.expect(
            _story(ann, story, project_id),
            Row(
                me,
                "story_create",
                project_id,
                "story",
                story,
                ["acceptance_criteria", "description", "id", "project_id", "title"],
            ),
        )
        await rec.expect(
            ann.send(
                "PATCH",
                f"/user-stories/{story}",
                200,
                json={"title": "Pay by card", "description": NEW_STORY_TEXT},
            ),
            Row(me, "story_update", project_id, "story", story, ["description", "title"]),
        )
        queued = await rec.expect(
            ann.send("POST", f"/generate-test-cases/{story}/queue", 202, json={"num_test_cases": 2}),
            Row(me, "queue", project_id, "story", story, ["num_test_cases"]),
        )
        task = queued["task_id"]
        await wait_for_job(
            ann.client, queued["status_url"], is_status("completed"), what="the job to complete"
        )
        saved = await rec.expect(
            ann.send("POST", f"/generate-test-cases/{task}/save", 201),
            Row(me, "save", project_id, "job", task, []),
        )
        first, second = (str(i) for i in saved["test_case_ids"])
        await rec.expect(
            ann.send(
                "PATCH",
                f"/test-cases/{first}",
                200,
                json={"title": "Pay with a saved card", "priority": "high"},
            ),
            Row(me, "test_case_update", project_id, "test_case", first, ["priority", "title"]),
        )
        await rec.expect(
            ann.send("DELETE", f"/test-cases/{second}", 204),
            Row(me, "test_case_delete", project_id, "test_case", second, []),
        )
        await rec.expect(
            ann.send("GET", f"/user-stories/{story}/test-cases/export?format=csv", 200),
            Row(me, "export", project_id, "story", story, []),
        )
        await rec.expect(
            ann.send("GET", f"/projects/{project_id}/test-cases/export", 200),
            Row(me, "export", project_id, "project", str(project_id), []),
        )
        await rec.expect(
            ann.send("PATCH", f"/projects/{project_id}", 200, json={"description": "The web shop"}),
            Row(me, "project_update", project_id, "project", str(project_id), ["description"]),
        )

        history = await ann.send("GET", f"/user-stories/{story}/history", 200)
        assert [(h["action"], h["object_type"], h["object_id"]) for h in history] == [
            ("export", "story", story),
            ("save", "job", task),
            ("queue", "story", story),
            ("story_update", "story", story),
            ("story_create", "story", story),
        ]
        assert history[1]["actor"] == me and history[1]["project_id"] == project_id
        assert set(history[0]) == {
            "id",
            "at",
            "actor",
            "action",
            "project_id",
            "object_type",
            "object_id",
            "fields",
        }
        page = await ann.send("GET", f"/user-stories/{story}/history?limit=2&offset=1", 200)
        assert [h["id"] for h in page] == [h["id"] for h in history[1:3]]

        await rec.expect(
            ann.send("DELETE", f"/user-stories/{story}", 204),
            Row(me, "story_delete", project_id, "story", story, []),
        )
        await ann.send("GET", f"/user-stories/{story}/history", 404)
        # A new story of the same id has a history of its own.
        await _story(ann, story, project_id)
        assert [h["action"] for h in await ann.send("GET", f"/user-stories/{story}/history", 200)] == [
            "story_create"
        ]
    await _assert_no_row_holds(sessionmaker, STORY_TEXT, NEW_STORY_TEXT, *CRITERIA)


@pytest.fixture
def jira(settings: Settings) -> Iterator[FakeJira]:
    with FakeJira(deployment="cloud", issues=cloud_issues()) as fake:
        use_jira(settings, fake)
        yield fake


async def test_cancel_and_import_are_recorded(
    jira: FakeJira, app: FastAPI, root: Actor, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    rec = Recorder(sessionmaker)
    project_id = await _project(root)
    eve = await _actor(app, await add_user(sessionmaker, "eve@example.com", roles={project_id: Role.editor}))
    me = "user:eve@example.com"
    async with eve:
        await _story(eve, "PAY-2", project_id)
        queued = await eve.send("POST", "/generate-test-cases/PAY-2/queue", 202)  # no worker: it stays queued
        task = queued["task_id"]
        await rec.expect(
            eve.send("POST", f"/generate-test-cases/{task}/cancel", 202),
            Row(me, "cancel", project_id, "job", task, []),
        )
        history = await eve.send("GET", "/user-stories/PAY-2/history", 200)
        assert [h["action"] for h in history] == ["cancel", "queue", "story_create"]
        jql = "project = SHOP"
        await rec.expect(
            eve.send("POST", f"/projects/{project_id}/imports/jira", 202, json={"jql": jql}),
            Row(me, "import", project_id, "project", str(project_id), ["jql"]),
        )
    await _assert_no_row_holds(sessionmaker, STORY_TEXT, jira.token)


async def test_a_service_key_is_named_by_its_id_never_the_key(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    key = "alpha-key-1234567"
    settings.api_keys = SecretStr(key)
    application = create_app(settings)
    async with application.router.lifespan_context(application), _client(application) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        assert (await client.post("/projects", json={"name": "Shop"})).status_code == 201
        rows = (await client.get("/audit")).json()
    assert [r["action"] for r in rows] == ["project_create"]
    assert rows[0]["actor"].startswith("key:") and key not in rows[0]["actor"]
    await _assert_no_row_holds(sessionmaker, key)


async def test_a_row_that_cannot_be_written_is_logged_and_the_answer_stands(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(audit, "record", refuse)
    async with _client(app) as client:
        created = await client.post("/projects", json={"name": "Shop"})
        assert created.status_code == 201, created.text
        assert (await client.get(f"/projects/{created.json()['id']}")).status_code == 200
    assert "1 audit rows not written (project_create first)" in caplog.text


async def test_rows_of_calls_close_together_are_written_in_one_transaction(
    settings: Settings, redis: object, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Rows wait (here up to 5 s) to be written together; reading the trail writes them first, and a
    server that stops writes what is pending."""
    app = create_app(settings.model_copy(update={"audit_batch_delay_s": 5.0}))
    commits: list[int] = []
    async with app.router.lifespan_context(app):
        sqlalchemy_event.listen(app.state.engine.sync_engine, "commit", lambda conn: commits.append(1))
        async with _client(app) as client:
            for name in ("Shop", "Bank", "Pets"):
                assert (await client.post("/projects", json={"name": name})).status_code == 201
            assert await _all_rows(sessionmaker) == []  # pending
            before = len(commits)
            rows = (await client.get("/audit")).json()
            assert [r["action"] for r in rows] == ["project_create"] * 3
            assert len(commits) - before == 1  # the three rows in one transaction (the read commits nothing)
            assert (await client.post("/projects", json={"name": "Toys"})).status_code == 201
    assert [r.action for r in await _all_rows(sessionmaker)] == ["project_create"] * 4


# --- reading it ---------------------------------------------------------------------------------


async def _seed(root: Actor, app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Two projects with a story each; ann administers the first, eve edits it, no one else's."""
    shop, bank = await _project(root, "Shop"), await _project(root, "Bank")
    ann = await add_user(sessionmaker, "ann@example.com", roles={shop: Role.admin, bank: Role.viewer})
    eve = await add_user(sessionmaker, "eve@example.com", roles={shop: Role.editor})
    await _story(root, "SHOP-1", shop)
    await _story(root, "BANK-1", bank)
    await root.send("PATCH", "/user-stories/SHOP-1", 200, json={"title": "Pay by card"})
    return {"shop": shop, "bank": bank, "ann": ann, "eve": eve}


async def test_admins_filter_and_page_the_trail(
    app: FastAPI, root: Actor, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    seeded = await _seed(root, app, sessionmaker)
    shop = seeded["shop"]
    rows = await root.send("GET", "/audit", 200)
    actions = [r["action"] for r in rows]
    assert actions == [
        "story_update",
        "story_create",
        "story_create",
        "project_create",
        "project_create",
        "sign_in",
    ]
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)

    def ids(found: list[dict[str, Any]]) -> list[int]:
        return [r["id"] for r in found]

    by_project = await root.send("GET", f"/audit?project_id={shop}", 200)
    assert by_project == [r for r in rows if r["project_id"] == shop]
    assert [r["action"] for r in by_project][:2] == ["story_update", "story_create"]
    assert ids(await root.send("GET", "/audit?action=story_create", 200)) == ids(rows[1:3])
    assert ids(await root.send("GET", "/audit?object_id=SHOP-1", 200)) == [rows[0]["id"], rows[2]["id"]]
    assert ids(await root.send("GET", f"/audit?actor=user:{ROOT}&action=sign_in", 200)) == ids(rows[5:])
    assert await root.send("GET", "/audit?actor=user:nobody@example.com", 200) == []
    assert ids(await root.send("GET", "/audit?limit=2", 200)) == ids(rows[:2])
    assert ids(await root.send("GET", "/audit?limit=2&offset=2", 200)) == ids(rows[2:4])
    assert ids(await root.send("GET", "/audit?limit=2&offset=6", 200)) == []
    await root.send("GET", "/audit?limit=501", 422)
    await root.send("GET", "/audit?until=0.5", 422)  # a date and time, never a Unix time

    newest = dt.datetime.fromisoformat(rows[0]["at"])
    oldest = dt.datetime.fromisoformat(rows[-1]["at"])
    since = await root.send("GET", "/audit", 200, params={"since": newest.isoformat()})
    assert ids(since) == ids(rows[: len(since)]) and rows[0]["id"] in ids(since)
    until = await root.send("GET", "/audit", 200, params={"until": oldest.isoformat()})
    assert rows[-1]["id"] not in ids(until)
    naive = newest.astimezone(dt.UTC).replace(tzinfo=None)
    assert ids(await root.send("GET", "/audit", 200, params={"since": naive.isoformat()})) == ids(since)
    # Times that UTC puts outside the calendar are its ends.
    edges = {"since": "0001-01-01T00:00:00+01:00", "until": "9999-12-31T23:59:59-01:00"}
    assert ids(await root.send("GET", "/audit", 200, params=edges)) == ids(rows)
    later = newest + dt.timedelta(days=1)
    assert await root.send("GET", "/audit", 200, params={"since": later.isoformat()}) == []


async def test_the_trail_as_csv_cannot_run_in_a_spreadsheet(
    app: FastAPI, root: Actor, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    shop = await _project(root)
    await _story(root, "SHOP-1", shop)
    # A field name that a spreadsheet would run (StoryUpdate ignores unknown fields; the row names them).
    await root.send("PATCH", "/user-stories/SHOP-1", 200, json={'=HYPERLINK("x")': 1, "-2+3": 2})
    response = await root.client.get("/audit?format=csv&limit=3")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="audit.csv"' in response.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == ["id", "at", "actor", "action", "project_id", "object_type", "object_id", "fields"]
    assert [line[3] for line in table[1:]] == ["story_update", "story_create", "project_create"]
    update = table[1]
    assert update[2] == f"user:{ROOT}" and update[4] == str(shop) and update[5:7] == ["story", "SHOP-1"]
    assert update[7] == '\'-2+3 =HYPERLINK("x")'
    rows = await root.send("GET", "/audit?limit=3", 200)
    assert [line[0] for line in table[1:]] == [str(r["id"]) for r in rows]
    assert dt.datetime.fromisoformat(table[1][1]) == dt.datetime.fromisoformat(rows[0]["at"])


async def test_a_project_admin_reads_only_their_projects_rows(
    app: FastAPI, root: Actor, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    seeded = await _seed(root, app, sessionmaker)
    shop, bank = seeded["shop"], seeded["bank"]
    ann = await _actor(app, seeded["ann"])
    async with ann:
        rows = await ann.send("GET", "/audit", 200)
        assert rows == [r for r in await root.send("GET", "/audit", 200) if r["project_id"] == shop]
        assert [r["action"] for r in rows][:2] == ["story_update", "story_create"]
        assert await ann.send("GET", f"/audit?project_id={shop}", 200) == rows
        await ann.send("GET", f"/audit?project_id={bank}", 403)  # a viewer there
        await ann.send("GET", "/audit?project_id=999", 404)  # not theirs
        assert await ann.send("GET", "/audit?action=sign_in", 200) == []  # rows of no project: admins'
        csv_rows = list(csv.reader(io.StringIO((await ann.client.get("/audit?format=csv")).text)))
        assert {line[4] for line in csv_rows[1:]} == {str(shop)}


async def test_an_editor_may_not_read_the_trail_but_sees_their_storys_history(
    app: FastAPI, root: Actor, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    seeded = await _seed(root, app, sessionmaker)
    eve = await _actor(app, seeded["eve"])
    async with eve:
        await eve.send("GET", "/audit", 403)
        await eve.send("GET", f"/audit?project_id={seeded['shop']}", 403)
        await eve.send("GET", f"/audit?project_id={seeded['bank']}", 403)  # as for every project id
        await eve.send("GET", "/audit?format=csv", 403)
        history = await eve.send("GET", "/user-stories/SHOP-1/history", 200)
        assert [h["action"] for h in history] == ["story_update", "story_create"]
        await eve.send("GET", "/user-stories/BANK-1/history", 404)  # another project's story


async def test_no_route_changes_or_deletes_audit_rows(
    app: FastAPI, root: Actor, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await _project(root)
    before = await _all_rows(sessionmaker)
    row = before[-1].id
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        for url in ("/audit", f"/audit/{row}", "/user-stories/SHOP-1/history"):
            response = await root.client.request(
                method, url, headers={"X-CSRF-Token": root.csrf}, json={"action": "nothing"}
            )
            assert response.status_code in (404, 405), (method, url, response.status_code)
            if url == "/audit":
                assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    assert [(r.id, r.action, r.at) for r in await _all_rows(sessionmaker)] == [
        (r.id, r.action, r.at) for r in before
    ]


# --- retention ----------------------------------------------------------------------------------


NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)


async def _rows_aged(sessionmaker: async_sessionmaker[AsyncSession], *days: float) -> None:
    async with sessionmaker() as session:
        for age in days:
            audit.record(
                session, actor="local", action="story_update", object_type="story", object_id=f"S-{age}"
            )
        await session.flush()
        added = (await session.execute(select(AuditEvent).order_by(AuditEvent.id))).scalars().all()
        for row, age in zip(added[-len(days) :], days, strict=True):
            row.at = NOW - dt.timedelta(days=age)
        await session.commit()


async def _ages(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str | None]:
    return [row.object_id for row in await _all_rows(sessionmaker)]


async def test_rows_older_than_the_retention_are_pruned_in_batches(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await _rows_aged(sessionmaker, 400, 366, 365.5, 364, 10, 1000, 367)
    assert await prune_audit(sessionmaker, 0, now=lambda: NOW) == 0  # 0: keep every row
    assert len(await _ages(sessionmaker)) == 7
    # At most two batches of two a pass: a backlog goes over several passes.
    assert await prune_audit(sessionmaker, 365, now=lambda: NOW, batch=2, max_batches=2) == 4
    assert await prune_audit(sessionmaker, 365, now=lambda: NOW, batch=2, max_batches=2) == 1
    assert await _ages(sessionmaker) == ["S-364", "S-10"]
    assert await prune_audit(sessionmaker, 365, now=lambda: NOW) == 0  # idempotent
    later = NOW + dt.timedelta(days=100)
    assert await prune_audit(sessionmaker, 365, now=lambda: later) == 1
    assert await _ages(sessionmaker) == ["S-10"]


async def test_workers_pruning_at_once_delete_each_row_once(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await _rows_aged(sessionmaker, *(400 + n for n in range(25)), 1, 2)
    passes = await asyncio.gather(
        *(prune_audit(sessionmaker, 30, now=lambda: NOW, batch=4) for _ in range(3))
    )
    assert sum(passes) == 25
    assert await _ages(sessionmaker) == ["S-1", "S-2"]


def test_a_retention_longer_than_the_calendar_keeps_every_row() -> None:
    assert retention_cutoff(0, NOW) is None
    assert retention_cutoff(10**9, NOW) is None
    assert retention_cutoff(2, NOW) == NOW - dt.timedelta(days=2)
