"""POST /projects/{id}/push: queued and followed like a Jira import (status, events "Pushed N/M test
cases", cancel), one live push per connection, another project's connection or story not found, the
roles that may push, and `testgen push --follow`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.cli.main import main
from testgen.core.config import Settings
from testgen.data.models import AuditEvent
from testgen.domain.roles import Role
from tests.support.accounts import add_user, sign_in
from tests.support.fake_testrail import FakeTestRail
from tests.support.harness import run_worker, wait_for
from tests.support.helpers import read_events
from tests.support.pushing import add_cases, add_connection, add_project, add_story, mappings, use_secrets_key

Sessions = async_sessionmaker[AsyncSession]
FAST = 100_000


@pytest.fixture
def testrail(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTestRail]:
    use_secrets_key(settings)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("TESTGEN_API_KEY", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    with FakeTestRail() as fake:
        yield fake


async def shop(sessions: Sessions, settings: Settings, fake: FakeTestRail, cases: int = 3) -> dict[str, Any]:
    project = await add_project(sessions)
    await add_story(sessions, project, "US-1")
    ids = await add_cases(sessions, "US-1", cases)
    connection = await add_connection(
        sessions, settings, project, "testrail", fake.settings(requests_per_minute=FAST), fake.secrets
    )
    return {"project": project, "connection": connection, "cases": ids}


async def test_a_push_is_queued_followed_and_reused_while_live(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, http: AsyncClient
) -> None:
    seeded = await shop(sessionmaker, settings, testrail)
    project, connection = seeded["project"], seeded["connection"]
    r = await http.post(f"/projects/{project}/push", json={"connection_id": connection})
    assert r.status_code == 202, r.text
    queued = r.json()
    assert queued["project_id"] == project and queued["story_id"] is None and queued["status"] == "queued"
    again = await http.post(
        f"/projects/{project}/push", json={"connection_id": connection, "overwrite": True}
    )
    assert again.status_code == 200 and again.json()["task_id"] == queued["task_id"]
    state = (await http.get(queued["status_url"])).json()
    assert state["kind"] == "push"
    assert state["options"] == {
        "connection_id": connection,
        "story_ids": None,
        "delete_removed": False,
        "overwrite": False,
    }
    async with run_worker(settings):
        events = await read_events(http, queued["events_url"])
    assert events[-1].event == "completed", events[-1].data
    steps = [e.data["message"] for e in events if e.data["message"].startswith("Pushed ")]
    assert steps[:3] == ["Pushed 1/3 test cases", "Pushed 2/3 test cases", "Pushed 3/3 test cases"]
    progress = [e.data["progress"] for e in events]
    assert progress == sorted(progress) and progress[-1] == 100
    result = (await http.get(queued["status_url"])).json()["result"]
    assert result["counts"]["created"] == 3 and result["connection"] == "QA TestRail"
    assert result["kind"] == "testrail" and result["created"][0]["url"].startswith(testrail.url)
    second = await http.post(
        f"/projects/{project}/push", json={"connection_id": connection, "story_ids": ["US-1"]}
    )
    assert second.status_code == 202 and second.json()["task_id"] != queued["task_id"]


async def test_what_a_push_names_must_be_the_projects(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, client: AsyncClient
) -> None:
    seeded = await shop(sessionmaker, settings, testrail)
    project, connection = seeded["project"], seeded["connection"]
    other = await add_project(sessionmaker, "Other")
    await add_story(sessionmaker, other, "OT-1")
    theirs = await add_connection(
        sessionmaker, settings, other, "testrail", testrail.settings(), testrail.secrets, name="Theirs"
    )
    jira = await add_connection(
        sessionmaker,
        settings,
        project,
        "jira",
        {"kind": "jira", "url": "http://127.0.0.1:9", "email": "qa@example.com"},
        {"api_token": "jira-token-0123456789"},
        name="Jira",
    )
    url = f"/projects/{project}/push"
    missing = await client.post(url, json={"connection_id": theirs})
    assert missing.status_code == 404 and f"Connection {theirs} not found" in missing.json()["detail"]
    assert (await client.post(url, json={"connection_id": 999})).status_code == 404
    story = await client.post(url, json={"connection_id": connection, "story_ids": ["US-1", "OT-1"]})
    assert story.status_code == 404 and "OT-1" in story.json()["detail"]
    links_only = await client.post(url, json={"connection_id": jira})
    assert links_only.status_code == 409 and "Jira" in links_only.json()["detail"]
    for body in (
        {},
        {"connection_id": connection, "story_ids": []},
        {"connection_id": connection, "delete_removed": "yes"},
        {"connection_id": connection, "extra": 1},
        {"connection_id": "1"},
    ):
        assert (await client.post(url, json=body)).status_code == 422, body
    assert (await client.post("/projects/999/push", json={"connection_id": connection})).status_code == 404


async def test_reviewers_push_editors_and_viewers_may_not(
    app: Any, testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, client: AsyncClient
) -> None:
    seeded = await shop(sessionmaker, settings, testrail)
    project, connection = seeded["project"], seeded["connection"]
    for email, role in (
        ("rae@example.com", Role.reviewer),
        ("ed@example.com", Role.editor),
        ("vi@example.com", Role.viewer),
    ):
        await add_user(sessionmaker, email, roles={project: role})
    await add_user(sessionmaker, "out@example.com")
    app.state.users_gate.mark()
    body = {"connection_id": connection}
    for email, expected in (
        ("vi@example.com", 403),
        ("ed@example.com", 403),
        ("out@example.com", 404),
        ("rae@example.com", 202),
    ):
        csrf = await sign_in(client, email)
        r = await client.post(f"/projects/{project}/push", json=body, headers={"X-CSRF-Token": csrf})
        assert r.status_code == expected, (email, r.text)
        await client.post("/auth/logout", headers={"X-CSRF-Token": csrf})
    async with sessionmaker() as session:
        rows = (await session.execute(select(AuditEvent).where(AuditEvent.action == "push"))).scalars().all()
    assert [(r.actor, r.project_id, r.object_type, r.object_id) for r in rows] == [
        ("user:rae@example.com", project, "connection", str(connection))
    ]
    assert set(rows[0].fields) == {"connection_id"}


async def test_a_cancelled_push_keeps_what_it_pushed_and_the_next_push_finishes_it(
    testrail: FakeTestRail, settings: Settings, sessionmaker: Sessions, http: AsyncClient
) -> None:
    seeded = await shop(sessionmaker, settings, testrail, cases=12)
    project, connection, cases = seeded["project"], seeded["connection"], seeded["cases"]
    testrail.delay_s = 0.1
    async with run_worker(settings):
        queued = (await http.post(f"/projects/{project}/push", json={"connection_id": connection})).json()
        await wait_for(lambda: testrail.count("add_case", 200) >= 2, what="some cases to be created")
        r = await http.post(f"/generate-test-cases/{queued['task_id']}/cancel")
        assert r.status_code == 202, r.text
        await wait_for(lambda: testrail.count("add_case", 0) == 0, what="the cases under way")
        state = (await http.get(queued["status_url"])).json()
        assert state["status"] == "cancelled"
        made = len(testrail.cases)
        assert 2 <= made < 12
        testrail.delay_s = 0.0
        again = (await http.post(f"/projects/{project}/push", json={"connection_id": connection})).json()
        events = await read_events(http, again["events_url"])
    assert events[-1].event == "completed", events[-1].data
    counts = events[-1].data["result"]["counts"]
    assert counts["created"] + counts["unchanged"] == 12 and counts["failed"] == 0
    assert len(testrail.cases) == 12 and testrail.duplicates() == {}
    assert set(await mappings(sessionmaker, connection)) == set(cases)


async def cli(*args: str) -> int:
    return await asyncio.to_thread(main, list(args))


async def test_testgen_push_follow_by_connection_name(
    testrail: FakeTestRail,
    settings: Settings,
    sessionmaker: Sessions,
    server: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seeded = await shop(sessionmaker, settings, testrail)
    project = str(seeded["project"])
    async with run_worker(settings):
        code = await cli(
            "push", "--project", project, "--connection", "QA TestRail", "--follow", "--api", server
        )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(rf"^Queued push \S+: the test cases of project {project} to QA TestRail$", out, re.M)
    assert "Pushed 3/3 test cases" in err
    assert "Pushed to QA TestRail: 3 created, 0 updated, 0 unchanged, 0 conflicts, 0 removed, 0 failed" in out
    code = await cli("push", "--project", project, "--connection", "Nope", "--api", server)
    out, err = capsys.readouterr()
    assert code == 2 and "has no connection Nope; its connections: QA TestRail (id " in err


async def test_testgen_push_takes_the_connection_by_its_kind_when_the_project_has_one(
    testrail: FakeTestRail,
    settings: Settings,
    sessionmaker: Sessions,
    server: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seeded = await shop(sessionmaker, settings, testrail)
    project = str(seeded["project"])
    code = await cli("push", "--project", project, "--connection", "testrail", "--api", server)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(rf"^Queued push \S+: the test cases of project {project} to QA TestRail$", out, re.M)
    await add_connection(
        sessionmaker,
        settings,
        int(project),
        "testrail",
        testrail.settings(),
        testrail.secrets,
        name="Other TestRail",
    )
    code = await cli("push", "--project", project, "--connection", "testrail", "--api", server)
    out, err = capsys.readouterr()
    assert code == 2 and "has no connection testrail; its connections: " in err
    assert "QA TestRail (id " in err and "Other TestRail (id " in err
