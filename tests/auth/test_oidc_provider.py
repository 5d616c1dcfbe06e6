"""OpenID Connect sign-in end to end against a real, certified OpenID Provider (node-oidc-provider on
127.0.0.1): the browser's part (the provider's login and consent pages) is played with httpx."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from testgen.data.models import AuditEvent, User
from tests.support.harness import WAIT_S, wait_for
from tests.support.oidc_provider import running_provider

CLIENT_ID = "testgen"
CLIENT_SECRET = "node-provider-client-secret"
ACCOUNTS = {
    "ada": {"email": "ada@example.com", "name": "Ada Lovelace", "groups": ["staff", "testgen-admins"]},
    "bob": {"email": "bob@example.com", "name": "Bob", "groups": ["staff"]},
}
MAX_HOPS = 20


@pytest.fixture
def app_socket() -> Iterator[socket.socket]:
    """The app's listening socket, bound first: the provider registers its callback URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock
    sock.close()


@pytest.fixture
def issuer(app_socket: socket.socket, tmp_path: Path) -> Iterator[str]:
    port = app_socket.getsockname()[1]
    client = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "redirect_uris": [f"http://127.0.0.1:{port}/auth/oidc/callback"],
    }
    with running_provider({"clients": [client], "accounts": ACCOUNTS}, tmp_path / "provider.log") as url:
        yield url


@pytest.fixture
def settings(settings: Settings, issuer: str) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
            "oidc_scopes": "openid email profile groups",
            "oidc_role_claim": "groups",
            "oidc_admin_values": "testgen-admins",
        }
    )


@pytest.fixture
async def base_url(app: FastAPI, app_socket: socket.socket) -> AsyncIterator[str]:
    """The app under a real uvicorn on the bound socket (the redirect URL is derived from requests)."""
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[app_socket]))
    await wait_for(lambda: server.started or task.done(), what="uvicorn to start")
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{app_socket.getsockname()[1]}"
    server.should_exit = True
    await task


async def sign_in_at_provider(
    browser: httpx.AsyncClient, base_url: str, login: str, next_path: str
) -> httpx.Response:
    """What a browser does: start at the app, sign in and consent at the provider (its development
    pages: any password), and come back; the app's answer to the callback."""
    response = await browser.get(f"{base_url}/auth/oidc/login", params={"next": next_path})
    for _ in range(MAX_HOPS):
        if response.status_code in (302, 303):
            url = urljoin(str(response.url), response.headers["location"])
            response = await browser.get(url)
            if urlsplit(url).path == "/auth/oidc/callback":
                return response
        elif response.status_code == 200 and "/interaction/" in response.url.path:
            form = {"prompt": "login", "login": login, "password": "any"}
            if 'value="consent"' in response.text:
                form = {"prompt": "consent"}
            response = await browser.post(str(response.url), data=form)
        else:
            raise AssertionError(
                f"unexpected {response.status_code} at {response.url}: {response.text[:500]}"
            )
    raise AssertionError("the sign-in did not come back to the app")


async def user_of(sessionmaker: async_sessionmaker[AsyncSession], email: str) -> User | None:
    async with sessionmaker() as session:
        return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def test_a_first_sign_in_creates_the_user_and_starts_a_session(
    base_url: str, issuer: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with httpx.AsyncClient(timeout=WAIT_S) as browser:
        answer = await sign_in_at_provider(browser, base_url, "ada", "/projects?view=mine")
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/projects?view=mine"
        assert re.search(r"testgen_session=[^;]+;.*HttpOnly", answer.headers["set-cookie"], re.I)
        me = await browser.get(f"{base_url}/auth/me")
        assert me.status_code == 200, me.text
        assert me.json()["user"]["email"] == "ada@example.com"
        assert me.json()["is_admin"] is True  # her groups hold testgen-admins
    user = await user_of(sessionmaker, "ada@example.com")
    assert user is not None
    assert (user.name, user.oidc_issuer, user.oidc_subject, user.password_hash) == (
        "Ada Lovelace",
        issuer,
        "ada",
        None,
    )
    async with sessionmaker() as session:
        actions = (await session.execute(select(AuditEvent.actor, AuditEvent.action))).all()
    assert ("user:ada@example.com", "sign_in") in actions


async def test_groups_without_an_admin_value_make_no_admin_and_a_second_sign_in_keeps_the_user(
    base_url: str, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with httpx.AsyncClient(timeout=WAIT_S) as browser:
        first = await sign_in_at_provider(browser, base_url, "bob", "/")
        assert first.status_code == 303, first.text
        again = await sign_in_at_provider(browser, base_url, "bob", "/")  # the provider remembers him
        assert again.status_code == 303, again.text
        me = await browser.get(f"{base_url}/auth/me")
        assert (me.json()["user"]["email"], me.json()["is_admin"]) == ("bob@example.com", False)
    async with sessionmaker() as session:
        users = (await session.execute(select(User))).scalars().all()
    assert [(u.email, u.is_admin) for u in users] == [("bob@example.com", False)]
