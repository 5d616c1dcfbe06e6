from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr

from testgen.api.app import create_app
from testgen.api.security import StreamTokens
from testgen.cli import main as cli_main
from testgen.cli import serve
from testgen.core.config import Settings
from testgen.core.errors import ConfigurationError
from tests.support.helpers import STREAM_TOKEN_SECRET, make_story

SECRET = STREAM_TOKEN_SECRET.encode()
ClientFactory = Callable[[Settings], AbstractAsyncContextManager[AsyncClient]]


@pytest.fixture
def make_client(redis: object) -> ClientFactory:
    @asynccontextmanager
    async def make(settings: Settings) -> AsyncIterator[AsyncClient]:
        app = create_app(settings)
        transport = ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            AsyncClient(transport=transport, base_url="http://t") as c,
        ):
            yield c

    return make


async def test_api_keys_guard_every_endpoint_but_health(
    settings: Settings, make_client: ClientFactory
) -> None:
    settings.api_keys = SecretStr("alpha-key-1234567, beta-key-1234567")
    async with make_client(settings) as client:
        assert (await client.get("/health")).status_code == 200
        for url in ("/user-stories", "/projects", "/openapi.json", "/generate-test-cases/status/x"):
            r = await client.get(url)
            assert r.status_code == 401, url
            assert "Authorization: Bearer" in r.json()["detail"]
            assert r.headers["www-authenticate"].startswith("Bearer")
        assert (
            await client.get("/user-stories", headers={"Authorization": "Bearer nope"})
        ).status_code == 401
        assert (
            await client.get("/user-stories", headers={"Authorization": "Basic alpha-key-1234567"})
        ).status_code == 401
        for key in ("alpha-key-1234567", "beta-key-1234567"):
            assert (
                await client.get("/user-stories", headers={"Authorization": f"Bearer {key}"})
            ).status_code == 200


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    settings.api_keys = SecretStr("alpha-key-1234567")
    return settings


async def test_event_streams_take_a_short_lived_token(keyed: Settings, http: AsyncClient) -> None:
    auth = {"Authorization": "Bearer alpha-key-1234567"}
    http.headers.update(auth)
    await make_story(http, "US-001")
    task = (await http.post("/generate-test-cases/US-001/queue")).json()["task_id"]
    http.headers.pop("Authorization")
    token = (await http.post("/auth/stream-token", headers=auth)).json()
    assert token["expires_in"] == 300 and "alpha-key-1234567" not in token["token"]
    url = f"/generate-test-cases/events?task_id={task}"
    assert (await http.get(url)).status_code == 401
    assert (await http.get(f"{url}&access_token=alpha-key-1234567")).status_code == 401  # never the raw key
    forged = StreamTokens(["other-key-1234567"], SECRET).issue("other-key-1234567")[0]
    assert (await http.get(f"{url}&access_token={forged}")).status_code == 401
    expired = StreamTokens(["alpha-key-1234567"], SECRET).issue("alpha-key-1234567", now=1_000_000)[0]
    assert (await http.get(f"{url}&access_token={expired}")).status_code == 401
    # a token opens event streams only, not the rest of the API
    assert (await http.get(f"/user-stories?access_token={token['token']}")).status_code == 401
    async with http.stream("GET", f"{url}&access_token={token['token']}") as r:
        assert r.status_code == 200
        received = ""
        async for chunk in r.aiter_text():
            received += chunk
            if "event: queued" in received:
                break
    assert f'"task_id":"{task}"' in received and "event: queued" in received


async def test_a_trailing_slash_never_redirects_to_the_host_header(
    settings: Settings, make_client: ClientFactory
) -> None:
    settings.api_keys = SecretStr("alpha-key-1234567")
    headers = {"Host": "evil.example", "Authorization": "Bearer alpha-key-1234567"}
    async with make_client(settings) as client:
        for url in ("/projects/", "/user-stories/?q=x", "/docs/", "/generate-test-cases/status/x/"):
            r = await client.get(url, headers=headers)
            assert r.status_code == 404, url
            assert "location" not in r.headers
        assert (await client.get("/projects", headers=headers)).status_code == 200
        assert (await client.get("/", headers=headers)).headers["content-type"].startswith("text/html")
    documented = create_app(settings).openapi()["paths"]
    assert documented and not [path for path in documented if path.endswith("/")]  # found as written


