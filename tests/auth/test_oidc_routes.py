"""/auth/oidc/login and /auth/oidc/callback under a real uvicorn, against the fake provider: a valid
sign-in starts a session; a bad ID token, a replayed or unknown state, a callback from another
browser or the provider's refusal sign no one in (401, no session cookie, no user). Each sign-in
brings the project roles OIDC_PROJECT_ROLES gives the claim's values in line, leaving hand-set ones."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr, ValidationError
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.app import create_app
from testgen.core.config import PROJECT_ROLE_NAMES, Settings
from testgen.data.models import AuditEvent, Project, ProjectMember, User
from testgen.domain.roles import MemberSource, Role
from tests.support.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc
from tests.support.harness import WAIT_S

SESSION_COOKIE = "testgen_session"
# Project names may hold commas, colons and spaces: the setting is JSON, so any name is unambiguous.
CONSOLE = "Admin: Console, EU"
PROJECT_ROLES = {
    "qa-team": {"Shop": "editor", CONSOLE: "viewer"},
    "qa-leads": {"Shop": "reviewer"},
    "auditors": {"*": "viewer"},
    "ghosts": {"Nowhere": "admin"},
}


@pytest.fixture
def provider() -> Iterator[FakeOidc]:
    fake = FakeOidc(
        claims={
            "email": "ada@example.com",
            "email_verified": True,
            "name": "Ada",
            "groups": ["testgen-admins"],
        }
    )
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def settings(settings: Settings, provider: FakeOidc) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": provider.issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
            "oidc_role_claim": "groups",
            "oidc_admin_values": "testgen-admins",
            "oidc_project_roles": json.dumps(PROJECT_ROLES),
        }
    )


@pytest.fixture
async def browser(server: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(base_url=server, timeout=WAIT_S) as client:
        yield client


async def start(browser: AsyncClient, next_path: str = "/") -> str:
    """The callback URL the provider sends the browser back to (it signs the user in at once)."""
    login = await browser.get("/auth/oidc/login", params={"next": next_path})
    assert login.status_code == 302, login.text
    at_provider = await browser.get(login.headers["location"])
    assert at_provider.status_code == 302, at_provider.text
    callback: str = at_provider.headers["location"]
    assert urlsplit(callback).path == "/auth/oidc/callback"
    return callback


async def users(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    async with sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def audit_actions(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[str, str]]:
    async with sessionmaker() as session:
        rows = await session.execute(select(AuditEvent.actor, AuditEvent.action).order_by(AuditEvent.id))
        return [(actor, action) for actor, action in rows]


def assert_refused(answer: httpx.Response) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["detail"].startswith("The sign-in was refused")
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


async def test_a_sign_in_starts_a_session_and_returns_to_next(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], provider: FakeOidc
) -> None:
    answer = await browser.get(await start(browser, "/projects/7?tab=cases"))
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/projects/7?tab=cases"
    assert browser.cookies.get(SESSION_COOKIE)
    me = await browser.get("/auth/me")
    assert (me.json()["user"]["email"], me.json()["is_admin"]) == ("ada@example.com", True)
    assert await users(sessionmaker) == 1
    assert ("user:ada@example.com", "sign_in") in await audit_actions(sessionmaker)


async def test_the_login_redirect_carries_pkce_a_nonce_and_the_derived_callback_url(
    browser: AsyncClient, server: str, provider: FakeOidc
) -> None:
    login = await browser.get("/auth/oidc/login")
    query = {k: v[0] for k, v in parse_qs(urlsplit(login.headers["location"]).query).items()}
    assert query["redirect_uri"] == f"{server}/auth/oidc/callback"
    assert query["code_challenge_method"] == "S256" and query["nonce"] and query["state"]
    assert "testgen_oidc=" in login.headers["set-cookie"]
    assert "Path=/auth/oidc" in login.headers["set-cookie"]


@pytest.mark.parametrize(
    ("flaw", "reason"),
    [
        ({"signing": "stranger"}, "signature"),
        ({"id_token_claims": {"aud": "another-client"}}, "audience"),
        ({"id_token_claims": {"exp": int(time.time()) - 600, "iat": int(time.time()) - 900}}, "expired"),
        ({"id_token_claims": {"nonce": "a-nonce-of-another-sign-in"}}, "nonce"),
    ],
    ids=["wrong-signature", "wrong-audience", "expired", "wrong-nonce"],
)
async def test_a_bad_id_token_signs_no_one_in(
    browser: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    provider: FakeOidc,
    flaw: dict[str, object],
    reason: str,
) -> None:
    for name, value in flaw.items():
        setattr(provider, name, value)
    answer = await browser.get(await start(browser))
    assert_refused(answer)
    assert reason in answer.json()["detail"]
    assert await users(sessionmaker) == 0
    assert await audit_actions(sessionmaker) == [("oidc", "sign_in_failed")]


async def test_a_replayed_callback_is_refused(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    callback = await start(browser)
    assert (await browser.get(callback)).status_code == 303
    browser.cookies.clear()
    replay = await browser.get(callback)
    assert_refused(replay)
    assert "already used" in replay.json()["detail"]
    assert await users(sessionmaker) == 1


async def test_an_unknown_state_is_refused(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], provider: FakeOidc
) -> None:
    await start(browser)
    answer = await browser.get("/auth/oidc/callback", params={"code": "made-up", "state": "made-up-state"})
    assert_refused(answer)
    assert provider.token_requests == 0
    assert await users(sessionmaker) == 0


async def test_a_callback_opened_in_another_browser_is_refused(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    callback = await start(browser)
    async with AsyncClient(timeout=WAIT_S) as victim:  # login CSRF: the attacker's code in a victim's browser
        assert_refused(await victim.get(callback))
    assert await users(sessionmaker) == 0


async def test_the_providers_refusal_is_a_401(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    callback = await start(browser)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    answer = await browser.get("/auth/oidc/callback", params={"error": "access_denied", "state": state})
    assert_refused(answer)
    assert "access_denied" in answer.json()["detail"]
    assert_refused(await browser.get(callback))  # its state is used up
    assert await users(sessionmaker) == 0


@pytest.mark.parametrize(
    "next_path", ["https://elsewhere.example/", "//elsewhere.example", "/\\elsewhere", "projects"]
)
async def test_next_must_be_a_local_path(browser: AsyncClient, next_path: str) -> None:
    answer = await browser.get("/auth/oidc/login", params={"next": next_path})
    assert answer.status_code == 400
    assert "next must be a path of this site" in answer.json()["detail"]


async def test_a_deactivated_user_is_refused(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert (await browser.get(await start(browser))).status_code == 303
    async with sessionmaker() as session, session.begin():
        user = (await session.execute(select(User))).scalar_one()
        user.active = False
    browser.cookies.clear()
    answer = await browser.get(await start(browser))
    assert answer.status_code == 401
    assert "deactivated" in answer.json()["detail"]
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


async def test_without_oidc_settings_both_routes_are_404(settings: Settings, redis: Redis) -> None:
    app = create_app(settings.model_copy(update={"oidc_issuer": None, "oidc_client_id": None}))
    transport = ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=transport, base_url="http://t") as client,
    ):
        for path in ("/auth/oidc/login", "/auth/oidc/callback?code=c&state=s"):
            answer = await client.get(path)
            assert answer.status_code == 404
            assert "OIDC_ISSUER" in answer.json()["detail"]


# --- project roles from the claim (OIDC_PROJECT_ROLES) ------------------------------------------------


async def make_projects(sessionmaker: async_sessionmaker[AsyncSession], *names: str) -> dict[str, int]:
    async with sessionmaker() as session, session.begin():
        projects = [Project(name=name) for name in names]
        session.add_all(projects)
        await session.flush()
        return {p.name: p.id for p in projects}


async def roles(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[int, tuple[str, str]]:
    """Ada's memberships: project id -> (role, source)."""
    async with sessionmaker() as session:
        query = select(ProjectMember.project_id, ProjectMember.role, ProjectMember.source).join(
            User, User.id == ProjectMember.user_id
        )
        return {project_id: (role, source) for project_id, role, source in await session.execute(query)}


