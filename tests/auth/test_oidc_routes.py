"""/auth/oidc/login and /auth/oidc/callback under a real uvicorn, against the fake provider: a valid
sign-in starts a session; a bad ID token, a replayed or unknown state, a callback from another
browser or the provider's refusal sign no one in (401, no session cookie, no user)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.app import create_app
from testgen.core.config import Settings
from testgen.data.models import AuditEvent, User
from tests.support.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc
from tests.support.harness import WAIT_S

SESSION_COOKIE = "testgen_session"


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
