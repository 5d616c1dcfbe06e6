"""Attacks on accounts and roles, each against the real app, Redis and database: guessing passwords,
telling accounts apart, planted and stale sessions, revoked and deactivated credentials, requests
forged without the CSRF token, a viewer's writes, and one project's member reaching into another."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from httpx_sse import aconnect_sse
from pwdlib import PasswordHash
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api import passwords
from testgen.api.access import Reach
from testgen.api.app import create_app
from testgen.core.config import Settings
from testgen.data.models import AuditEvent, GenerationJob, ProjectMember
from testgen.domain.roles import Role
from tests.support.accounts import PASSWORD, add_user, bearer_token, sign_in
from tests.support.harness import WAIT_S
from tests.support.route_walk import MARK, OUTSIDER, SECRET, World, operations, seed

MINUTE = 60.0


class Clock:
    """The wall clock the per-minute limits count in: 15 s into a minute, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000 * MINUTE + 15

    def __call__(self) -> float:
        return self.now


class CountingHash(PasswordHash):
    """pwdlib's hasher, counting its checks of a password."""

    verifies = 0

    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        CountingHash.verifies += 1
        return super().verify(password, hash)


def _client(app, address: str = "127.0.0.1") -> AsyncClient:  # type: ignore[no-untyped-def]
    return AsyncClient(transport=ASGITransport(app=app, client=(address, 4711)), base_url="http://testserver")


