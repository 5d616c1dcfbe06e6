"""Sign-in, sessions, CSRF and personal tokens, against the real app, Redis and database."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import select

from testgen.api.app import create_app
from testgen.core.redis_keys import session_key
from testgen.data.models import ApiToken, AuditEvent
from testgen.domain.roles import Role
from tests.api.test_client_address import api
from tests.support.accounts import PASSWORD, add_user, bearer_token, sign_in


def _client(app) -> AsyncClient:  # type: ignore[no-untyped-def]
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver")


async def test_open_until_the_first_user_then_sign_in_everywhere(app, client, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    assert (await client.get("/projects")).status_code == 200
    assert (await client.get("/auth/config")).json()["sign_in_required"] is False
    await add_user(sessionmaker, "ada@example.com", admin=True)
    app.state.users_gate.mark()
    assert (await client.get("/projects")).status_code == 401
    assert (await client.get("/health")).status_code == 200
    assert (await client.get("/")).status_code == 200
    assert (await client.get("/auth/config")).json()["sign_in_required"] is True


async def test_a_session_cookie_a_csrf_token_and_sign_out(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "ada@example.com", admin=True)
    app.state.users_gate.mark()
    async with _client(app) as client:
        response = await client.post("/auth/login", json={"email": "ADA@example.com", "password": PASSWORD})
        assert response.status_code == 200
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        csrf = response.json()["csrf_token"]
        assert (await client.get("/auth/me")).json()["user"]["email"] == "ada@example.com"
        assert (await client.post("/projects", json={"name": "P"})).status_code == 403  # no CSRF token
        created = await client.post("/projects", json={"name": "P"}, headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201
        old_cookie = client.cookies.get("testgen_session")
        assert (await client.post("/auth/logout", headers={"X-CSRF-Token": csrf})).status_code == 204
    async with _client(app) as replay:
        replay.cookies.set("testgen_session", old_cookie, domain="testserver.local")
        assert (await replay.get("/projects")).status_code == 401


async def test_a_new_session_id_at_every_sign_in(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "ada@example.com", admin=True)
    async with _client(app) as client:
        client.cookies.set("testgen_session", "planted-by-an-attacker", domain="testserver.local")
        await sign_in(client, "ada@example.com")
        first = client.cookies.get("testgen_session")
        assert first != "planted-by-an-attacker"
        await sign_in(client, "ada@example.com")
        assert client.cookies.get("testgen_session") != first
    async with _client(app) as other:
        other.cookies.set("testgen_session", first, domain="testserver.local")
        assert (await other.get("/auth/me")).status_code == 401  # the replaced session ended


async def test_an_unknown_email_and_a_wrong_password_answer_alike(app, client, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "ada@example.com")
    unknown = await client.post("/auth/login", json={"email": "nobody@example.com", "password": PASSWORD})
    wrong = await client.post("/auth/login", json={"email": "ada@example.com", "password": "wrong password!"})
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()
    async with sessionmaker() as session:
        actions = (await session.execute(select(AuditEvent.action))).scalars().all()
    assert actions.count("sign_in_failed") == 2


async def test_a_personal_token_works_until_revoked(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "ada@example.com", admin=True)
    app.state.users_gate.mark()
    async with _client(app) as client:
        token = await bearer_token(client, "ada@example.com")
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.post("/projects", json={"name": "P"}, headers=headers)).status_code == 201
        listed = (await client.get("/auth/tokens", headers=headers)).json()
        assert [t["prefix"] for t in listed] == [token[:12]] and "token" not in listed[0]
        assert listed[0]["last_used_at"] is not None
        assert (await client.delete(f"/auth/tokens/{listed[0]['id']}", headers=headers)).status_code == 204
        assert (await client.get("/projects", headers=headers)).status_code == 401


async def test_a_deactivated_user_is_refused_at_once(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "root@example.com", admin=True)
    bob = await add_user(sessionmaker, "bob@example.com")
    app.state.users_gate.mark()
    async with _client(app) as admin, _client(app) as bob_client:
        csrf = await sign_in(admin, "root@example.com")
        token = await bearer_token(bob_client, "bob@example.com")
        await sign_in(bob_client, "bob@example.com")
        assert (await bob_client.get("/projects")).status_code == 200
        changed = await admin.patch(
            f"/users/{bob.id}", json={"active": False}, headers={"X-CSRF-Token": csrf}
        )
        assert changed.status_code == 200, changed.text
        assert (await bob_client.get("/projects")).status_code == 401
        assert (
            await bob_client.get("/projects", headers={"Authorization": f"Bearer {token}"})
        ).status_code == 401


async def test_the_session_cookie_is_secure_over_https_and_behind_a_trusted_https_proxy(
    app,
    settings,
    sessionmaker,  # type: ignore[no-untyped-def]
) -> None:
    await add_user(sessionmaker, "ada@example.com", admin=True)
    body = {"email": "ada@example.com", "password": PASSWORD}
    async with AsyncClient(transport=ASGITransport(app=app), base_url="https://testserver") as https:
        signed_in = await https.post("/auth/login", json=body)
        assert signed_in.status_code == 200
        assert "; secure" in signed_in.headers["set-cookie"].lower()
        csrf = signed_in.json()["csrf_token"]
        signed_out = await https.post("/auth/logout", headers={"X-CSRF-Token": csrf})
        assert "; secure" in signed_out.headers["set-cookie"].lower()
    proxied = {"X-Forwarded-Proto": "https"}
    async with api(settings) as direct:  # no trusted proxy: the header is anyone's claim
        cookie = (await direct.post("/auth/login", json=body, headers=proxied)).headers["set-cookie"]
        assert "httponly" in cookie.lower() and "secure" not in cookie.lower()
    settings.forwarded_allow_ips = "127.0.0.1"
    async with api(settings) as behind_proxy:
        answer = await behind_proxy.post("/auth/login", json=body, headers=proxied)
        assert answer.status_code == 200
        assert "; secure" in answer.headers["set-cookie"].lower()


async def test_a_session_ends_session_ttl_s_after_the_sign_in(app, settings, redis, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "ada@example.com", admin=True)
    app.state.users_gate.mark()
    body = {"email": "ada@example.com", "password": PASSWORD}
    async with _client(app) as client:
        response = await client.post("/auth/login", json=body)
        assert f"max-age={settings.session_ttl_s};" in response.headers["set-cookie"].lower()
        sid = client.cookies["testgen_session"]
        key = session_key(hashlib.sha256(sid.encode()).hexdigest())
        assert settings.session_ttl_s - 60 < await redis.ttl(key) <= settings.session_ttl_s
        assert (await client.get("/auth/me")).status_code == 200
        # A session of one second (below what SESSION_TTL_S accepts, so that the test waits for it).
        app.state.sessions.ttl_s = 1
        short = await client.post("/auth/login", json=body)
        assert "max-age=1;" in short.headers["set-cookie"].lower()
        sid = client.cookies["testgen_session"]
        await asyncio.sleep(1.5)
    async with _client(app) as replay:  # the server's expiry, whatever the browser keeps
        replay.cookies.set("testgen_session", sid, domain="testserver.local")
        assert (await replay.get("/auth/me")).status_code == 401
        assert (await replay.get("/projects")).status_code == 401


async def test_a_personal_token_is_kept_hashed_and_refused_once_its_expiry_passes(app, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    await add_user(sessionmaker, "ada@example.com", admin=True)
    app.state.users_gate.mark()
    async with _client(app) as client:
        csrf = {"X-CSRF-Token": await sign_in(client, "ada@example.com")}
        past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).isoformat()
        refused = await client.post("/auth/tokens", json={"name": "old", "expires_at": past}, headers=csrf)
        assert refused.status_code == 400
        soon = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
        created = await client.post("/auth/tokens", json={"name": "ci", "expires_at": soon}, headers=csrf)
        assert created.status_code == 201, created.text
        assert dt.datetime.fromisoformat(created.json()["expires_at"]) == dt.datetime.fromisoformat(soon)
        client.cookies.clear()
        bearer = {"Authorization": f"Bearer {created.json()['token']}"}
        assert (await client.get("/projects", headers=bearer)).status_code == 200
    async with sessionmaker() as session:
        token = await session.get(ApiToken, created.json()["id"])
        assert token is not None
        plain = created.json()["token"]  # kept as its SHA-256 and the prefix shown in lists only
        assert token.token_hash == hashlib.sha256(plain.encode()).hexdigest()
        assert token.prefix == plain[:12]
        row = " ".join(str(getattr(token, column.key)) for column in ApiToken.__table__.columns)
        assert plain not in row and plain[12:20] not in row
        token.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        await session.commit()
    async with _client(app) as client:
        assert (await client.get("/projects", headers=bearer)).status_code == 401


async def test_api_keys_stay_admin_service_accounts_beside_users(settings, redis, sessionmaker) -> None:  # type: ignore[no-untyped-def]
    key = {"Authorization": "Bearer alpha-key-1234567"}
    settings.api_keys = SecretStr("alpha-key-1234567")
    application = create_app(settings)
    async with application.router.lifespan_context(application), _client(application) as client:
        shop = await client.post("/projects", json={"name": "Shop"}, headers=key)
        bank = await client.post("/projects", json={"name": "Bank"}, headers=key)
        assert shop.status_code == bank.status_code == 201
        shop_id, bank_id = shop.json()["id"], bank.json()["id"]
        ada = await add_user(sessionmaker, "ada@example.com", roles={shop_id: Role.editor})
        application.state.users_gate.mark()
        # The key: a server admin, in every project though a member of none.
        bob = await client.post(
            "/users", json={"email": "bob@example.com", "name": "Bob", "password": PASSWORD}, headers=key
        )
        assert bob.status_code == 201, bob.text
        assert {p["id"] for p in (await client.get("/projects", headers=key)).json()} == {shop_id, bank_id}
        described = await client.patch(f"/projects/{bank_id}", json={"description": "x"}, headers=key)
        assert described.status_code == 200
        assert (await client.get("/users", headers=key)).status_code == 200
        assert (await client.get("/auth/me", headers=key)).json()["is_admin"] is True
        # Users beside it: a session and a personal token, with their own roles.
        csrf = await sign_in(client, ada.email)
        assert [p["id"] for p in (await client.get("/projects")).json()] == [shop_id]
        assert (await client.get(f"/projects/{bank_id}")).status_code == 404
        token = await client.post("/auth/tokens", json={"name": "ci"}, headers={"X-CSRF-Token": csrf})
        client.cookies.clear()
        bearer = {"Authorization": f"Bearer {token.json()['token']}"}
        assert (await client.get(f"/projects/{shop_id}", headers=bearer)).status_code == 200
        assert (await client.get("/users", headers=bearer)).status_code == 403
        wrong_key = {"Authorization": "Bearer alpha-key-7654321"}
        assert (await client.get("/projects", headers=wrong_key)).status_code == 401