async def sign_in(browser: AsyncClient, provider: FakeOidc, groups: list[str]) -> dict[int, str]:
    """A new sign-in with these claim values; the project roles /auth/me then reports."""
    provider.claims["groups"] = groups
    browser.cookies.clear()
    answer = await browser.get(await start(browser))
    assert answer.status_code == 303, answer.text
    me = (await browser.get("/auth/me")).json()
    return {p["project_id"]: p["role"] for p in me["projects"]}


async def member_audit(sessionmaker: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, int | None]]:
    async with sessionmaker() as session:
        query = (
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.project_id)
            .where(AuditEvent.action.like("member_%"))
            .order_by(AuditEvent.id)
        )
        return [(actor, action, project_id) for actor, action, project_id in await session.execute(query)]


async def test_the_first_sign_in_gives_the_mapped_project_roles_the_highest_of_several(
    browser: AsyncClient,
    sessionmaker: async_sessionmaker[AsyncSession],
    provider: FakeOidc,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ids = await make_projects(sessionmaker, "Shop", CONSOLE, "Other")
    with caplog.at_level(logging.WARNING, logger="testgen.data.accounts"):
        seen = await sign_in(browser, provider, ["qa-team", "qa-leads", "ghosts", "unmapped"])
    assert seen == {ids["Shop"]: "reviewer", ids[CONSOLE]: "viewer"}
    claimed = MemberSource.oidc_claim.value
    assert await roles(sessionmaker) == {
        ids["Shop"]: ("reviewer", claimed),
        ids[CONSOLE]: ("viewer", claimed),
    }
    assert "'Nowhere', which does not exist: skipped" in caplog.text
    assert sorted(await member_audit(sessionmaker)) == [
        ("oidc", "member_add", ids["Shop"]),
        ("oidc", "member_add", ids[CONSOLE]),
    ]


async def test_a_later_sign_in_lowers_then_removes_what_the_claim_no_longer_grants(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], provider: FakeOidc
) -> None:
    ids = await make_projects(sessionmaker, "Shop", CONSOLE)
    assert await sign_in(browser, provider, ["qa-leads", "qa-team"]) == {
        ids["Shop"]: "reviewer",
        ids[CONSOLE]: "viewer",
    }
    assert await sign_in(browser, provider, ["qa-team"]) == {ids["Shop"]: "editor", ids[CONSOLE]: "viewer"}
    assert await sign_in(browser, provider, ["testgen-admins"]) == {}
    assert await roles(sessionmaker) == {}
    assert await member_audit(sessionmaker) == [
        ("oidc", "member_add", ids["Shop"]),
        ("oidc", "member_add", ids[CONSOLE]),
        ("oidc", "member_update", ids["Shop"]),
        ("oidc", "member_remove", ids["Shop"]),
        ("oidc", "member_remove", ids[CONSOLE]),
    ]
    again = await sign_in(browser, provider, ["testgen-admins"])  # nothing to change: no audit row
    assert again == {} and len(await member_audit(sessionmaker)) == 5