async def _login(client: AsyncClient, email: str, password: str = PASSWORD) -> Any:
    return await client.post("/auth/login", json={"email": email, "password": password})


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The walks below send many refused requests from one address; the limit has its own tests.
    settings.auth_failures_per_minute = 0
    return settings


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def limited_app(settings: Settings, redis, clock: Clock):  # type: ignore[no-untyped-def]
    settings.sign_in_failures_per_account = 3
    settings.sign_in_failures_per_client = 4
    application = create_app(settings, wall_clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def world(app, client, sessionmaker) -> World:  # type: ignore[no-untyped-def]
    return await seed(app, client, sessionmaker)


@pytest.fixture
async def viewer_session(app, world: World) -> AsyncIterator[tuple[AsyncClient, str]]:  # type: ignore[no-untyped-def]
    async with _client(app) as own:
        yield own, await sign_in(own, world.callers["viewer"].account.email)


@pytest.fixture
async def outsider_session(app, world: World) -> AsyncIterator[tuple[AsyncClient, str]]:  # type: ignore[no-untyped-def]
    async with _client(app) as own:
        yield own, await sign_in(own, world.callers[OUTSIDER].account.email)


# --- guessing passwords ---------------------------------------------------------------------------


async def test_failed_sign_ins_per_account_answer_429_until_the_minute_ends(
    limited_app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_user(sessionmaker, "ada@example.com")
    await add_user(sessionmaker, "bob@example.com")
    async with _client(limited_app) as guesser, _client(limited_app, "10.0.0.2") as elsewhere:
        for guess in range(3):
            assert (await _login(guesser, "ada@example.com", f"guess number {guess}")).status_code == 401
        refused = await _login(guesser, "ADA@example.com")  # the right password, the account's limit
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "45"
        assert "SIGN_IN_FAILURES_PER_ACCOUNT" in refused.json()["detail"]
        assert (await _login(elsewhere, "ada@example.com")).status_code == 429  # from any address
        assert (await _login(guesser, "bob@example.com")).status_code == 200  # other accounts sign in
        clock.now += 45
        assert (await _login(guesser, "ada@example.com")).status_code == 200


async def test_failed_sign_ins_per_client_answer_429_until_the_minute_ends(
    limited_app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    await add_user(sessionmaker, "ada@example.com")
    async with _client(limited_app, "10.0.0.1") as sprayer, _client(limited_app, "10.0.0.2") as other:
        for n in range(4):
            assert (await _login(sprayer, f"user{n}@example.com", "a guessed password")).status_code == 401
        refused = await _login(sprayer, "ada@example.com")
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "45"
        assert "SIGN_IN_FAILURES_PER_CLIENT" in refused.json()["detail"]
        assert (await _login(other, "ada@example.com")).status_code == 200  # another client signs in
        clock.now += 44
        assert (await _login(sprayer, "ada@example.com")).headers["Retry-After"] == "1"
        clock.now += 1
        assert (await _login(sprayer, "ada@example.com")).status_code == 200


async def test_unknown_email_wrong_password_and_deactivated_account_answer_alike_after_one_check(
    app: FastAPI,
    client: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await add_user(sessionmaker, "ada@example.com")
    await add_user(sessionmaker, "root@example.com", admin=True)
    gone = await add_user(sessionmaker, "gone@example.com")
    admin_csrf = await sign_in(client, "root@example.com")
    deactivated = await client.patch(
        f"/users/{gone.id}", json={"active": False}, headers={"X-CSRF-Token": admin_csrf}
    )
    assert deactivated.status_code == 200, deactivated.text
    counting = CountingHash.recommended()
    monkeypatch.setattr(passwords, "_hasher", lambda: counting)
    answers = {}
    for case, email, password in (
        ("unknown email", "nobody@example.com", PASSWORD),
        ("wrong password", "ada@example.com", "not the password at all"),
        ("deactivated", "gone@example.com", PASSWORD),
        ("right password", "ada@example.com", PASSWORD),
    ):
        CountingHash.verifies = 0
        async with _client(app) as guesser:
            response = await _login(guesser, email, password)
        assert CountingHash.verifies == 1, f"{case}: {CountingHash.verifies} password checks"
        answers[case] = (response.status_code, response.json(), response.headers.get("set-cookie"))
    assert answers["unknown email"] == answers["wrong password"] == answers["deactivated"]
    assert answers["unknown email"][0] == 401 and answers["unknown email"][2] is None
    assert answers["right password"][0] == 200


# --- sessions and tokens --------------------------------------------------------------------------


async def test_a_planted_session_is_never_adopted(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "root@example.com", admin=True)
    await add_user(sessionmaker, "mallory@example.com")
    app.state.users_gate.mark()
    async with _client(app) as attacker, _client(app) as victim:
        await sign_in(attacker, "mallory@example.com")
        planted = attacker.cookies["testgen_session"]
        victim.cookies.set("testgen_session", planted, domain="testserver.local")
        await sign_in(victim, "root@example.com")
        assert victim.cookies["testgen_session"] != planted
        assert (await victim.get("/auth/me")).json()["user"]["email"] == "root@example.com"
        assert (await attacker.get("/auth/me")).status_code == 401  # the planted id opens nothing
        assert (await attacker.get("/users")).status_code == 401


async def test_a_signed_out_session_opens_nothing_and_other_sessions_stay(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "root@example.com", admin=True)
    app.state.users_gate.mark()
    async with _client(app) as laptop, _client(app) as phone, _client(app) as replay:
        csrf = await sign_in(laptop, "root@example.com")
        await sign_in(phone, "root@example.com")
        cookie = laptop.cookies["testgen_session"]
        assert (await laptop.post("/auth/logout", headers={"X-CSRF-Token": csrf})).status_code == 204
        replay.cookies.set("testgen_session", cookie, domain="testserver.local")
        assert (await replay.get("/auth/me")).status_code == 401
        forged = await replay.post("/projects", json={"name": "P"}, headers={"X-CSRF-Token": csrf})
        assert forged.status_code == 401
        assert (await phone.get("/auth/me")).status_code == 200


async def test_a_revoked_token_is_refused_at_once_and_only_its_owner_revokes_it(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "root@example.com", admin=True)
    await add_user(sessionmaker, "eve@example.com")
    app.state.users_gate.mark()
    async with _client(app) as owner, _client(app) as other:
        token = await bearer_token(owner, "root@example.com")
        bearer = {"Authorization": f"Bearer {token}"}
        token_id = (await owner.get("/auth/tokens", headers=bearer)).json()[0]["id"]
        eve = {"Authorization": f"Bearer {await bearer_token(other, 'eve@example.com')}"}
        assert (await other.delete(f"/auth/tokens/{token_id}", headers=eve)).status_code == 404
        assert (await owner.get("/users", headers=bearer)).status_code == 200
        csrf = await sign_in(owner, "root@example.com")  # revoked from a session, used by bearer
        revoked = await owner.delete(f"/auth/tokens/{token_id}", headers={"X-CSRF-Token": csrf})
        assert revoked.status_code == 204
        owner.cookies.clear()
        assert (await owner.get("/users", headers=bearer)).status_code == 401
        assert (await owner.post("/projects", json={"name": "P"}, headers=bearer)).status_code == 401
        assert (await owner.post("/auth/stream-token", headers=bearer)).status_code == 401


async def test_a_deactivated_user_is_refused_everywhere_until_reactivated(app, world: World) -> None:  # type: ignore[no-untyped-def]
    editor = world.callers["editor"]
    async with _client(app) as admin, _client(app) as session:
        csrf = await sign_in(admin, world.admin.account.email)
        await sign_in(session, editor.account.email)
        minted = await world.client.post("/auth/stream-token", headers=editor.headers)
        assert minted.status_code == 200
        stream = f"/generate-test-cases/status/{world.task_a}/events"
        opened = await world.client.get(stream, params={"access_token": minted.json()["token"]})
        assert opened.status_code == 200
        changed = await admin.patch(
            f"/users/{editor.account.id}", json={"active": False}, headers={"X-CSRF-Token": csrf}
        )
        assert changed.status_code == 200, changed.text
        assert (await session.get(f"/user-stories/{world.story_a}")).status_code == 401
        assert (
            await world.client.get(f"/user-stories/{world.story_a}", headers=editor.headers)
        ).status_code == 401
        assert (
            await world.client.get(stream, params={"access_token": minted.json()["token"]})
        ).status_code == 401
        assert (await _login(world.client, editor.account.email)).status_code == 401
        world.client.cookies.clear()
        back = await admin.patch(
            f"/users/{editor.account.id}", json={"active": True}, headers={"X-CSRF-Token": csrf}
        )
        assert back.status_code == 200
        assert (await session.get(f"/user-stories/{world.story_a}")).status_code == 401  # it ended


async def test_a_password_reset_ends_every_session_of_the_user(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "root@example.com", admin=True)
    bob = await add_user(sessionmaker, "bob@example.com")
    app.state.users_gate.mark()
    async with _client(app) as admin, _client(app) as bob_client:
        csrf = await sign_in(admin, "root@example.com")
        await sign_in(bob_client, "bob@example.com")
        reset = await admin.patch(
            f"/users/{bob.id}",
            json={"password": "a new password, long enough"},
            headers={"X-CSRF-Token": csrf},
        )
        assert reset.status_code == 200, reset.text
        assert (await bob_client.get("/auth/me")).status_code == 401
        assert (await _login(bob_client, "bob@example.com")).status_code == 401


async def test_a_stream_token_opens_event_streams_and_runs_nothing_else(app, world: World) -> None:  # type: ignore[no-untyped-def]
    viewer = world.callers["viewer"]
    minted = await world.client.post("/auth/stream-token", headers=viewer.headers)
    token = {"access_token": minted.json()["token"]}
    stream = await world.client.get(f"/generate-test-cases/status/{world.task_a}/events", params=token)
    assert stream.status_code == 200
    for path in (
        f"/projects/{world.project_a}/test-cases/export",
        "/auth/me",
        f"/user-stories/{world.story_a}",
    ):
        assert (await world.client.get(path, params=token)).status_code == 401, path
    assert (await world.client.delete(f"/user-stories/{world.story_a}", params=token)).status_code == 401
    async with world.sessionmaker() as session:
        exports = await session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "export")
        )
    assert exports == 0  # the refused export did not run


async def test_a_changed_role_applies_to_the_next_request(app, world: World) -> None:  # type: ignore[no-untyped-def]
    editor, admin = world.callers["editor"], world.callers["admin"]
    members = f"/projects/{world.project_a}/members/{editor.account.id}"
    story = f"/user-stories/{world.story_a}"
    assert (
        await world.client.patch(story, json={"priority": "low"}, headers=editor.headers)
    ).status_code == 200
    demoted = await world.client.patch(members, json={"role": "viewer"}, headers=admin.headers)
    assert demoted.status_code == 200, demoted.text
    assert (
        await world.client.patch(story, json={"priority": "high"}, headers=editor.headers)
    ).status_code == 403
    assert (await world.client.delete(members, headers=admin.headers)).status_code == 204
    assert (await world.client.get(story, headers=editor.headers)).status_code == 404


# --- forged requests ------------------------------------------------------------------------------


async def test_a_change_without_the_sessions_csrf_token_is_refused(app, world: World) -> None:  # type: ignore[no-untyped-def]
    async with _client(app) as victim, _client(app) as attacker:
        await sign_in(victim, world.callers["admin"].account.email)
        attackers_csrf = await sign_in(attacker, world.callers["editor"].account.email)
        story = f"/user-stories/{world.story_a}"
        for headers in (
            {},
            {"X-CSRF-Token": ""},
            {"X-CSRF-Token": attackers_csrf},
            {"X-CSRF-Token": "x" * 43},
        ):
            assert (await victim.delete(story, headers=headers)).status_code == 403, headers
            patched = await victim.patch(story, json={"title": "Forged"}, headers=headers)
            assert patched.status_code == 403, headers
            created = await victim.post("/projects", json={"name": "Forged"}, headers=headers)
            assert created.status_code == 403, headers
        assert (await victim.get(story)).json()["title"] != "Forged"  # reads need no token
        names = [p["name"] for p in (await victim.get("/projects")).json()]
        assert "Forged" not in names


# --- roles ----------------------------------------------------------------------------------------


async def test_a_viewer_changes_nothing(app, world: World, viewer_session: tuple[AsyncClient, str]) -> None:  # type: ignore[no-untyped-def]
    """Every state-changing operation of a project or of the server, as a viewer of A signed in with
    a session: refused (403, or 404 where only server admins see the object), never done. A POST the
    table opens to viewers (a check that reads the story) is no change: it is not walked."""
    session, csrf = viewer_session
    viewer = world.callers["viewer"]
    problems = []
    walked = 0
    for op in operations(app):
        rule = op.rule
        assert rule is not None, f"{op}: no rule"
        if not op.writes or rule.reach in (Reach.open, Reach.signed_in) or rule.role is Role.viewer:
            continue
        walked += 1
        response = await world.send(op, viewer, client=session, headers={"X-CSRF-Token": csrf})
        if response.status_code not in (403, 404):
            problems.append(f"{op}: {response.status_code} {response.text[:200]}")
    assert not problems, "\n".join(problems)
    assert walked >= 15


async def test_another_projects_objects_are_not_found_on_every_route(
    app: FastAPI, world: World, outsider_session: tuple[AsyncClient, str]
) -> None:
    """Every project route, naming project A's objects (in its path, body or query), as an admin of
    project B signed in with a session: 404, as if they did not exist."""
    session, csrf = outsider_session
    outsider = world.callers[OUTSIDER]
    problems = []
    walked = 0
    for op in operations(app):
        rule = op.rule
        assert rule is not None, f"{op}: no rule"
        if rule.reach is not Reach.project:
            continue
        walked += 1
        response = await world.send(op, outsider, client=session, headers={"X-CSRF-Token": csrf})
        if response.status_code != 404 or SECRET in response.text.lower():
            problems.append(f"{op}: {response.status_code} {response.text[:200]}")
    assert not problems, "\n".join(problems)
    assert walked >= 25


async def _jobs_of(world: World, story_id: str) -> int:
    async with world.sessionmaker() as session:
        query = select(func.count()).select_from(GenerationJob).where(GenerationJob.story_id == story_id)
        return int(await session.scalar(query) or 0)


async def test_lists_searches_streams_and_bulk_requests_never_show_another_projects_objects(
    app: FastAPI, world: World, outsider_session: tuple[AsyncClient, str]
) -> None:
    session, csrf = outsider_session
    write = {"X-CSRF-Token": csrf}
    # Every list that is not a project's nor the server's (the signed-in's, the audit trail of the
    # projects one administers), as they answer an admin of B only: nothing of A.
    lists = (Reach.open, Reach.server_admin, Reach.project)
    for op in operations(app):
        if op.method == "GET" and op.rule is not None and op.rule.reach not in lists and not op.params:
            response = await session.get(op.path)
            assert response.status_code == 200, f"{op}: {response.status_code}"
            shown = response.text.lower()
            assert MARK not in shown and SECRET not in shown, f"{op} shows project A: {response.text[:300]}"
    assert [p["id"] for p in (await session.get("/projects")).json()] == [world.project_b]
    searched = await session.get("/user-stories", params={"q": "ALPHA"})
    assert searched.json() == [] and searched.headers["X-Total-Count"] == "0"
    assert (await session.get("/user-stories", params={"project_id": world.project_a})).status_code == 404
    # Streams: A's story or task, alone or beside B's, is not found; so is a batch of A's jobs.
    for params in (
        {"story_id": world.story_a},
        {"task_id": world.task_a},
        {"story_id": [world.story_b, world.story_a]},
        {"task_id": [world.task_b, world.task_a]},
    ):
        assert (await session.get("/generate-test-cases/events", params=params)).status_code == 404, params
    queued = await world.client.post(
        "/generate-test-cases/queue", json={"story_ids": [world.story_a]}, headers=world.admin.headers
    )
    assert queued.status_code == 202, queued.text
    batch = queued.json()["batch_id"]
    assert (await session.get("/generate-test-cases/events", params={"batch": batch})).status_code == 404
    # Bulk queueing names A's stories or A itself: not found, and nothing is queued, B's story neither.
    before = await _jobs_of(world, world.story_b)
    for body in (
        {"story_ids": [world.story_a]},
        {"story_ids": [world.story_b, world.story_a]},
        {"project_id": world.project_a},
    ):
        response = await session.post("/generate-test-cases/queue", json=body, headers=write)
        assert response.status_code == 404, (body, response.text)
    assert await _jobs_of(world, world.story_b) == before
    # A's export, usage and Jira import.
    a = world.project_a
    requests: tuple[tuple[str, str, dict[str, str] | None], ...] = (
        ("GET", f"/projects/{a}/test-cases/export", None),
        ("GET", f"/projects/{a}/test-cases/export?format=csv", None),
        ("GET", f"/user-stories/{world.story_a}/test-cases/export?format=gherkin", None),
        ("GET", f"/projects/{a}/usage", None),
        ("POST", f"/projects/{a}/imports/jira", {"jql": "project = SHOP"}),
    )
    for method, path, sent in requests:
        response = await session.request(method, path, json=sent, headers=write)
        assert response.status_code == 404, (path, response.status_code)
        assert SECRET not in response.text.lower()


async def test_a_story_moves_only_into_a_project_where_its_mover_may_add_stories(app, world: World) -> None:  # type: ignore[no-untyped-def]
    editor = world.callers["editor"]  # an editor of A, no member of B
    story = f"/user-stories/{world.story_a}"
    for target in (world.project_b, None):
        moved = await world.client.patch(story, json={"project_id": target}, headers=editor.headers)
        assert moved.status_code == 404, (target, moved.text)
    async with world.sessionmaker() as db:
        db.add(ProjectMember(project_id=world.project_b, user_id=editor.account.id, role=Role.viewer.value))
        await db.commit()
    moved = await world.client.patch(story, json={"project_id": world.project_b}, headers=editor.headers)
    assert moved.status_code == 403, moved.text
    outsider = world.callers[OUTSIDER]  # an admin of B pulls A's story in: A's is not found
    pulled = await world.client.patch(story, json={"project_id": world.project_b}, headers=outsider.headers)
    assert pulled.status_code == 404
    assert (await world.client.get(story, headers=editor.headers)).json()["project_id"] == world.project_a
    own = await world.client.patch(story, json={"project_id": world.project_a}, headers=editor.headers)
    assert own.status_code == 200  # naming its own project moves nothing
    admin_move = await world.client.patch(
        story, json={"project_id": world.project_b}, headers=world.admin.headers
    )
    assert admin_move.status_code == 200 and admin_move.json()["project_id"] == world.project_b


async def test_a_projects_event_stream_over_http_is_not_found_for_others_and_streams_for_a_viewer(
    world: World, http: AsyncClient
) -> None:
    """Through a real server: a job of A's story, followed by the story as EventSource does."""
    queued = await world.client.post(
        f"/generate-test-cases/{world.story_a}/queue", headers=world.callers["editor"].headers
    )
    assert queued.status_code == 202, queued.text
    task_id = queued.json()["task_id"]
    viewer, outsider = world.callers["viewer"], world.callers[OUTSIDER]

    async def stream_token(caller_headers: dict[str, str]) -> str:
        minted = await http.post("/auth/stream-token", headers=caller_headers)
        assert minted.status_code == 200, minted.text
        return str(minted.json()["token"])

    by_story = {"story_id": world.story_a}
    for params, headers in (
        (by_story, outsider.headers),
        ({**by_story, "access_token": await stream_token(outsider.headers)}, {}),
    ):
        assert (
            await http.get("/generate-test-cases/events", params=params, headers=headers)
        ).status_code == 404
        single = await http.get(
            f"/generate-test-cases/status/{task_id}/events", params=params, headers=headers
        )
        assert single.status_code == 404
    for params, headers in (
        (by_story, viewer.headers),
        ({**by_story, "access_token": await stream_token(viewer.headers)}, {}),
    ):
        async with (
            asyncio.timeout(WAIT_S),
            aconnect_sse(
                http, "GET", "/generate-test-cases/events", params=params, headers=headers
            ) as source,
        ):
            assert source.response.status_code == 200
            assert source.response.headers["content-type"].startswith("text/event-stream")
            async for event in source.aiter_sse():
                if event.data:
                    assert json.loads(event.data)["task_id"] == task_id
                    break