async def test_cors_is_off_by_default_and_configurable(
    settings: Settings, make_client: ClientFactory
) -> None:
    origin = {"Origin": "https://qa.example.org"}
    async with make_client(settings) as client:
        assert (
            "access-control-allow-origin" not in (await client.get("/user-stories", headers=origin)).headers
        )
    settings.cors_origins = "https://qa.example.org"
    async with make_client(settings) as client:
        r = await client.get("/user-stories", headers=origin)
        assert r.headers["access-control-allow-origin"] == "https://qa.example.org"
        other = await client.get("/user-stories", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_oversized_bodies_are_refused(client: AsyncClient) -> None:
    big = {"id": "US-1", "title": "t", "description": "x" * 2_000_000}
    r = await client.post("/user-stories", json=big)
    assert r.status_code == 413 and "MAX_BODY_BYTES" in r.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"id": "US-1", "title": "t", "description": "'
        for _ in range(40):
            yield b"y" * 50_000
        yield b'"}'

    r = await client.post("/user-stories", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert (await client.get("/user-stories")).json() == []


async def test_unicode_round_trips_unchanged(client: AsyncClient) -> None:
    r = await client.post("/user-stories", json={"id": "US-üñí-1", "title": "t"})
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["body", "id"]]  # story ids are ASCII keys
    story = {
        "id": "US-1",
        "title": "Paiement 💳 — الدفع بالبطاقة",
        "description": "שלום עולם\u200f ✔️ e\u0301 (combining) 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u202eRTL override",
        "acceptance_criteria": [
            "Le total s'affiche en €",
            "يظهر المجموع",
            "👩‍👩‍👧‍👦 family emoji stays one grapheme",
        ],
    }
    assert (await client.post("/user-stories", json=story)).status_code == 201
    got = (await client.get(f"/user-stories/{story['id']}")).json()
    assert [got[k] for k in ("title", "description", "acceptance_criteria")] == [
        story[k] for k in ("title", "description", "acceptance_criteria")
    ]


@pytest.mark.parametrize("cursor", ["99999999999999999999999-1", "1-2-3", " 5-1"])
async def test_hostile_stream_cursor_replays_from_the_start(http: AsyncClient, cursor: str) -> None:
    await make_story(http, "US-001")
    task = (await http.post("/generate-test-cases/US-001/queue")).json()["task_id"]
    streams = [
        (f"/generate-test-cases/status/{task}/events", {}),
        ("/generate-test-cases/events", {"task_id": task}),
    ]
    for url, params in streams:
        async with http.stream("GET", url, params={**params, "last_event_id": cursor}) as r:
            assert r.status_code == 200, (url, await r.aread())
            received = ""
            async for chunk in r.aiter_text():
                received += chunk
                if "event: queued" in received:
                    break
        assert "event: queued" in received, received


@pytest.mark.parametrize("keys", [", ,", "alpha-key-1234567, k9z"])
def test_the_api_refuses_to_start_with_keys_that_cannot_guard_it(
    keys: str, settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings.api_keys = SecretStr(keys)
    with pytest.raises(ConfigurationError, match="API_KEYS"):
        create_app(settings)
    monkeypatch.setenv("API_KEYS", keys)
    monkeypatch.setenv("STREAM_TOKEN_SECRET", STREAM_TOKEN_SECRET)
    monkeypatch.chdir(settings.data_dir.parent)  # no .env
    for name in ("run_api", "run_dev"):  # what would start the API
        monkeypatch.setattr(serve, name, lambda *args, **kwargs: 0)
    monkeypatch.setattr(cli_main, "configure_logging", lambda *args: None)
    for command in ("api", "dev"):
        assert cli_main.main([command]) == 2
        assert "testgen: error: API_KEYS" in capsys.readouterr().err


def test_the_api_refuses_to_start_with_keys_but_no_stream_token_secret(settings: Settings) -> None:
    settings.api_keys = SecretStr("alpha-key-1234567")
    settings.stream_token_secret = None
    with pytest.raises(ConfigurationError, match="STREAM_TOKEN_SECRET is not set"):
        create_app(settings)


def test_a_stream_token_is_keyed_by_the_server_secret() -> None:
    """Without STREAM_TOKEN_SECRET nothing in a token can be computed from a guessed key; with it,
    every API process of a deployment issues and accepts the same tokens."""
    key = "alpha-key-1234567"
    here, there = StreamTokens([key], SECRET), StreamTokens([key], SECRET)
    elsewhere = StreamTokens([key], b"another-secret-of-at-least-32-chars")
    token = here.issue(key)[0]
    assert there.owner(token) == here.key_id(key) == there.key_id(key)
    assert elsewhere.owner(token) is None
    assert elsewhere.key_id(key) != here.key_id(key)
    assert elsewhere.issue(key, now=1)[0].split(".")[2] != here.issue(key, now=1)[0].split(".")[2]