async def test_a_hand_set_membership_is_never_lowered_or_removed_by_the_claim(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], provider: FakeOidc
) -> None:
    ids = await make_projects(sessionmaker, "Shop", CONSOLE)
    async with sessionmaker() as session, session.begin():  # an admin made Ada and her roles by hand
        ada = User(email="ada@example.com", name="Ada", password_hash=None, is_admin=False)
        session.add(ada)
        await session.flush()
        session.add(ProjectMember(project_id=ids["Shop"], user_id=ada.id, role=Role.admin.value))
    manual = MemberSource.manual.value
    assert await sign_in(browser, provider, ["qa-team"]) == {ids["Shop"]: "admin", ids[CONSOLE]: "viewer"}
    assert await sign_in(browser, provider, []) == {ids["Shop"]: "admin"}
    assert await roles(sessionmaker) == {ids["Shop"]: ("admin", manual)}
    assert ("oidc", "member_update", ids["Shop"]) not in await member_audit(sessionmaker)


async def test_a_star_gives_the_role_in_every_project_with_a_named_one_higher(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], provider: FakeOidc
) -> None:
    ids = await make_projects(sessionmaker, "Shop", CONSOLE, "Other")
    assert await sign_in(browser, provider, ["auditors"]) == {i: "viewer" for i in ids.values()}
    (later,) = (await make_projects(sessionmaker, "Later")).values()
    seen = await sign_in(browser, provider, ["auditors", "qa-team"])
    assert seen == {ids["Shop"]: "editor", ids[CONSOLE]: "viewer", ids["Other"]: "viewer", later: "viewer"}


