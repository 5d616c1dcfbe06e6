"""A project's connections to test-management tools and Jira: created, listed, changed, deleted and
tried by project admins, their secrets encrypted at rest with SECRETS_KEY and found nowhere else (not
in an answer, the database, a log line or an audit row); the key rotated with `testgen secrets rotate`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import stat
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.app import create_app
from testgen.api.schemas.connections import CREATE_MODELS, SETTINGS_MODELS
from testgen.cli.main import main
from testgen.core.config import Settings
from testgen.core.secret_box import SecretBox
from testgen.data.models import AuditEvent
from testgen.domain.connections import SECRET_FIELDS, ConnectionKind
from testgen.domain.roles import Role
from testgen.testmgmt import factory
from tests.support.accounts import add_user, bearer_token
from tests.support.fake_jira import FakeJira
from tests.support.fake_testrail import FakeTestRail

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
# One secret per kind, each unlike anything else the app holds.
SECRETS = {
    "testrail": "tr-secret-Kq81vXz0PwLmN4aa",
    "xray-cloud": "xc-secret-Jd72hYt9QsBnM3bb",
    "xray-dc": "xd-secret-Hs63gRr8PaVbN2cc",
    "zephyr-scale": "zs-secret-Gf54fEe7OzCvM1dd",
    "azure-devops": "ad-secret-Fe45dWw6NyXcL0ee",
    "jira": "ji-secret-Ed36sQq5MxZkK9ff",
    "github": "gh-secret-Dc27rPp4LwYjJ8gg",
}
BODIES: dict[str, dict[str, Any]] = {
    "testrail": {
        "kind": "testrail",
        "url": "https://shop.testrail.io",
        "username": "qa@example.com",
        "testrail_project_id": 7,
        "api_key": SECRETS["testrail"],
    },
    "xray-cloud": {
        "kind": "xray-cloud",
        "client_id": "C0FFEE",
        "jira_project_key": "SHOP",
        "client_secret": SECRETS["xray-cloud"],
    },
    "xray-dc": {
        "kind": "xray-dc",
        "url": "https://jira.example.com",
        "jira_project_key": "SHOP",
        "token": SECRETS["xray-dc"],
    },
    "zephyr-scale": {
        "kind": "zephyr-scale",
        "jira_project_key": "SHOP",
        "folder": "Checkout",
        "token": SECRETS["zephyr-scale"],
    },
    "azure-devops": {
        "kind": "azure-devops",
        "organization_url": "https://dev.azure.com/acme",
        "project": "Shop",
        "token": SECRETS["azure-devops"],
    },
    "jira": {
        "kind": "jira",
        "url": "https://acme.atlassian.net",
        "email": "qa@example.com",
        "api_token": SECRETS["jira"],
    },
    "github": {"kind": "github", "repository": "acme/shop", "token": SECRETS["github"]},
}
# A settings change of each kind (not where the credentials go).
CHANGES: dict[str, dict[str, Any]] = {
    "testrail": {"suite_id": 3},
    "xray-cloud": {"jira_project_key": "SHOP2"},
    "xray-dc": {"jira_project_key": "SHOP2"},
    "zephyr-scale": {"folder": None},
    "azure-devops": {"project": "Shop 2"},
    "jira": {"deployment": "datacenter", "email": None},
    "github": {"repository": "acme/shop-web"},
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.secrets_key = SecretStr(OLD_KEY)
    return settings


@pytest.fixture
async def project(client: AsyncClient) -> int:
    response = await client.post("/projects", json={"name": "Shop"})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def testrail() -> Iterator[FakeTestRail]:
    with FakeTestRail() as fake:
        yield fake


def tool_body(fake: FakeTestRail, name: str = "TestRail", api_key: str | None = None) -> dict[str, Any]:
    return {**fake.settings(), "name": name, "api_key": api_key or fake.api_key}


def no_secret_in(text: str, *secrets: str) -> bool:
    return not any(secret in text for secret in secrets or SECRETS.values())


async def create(client: AsyncClient, project: int, body: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await client.post(f"/projects/{project}/connections", json=body, headers=headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@asynccontextmanager
async def app_with(settings: Settings, **changes: Any) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """Another API process on the same database and Redis, with other settings."""
    application = create_app(Settings(_env_file=None, **(settings.model_dump() | changes)))
    async with application.router.lifespan_context(application):
        transport = ASGITransport(app=application)
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield application, client


def test_each_kind_takes_its_settings_and_its_secrets() -> None:
    assert set(CREATE_MODELS) == set(SETTINGS_MODELS) == set(SECRET_FIELDS) == set(ConnectionKind)
    for kind, model in CREATE_MODELS.items():
        settings = set(SETTINGS_MODELS[kind].model_fields)
        assert set(model.model_fields) == settings | {"name", *SECRET_FIELDS[kind]}, kind


@pytest.mark.parametrize("kind", list(BODIES))
async def test_a_connection_of_each_kind_is_created_listed_changed_and_deleted(
    client: AsyncClient, project: int, kind: str
) -> None:
    secret_name = SECRET_FIELDS[ConnectionKind(kind)][0]
    created = await create(client, project, {**BODIES[kind], "name": f"My {kind}"})
    assert created["kind"] == kind and created["name"] == f"My {kind}" and created["project_id"] == project
    assert created["secrets_set"] == [secret_name]
    assert secret_name not in created["settings"]
    for field, value in BODIES[kind].items():
        if field != secret_name:
            assert created["settings"][field] == value
    listed = await client.get(f"/projects/{project}/connections")
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()] == [created["id"]]
    assert no_secret_in(listed.text) and no_secret_in(json.dumps(created))

    path = f"/projects/{project}/connections/{created['id']}"
    changed = await client.patch(path, json={"name": f"Our {kind}", **CHANGES[kind]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == f"Our {kind}"
    for field, value in CHANGES[kind].items():
        assert changed.json()["settings"][field] == value
    assert no_secret_in(changed.text)

    assert (await client.delete(path)).status_code == 204
    assert (await client.get(f"/projects/{project}/connections")).json() == []
    assert (await client.delete(path)).status_code == 404


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        ({**BODIES["testrail"], "token": SECRETS["xray-dc"]}, "token"),  # another kind's secret
        ({**BODIES["testrail"], "jira_project_key": "SHOP"}, "jira_project_key"),  # another kind's setting
        ({k: v for k, v in BODIES["testrail"].items() if k != "api_key"}, "api_key"),  # no secret
        ({**BODIES["testrail"], "api_key": "   "}, "api_key"),
        ({**BODIES["testrail"], "api_key": SECRETS["testrail"] * 100}, "api_key"),  # too long
        ({**BODIES["testrail"], "url": "ftp://shop.testrail.io"}, "url"),
        ({**BODIES["xray-dc"], "api_key": SECRETS["testrail"]}, "api_key"),
        ({**BODIES["azure-devops"], "kind": "azure"}, "kind"),
        ({k: v for k, v in BODIES["jira"].items() if k != "kind"}, "kind"),
        ({**BODIES["testrail"], "requests_per_minute": False}, "requests_per_minute"),  # a number only
        ({**BODIES["testrail"], "requests_per_minute": "60"}, "requests_per_minute"),
    ],
)
async def test_bodies_are_checked_strictly_and_never_echoed(
    client: AsyncClient, project: int, body: dict[str, Any], refused: str
) -> None:
    response = await client.post(f"/projects/{project}/connections", json={**body, "name": "Bad"})
    assert response.status_code == 422, response.text
    assert refused in response.text
    assert no_secret_in(response.text), response.text
    assert (await client.get(f"/projects/{project}/connections")).json() == []


async def test_a_name_is_unique_in_its_project(client: AsyncClient, project: int) -> None:
    first = await create(client, project, {**BODIES["testrail"], "name": "Main"})
    await create(client, project, {**BODIES["jira"], "name": "Jira"})
    again = await client.post(f"/projects/{project}/connections", json={**BODIES["jira"], "name": "Main"})
    assert again.status_code == 409 and "Main" in again.json()["detail"]
    renamed = await client.patch(f"/projects/{project}/connections/{first['id']}", json={"name": "Jira"})
    assert renamed.status_code == 409
    other = (await client.post("/projects", json={"name": "Other"})).json()["id"]
    await create(client, other, {**BODIES["testrail"], "name": "Main"})


async def test_a_patch_is_checked_against_the_kind(client: AsyncClient, project: int) -> None:
    created = await create(client, project, {**BODIES["testrail"], "name": "Main"})
    path = f"/projects/{project}/connections/{created['id']}"
    for body, refused in (
        ({"kind": "jira"}, "kind"),
        ({"token": SECRETS["xray-dc"]}, "token"),
        ({"jira_project_key": "SHOP"}, "jira_project_key"),
        ({"url": None}, "url"),
        ({"testrail_project_id": 0}, "testrail_project_id"),
        ({"api_key": None}, "api_key"),
        ({"api_key": " "}, "api_key"),
        ({"name": None}, "name"),
    ):
        response = await client.patch(path, json=body)
        assert response.status_code == 422, (body, response.text)
        assert refused in response.text and no_secret_in(response.text), response.text
    # Where the credentials go changes only with the credentials given again.
    moved = await client.patch(path, json={"url": "https://evil.example.com"})
    assert moved.status_code == 400 and "api_key" in moved.json()["detail"]
    assert (await client.get(f"/projects/{project}/connections")).json()[0]["settings"]["url"] == (
        BODIES["testrail"]["url"]
    )
    moved = await client.patch(path, json={"url": "https://new.testrail.io", "api_key": "another-key-123"})
    assert moved.status_code == 200 and moved.json()["settings"]["url"] == "https://new.testrail.io"
    assert (await client.patch(path, json={"kind": "testrail"})).status_code == 200


async def test_secrets_are_encrypted_at_rest(
    client: AsyncClient, project: int, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    for kind, body in BODIES.items():
        await create(client, project, {**body, "name": kind})
    async with sessionmaker() as session:
        rows = (await session.execute(text("SELECT kind, settings, sealed_secrets FROM connections"))).all()
    assert len(rows) == len(BODIES)
    box = SecretBox([OLD_KEY])
    for kind, settings, sealed in rows:
        assert no_secret_in(str(settings) + sealed)
        assert box.open(sealed) == {SECRET_FIELDS[ConnectionKind(kind)][0]: SECRETS[kind]}


async def test_trying_a_connection_answers_what_the_tool_found(
    client: AsyncClient, project: int, testrail: FakeTestRail
) -> None:
    created = await create(client, project, tool_body(testrail))
    tried = await client.post(f"/projects/{project}/connections/{created['id']}/test")
    assert tried.status_code == 200, tried.text
    assert tried.json() == {"ok": True, "detail": "TestRail project 'Shop'", "error": None}
    assert testrail.count("get_project") == 1


async def test_refused_credentials_answer_why_without_the_secret(
    client: AsyncClient, project: int, testrail: FakeTestRail
) -> None:
    testrail.echo_credentials = True  # the tool quotes the Authorization header it was sent
    created = await create(client, project, tool_body(testrail, api_key="a-wrong-key-Zx93LpQr"))
    tried = await client.post(f"/projects/{project}/connections/{created['id']}/test")
    assert tried.status_code == 200
    answer = tried.json()
    assert answer["ok"] is False and answer["error"] == "auth"
    assert "TestRail" in answer["detail"] and "credentials" in answer["detail"]
    assert no_secret_in(answer["detail"], "a-wrong-key-Zx93LpQr", "Zx93LpQr"), answer["detail"]

    wrong_project = await create(client, project, {**tool_body(testrail, "Other"), "testrail_project_id": 8})
    tried = await client.post(f"/projects/{project}/connections/{wrong_project['id']}/test")
    assert tried.json()["ok"] is False and tried.json()["error"] == "refused"
    assert "project_id" in tried.json()["detail"]


@pytest.mark.parametrize("deployment", ["cloud", "datacenter"])
async def test_trying_a_jira_connection_names_whom_the_credentials_belong_to(
    client: AsyncClient, project: int, deployment: str
) -> None:
    with FakeJira(deployment=deployment) as jira:
        token = jira.token if deployment == "cloud" else jira.pat
        body = {"kind": "jira", "url": jira.url, "deployment": deployment, "email": jira.email}
        created = await create(client, project, {**body, "name": "Jira", "api_token": token})
        tried = await client.post(f"/projects/{project}/connections/{created['id']}/test")
        assert tried.json() == {"ok": True, "detail": f"Jira at {jira.url} as QA Person", "error": None}

        wrong = "ji-wrong-Token-Qz71KpWm"
        refused = await create(client, project, {**body, "name": "Wrong", "api_token": wrong})
        tried = await client.post(f"/projects/{project}/connections/{refused['id']}/test")
        answer = tried.json()  # the fake quotes the Authorization header it was sent
        assert (
            answer["ok"] is False
            and answer["error"] == "auth"
            and "Jira connection 'Wrong'" in answer["detail"]
        )
        assert no_secret_in(answer["detail"], wrong, "Qz71KpWm"), answer["detail"]
    api = "3" if deployment == "cloud" else "2"
    assert [r.path for r in jira.requests] == [f"/rest/api/{api}/myself"] * 2


async def test_an_unreachable_tool_is_said_so(app: FastAPI, client: AsyncClient, project: int) -> None:
    async def no_wait(_: float) -> None:
        return None

    app.state.tool_http_options = factory.HttpOptions(timeout_s=5, sleep=no_wait)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = {**BODIES["testrail"], "url": f"http://127.0.0.1:{port}", "name": "Gone"}
    created = await create(client, project, body)
    tried = await client.post(f"/projects/{project}/connections/{created['id']}/test")
    assert tried.status_code == 200
    assert tried.json()["ok"] is False and tried.json()["error"] == "unavailable"
    assert "did not answer" in tried.json()["detail"]


async def test_a_kind_without_a_connector_is_not_available(
    client: AsyncClient, project: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(factory.MODULES, ConnectionKind.azure_devops, "testgen.testmgmt.not_built")
    created = await create(client, project, {**BODIES["azure-devops"], "name": "Boards"})
    tried = await client.post(f"/projects/{project}/connections/{created['id']}/test")
    assert tried.status_code == 200
    assert tried.json()["ok"] is False and tried.json()["error"] == "not_available"
    assert "not available" in tried.json()["detail"]


async def test_a_patch_replaces_a_secret(client: AsyncClient, project: int, testrail: FakeTestRail) -> None:
    created = await create(client, project, tool_body(testrail, api_key="the-old-key-Wq82MnBv"))
    path = f"/projects/{project}/connections/{created['id']}"
    assert (await client.post(f"{path}/test")).json()["error"] == "auth"
    changed = await client.patch(path, json={"api_key": testrail.api_key})
    assert changed.status_code == 200 and changed.json()["secrets_set"] == ["api_key"]
    assert no_secret_in(changed.text, testrail.api_key, "the-old-key-Wq82MnBv")
    assert (await client.post(f"{path}/test")).json()["ok"] is True


async def test_no_secret_in_a_log_line_or_an_audit_row(
    client: AsyncClient,
    project: int,
    testrail: FakeTestRail,
    sessionmaker: async_sessionmaker[AsyncSession],
    caplog: pytest.LogCaptureFixture,
) -> None:
    testrail.echo_credentials = True
    caplog.set_level(logging.DEBUG)
    created = await create(client, project, tool_body(testrail, api_key=SECRETS["testrail"]))
    path = f"/projects/{project}/connections/{created['id']}"
    assert (await client.post(f"{path}/test")).json()["error"] == "auth"
    assert (await client.patch(path, json={"api_key": testrail.api_key})).status_code == 200
    assert (await client.post(f"{path}/test")).json()["ok"] is True
    bad = await client.post(f"/projects/{project}/connections", json={**BODIES["xray-dc"], "api_key": "x"})
    assert bad.status_code == 422
    await create(client, project, {**BODIES["jira"], "name": "Jira"})
    assert (await client.delete(path)).status_code == 204
    logged = caplog.text + "".join(repr(record.args) for record in caplog.records)
    assert no_secret_in(logged, *SECRETS.values(), testrail.api_key)
    async with sessionmaker() as session:
        rows = list(await session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    actions = [row.action for row in rows]
    assert actions.count("connection_create") == 2 and "connection_test" in actions
    assert "connection_update" in actions and "connection_delete" in actions
    update = next(row for row in rows if row.action == "connection_update")
    assert update.fields == ["api_key"] and update.object_id == str(created["id"])
    create_row = next(row for row in rows if row.action == "connection_create")
    assert create_row.object_type == "connection" and create_row.object_id == str(created["id"])
    every_value = json.dumps([[str(v) for v in vars(row).values()] for row in rows])
    assert no_secret_in(every_value, *SECRETS.values(), testrail.api_key)


@pytest.fixture
def _cli_environment(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("API_KEYS", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.delenv("TESTGEN_LANGUAGE", raising=False)
    root = logging.getLogger()
    handlers, level, alembic = root.handlers[:], root.level, logging.getLogger("alembic").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(alembic)


@pytest.mark.usefixtures("_cli_environment")
async def test_a_new_key_first_keeps_connections_readable_and_rotate_moves_them_to_it(
    client: AsyncClient,
    project: int,
    testrail: FakeTestRail,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    created = await create(client, project, tool_body(testrail))
    path = f"/projects/{project}/connections/{created['id']}/test"

    async with app_with(settings, secrets_key=SecretStr(NEW_KEY)) as (_, only_new):
        refused = await only_new.post(path)
        assert refused.status_code == 503
        assert (
            "SECRETS_KEY" in refused.json()["detail"] and "testgen secrets rotate" in refused.json()["detail"]
        )
    async with app_with(settings, secrets_key=SecretStr(f"{NEW_KEY},{OLD_KEY}")) as (_, both):
        assert (await both.post(path)).json()["ok"] is True

    monkeypatch.setenv("SECRETS_KEY", f"{NEW_KEY},{OLD_KEY}")
    assert await asyncio.to_thread(main, ["secrets", "rotate"]) == 0
    out = capsys.readouterr().out
    assert "1 connections" in out and "can now be removed" in out
    async with sessionmaker() as session:
        sealed = (await session.execute(text("SELECT sealed_secrets FROM connections"))).scalar_one()
    assert SecretBox([NEW_KEY]).open(sealed) == {"api_key": testrail.api_key}

    async with app_with(settings, secrets_key=SecretStr(NEW_KEY)) as (_, only_new):
        assert (await only_new.post(path)).json() == {
            "ok": True,
            "detail": "TestRail project 'Shop'",
            "error": None,
        }
    monkeypatch.setenv("SECRETS_KEY", Fernet.generate_key().decode())
    assert await asyncio.to_thread(main, ["secrets", "rotate"]) == 1
    err = capsys.readouterr().err
    assert f"ids {created['id']}" in err and no_secret_in(err, testrail.api_key, NEW_KEY, OLD_KEY)


async def test_a_keyless_server_makes_its_key_file_on_first_need(
    settings: Settings, redis: object, tmp_path: Path
) -> None:
    key_file = settings.data_dir / "secrets.key"
    async with app_with(settings, secrets_key=None) as (_, client):
        project = (await client.post("/projects", json={"name": "Shop"})).json()["id"]
        assert (await client.get(f"/projects/{project}/connections")).status_code == 200
        assert not key_file.exists()
        created = await create(client, project, {**BODIES["jira"], "name": "Jira"})
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    async with app_with(settings, secrets_key=None) as (application, client):
        assert application.state.secret_box is not None  # the file's key, read at start-up
        changed = await client.patch(
            f"/projects/{project}/connections/{created['id']}", json={"deployment": "datacenter"}
        )
        assert changed.status_code == 200
    key = key_file.read_text().strip()
    async with app_with(settings, secrets_key=None, api_keys=SecretStr("k" * 32)) as (_, keyed):
        headers = {"Authorization": f"Bearer {'k' * 32}"}
        refused = await keyed.post(
            f"/projects/{project}/connections", json=BODIES["jira"] | {"name": "J2"}, headers=headers
        )
        assert refused.status_code == 503
        assert (
            "SECRETS_KEY is not set" in refused.json()["detail"] and str(key_file) in refused.json()["detail"]
        )
        assert key not in refused.text


async def test_only_project_admins_manage_connections(
    app: FastAPI,
    client: AsyncClient,
    project: int,
    testrail: FakeTestRail,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    other = (await client.post("/projects", json={"name": "Other"})).json()["id"]
    mine = await create(client, project, tool_body(testrail))
    theirs = await create(client, other, {**BODIES["jira"], "name": "Jira"})
    await add_user(sessionmaker, "admin@example.com", roles={project: Role.admin})
    await add_user(sessionmaker, "reviewer@example.com", roles={project: Role.reviewer})
    await add_user(sessionmaker, "viewer@example.com", roles={project: Role.viewer})
    await add_user(sessionmaker, "outsider@example.com", roles={other: Role.admin})
    app.state.users_gate.mark()
    tokens = {
        who: {"Authorization": f"Bearer {await bearer_token(client, f'{who}@example.com')}"}
        for who in ("admin", "reviewer", "viewer", "outsider")
    }
    base = f"/projects/{project}/connections"
    one = f"{base}/{mine['id']}"
    writes = [
        ("POST", base, {**BODIES["jira"], "name": "Another"}),
        ("PATCH", one, {"name": "Renamed"}),
        ("POST", f"{one}/test", None),
        ("DELETE", one, None),
    ]
    for who in ("reviewer", "viewer"):
        assert (await client.get(base, headers=tokens[who])).status_code == 200
        for method, path, body in writes:
            response = await client.request(method, path, json=body, headers=tokens[who])
            assert response.status_code == 403, (who, method, path, response.text)
    assert (await client.get(base, headers=tokens["outsider"])).status_code == 404
    for method, path, body in writes:
        response = await client.request(method, path, json=body, headers=tokens["outsider"])
        assert response.status_code == 404, (method, path, response.text)
    # Another project's connection through this project's path: not found, even for its admin.
    elsewhere = f"{base}/{theirs['id']}"
    assert (await client.patch(elsewhere, json={"name": "X"}, headers=tokens["admin"])).status_code == 404
    assert (await client.delete(elsewhere, headers=tokens["admin"])).status_code == 404
    for method, path, body in writes:
        response = await client.request(method, path, json=body, headers=tokens["admin"])
        assert response.status_code in (200, 201, 204), (method, path, response.text)
    assert testrail.count("get_project") == 1  # the admin's test reached the tool
    listed = await client.get(f"/projects/{other}/connections", headers=tokens["outsider"])
    assert [c["id"] for c in listed.json()] == [theirs["id"]]