def test_the_role_names_are_the_project_roles() -> None:
    assert tuple(Role) == PROJECT_ROLE_NAMES


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("qa-team=Shop:editor", "it is not JSON"),
        ('["qa-team"]', "it is not a JSON object"),
        ('{"qa-team": "Shop"}', "maps to no object of projects and roles"),
        ('{"qa-team": {}}', "maps to no object of projects and roles"),
        ('{"qa-team": {"Shop": "owner"}}', "the role of 'Shop' is 'owner'"),
        ('{"qa-team": {"Shop": ["editor"]}}', "the role of 'Shop'"),
        ('{"qa-team": {" ": "editor"}}', "a project name is empty or too long"),
        ('{"": {"Shop": "editor"}}', "is empty or longer than"),
        ('{"qa-team": {"Shop": "editor"}, "qa-team": {"Shop": "admin"}}', "'qa-team' is named twice"),
        ('{"qa-team": {"Shop": "editor", "Shop": "admin"}}', "'Shop' is named twice"),
    ],
)
def test_a_bad_project_roles_setting_is_refused_at_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    monkeypatch.setenv("OIDC_ROLE_CLAIM", "groups")
    monkeypatch.setenv("OIDC_PROJECT_ROLES", value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "OIDC_PROJECT_ROLES: " in str(refused.value) and problem in str(refused.value)
    assert '{"qa-team": {"Shop": "editor"}' in str(refused.value)  # the message shows the format


def test_project_roles_without_a_role_claim_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OIDC_ROLE_CLAIM", raising=False)
    monkeypatch.setenv("OIDC_PROJECT_ROLES", json.dumps(PROJECT_ROLES))
    with pytest.raises(ValidationError, match="OIDC_ROLE_CLAIM names none"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_a_good_project_roles_setting_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OIDC_ROLE_CLAIM", "groups")
    monkeypatch.setenv("OIDC_PROJECT_ROLES", json.dumps(PROJECT_ROLES))
    assert Settings(_env_file=None).oidc_project_role_map == PROJECT_ROLES  # type: ignore[call-arg]
    monkeypatch.setenv("OIDC_PROJECT_ROLES", "")
    assert Settings(_env_file=None).oidc_project_role_map == {}  # type: ignore[call-arg]


async def test_a_role_an_admin_changes_by_hand_is_hand_set_from_then_on(
    browser: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession], provider: FakeOidc
) -> None:
    await sign_in(browser, provider, ["testgen-admins"])  # the first admin: admin of the projects there are
    ids = await make_projects(sessionmaker, "Shop", CONSOLE)
    await sign_in(browser, provider, ["qa-team", "testgen-admins"])  # a server admin: /auth/me lists none
    claimed = MemberSource.oidc_claim.value
    assert await roles(sessionmaker) == {ids["Shop"]: ("editor", claimed), ids[CONSOLE]: ("viewer", claimed)}
    me = (await browser.get("/auth/me")).json()
    changed = await browser.patch(
        f"/projects/{ids['Shop']}/members/{me['user']['id']}",
        json={"role": "viewer"},
        headers={"X-CSRF-Token": me["csrf_token"]},
    )
    assert changed.status_code == 200, changed.text
    assert await sign_in(browser, provider, ["qa-leads"]) == {ids["Shop"]: "viewer"}
    assert await roles(sessionmaker) == {ids["Shop"]: ("viewer", MemberSource.manual.value)}
