"""`testgen users create` and `testgen users list`, run in-process against the test's migrated database
(named by DATABASE_URL, as a deployment names it); the users they add sign in through the real app.

`testgen.cli.main` runs in a thread: it runs its own event loop, and the app runs on the test's."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.passwords import MIN_PASSWORD_CHARS
from testgen.cli.main import main
from testgen.data import accounts
from testgen.data.models import Project
from testgen.domain.roles import Role

PASSWORD = "a long enough passphrase"


@pytest.fixture(autouse=True)
def _environment(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("TESTGEN_API_KEY", raising=False)
    monkeypatch.delenv("TESTGEN_LANGUAGE", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")  # the CLI speaks English whatever the machine's locale


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """The command configures logging as a process would: the test process gets its own back."""
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    handlers, level, alembic_level = root.handlers[:], root.level, alembic.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    alembic.setLevel(alembic_level)


async def cli(monkeypatch: pytest.MonkeyPatch, *args: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return await asyncio.to_thread(main, list(args))


async def create(monkeypatch: pytest.MonkeyPatch, email: str, *flags: str, password: str = PASSWORD) -> int:
    return await cli(
        monkeypatch, "users", "create", "--email", email, *flags, "--password-stdin", stdin=password + "\n"
    )


async def add_projects(sessionmaker: async_sessionmaker[AsyncSession], *names: str) -> list[int]:
    async with sessionmaker() as session:
        projects = [Project(name=name) for name in names]
        session.add_all(projects)
        await session.commit()
        return [project.id for project in projects]


async def test_an_admin_made_from_stdin_signs_in_and_sign_in_is_then_required(
    app: FastAPI,
    client: AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = await create(monkeypatch, "Ada@Example.com", "--name", "Ada Lovelace", "--admin")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert re.search(r"^Created server admin ada@example\.com \(id \d+\)\.$", out, re.M)
    assert "From now on the API and the page need a sign-in" in out
    assert PASSWORD not in out + err

    assert (await client.get("/projects")).status_code == 401  # no longer open
    response = await client.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.text
    me = (await client.get("/auth/me")).json()
    assert me["kind"] == "user" and me["is_admin"] is True
    assert me["user"]["name"] == "Ada Lovelace"
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as other:
        wrong = await other.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD + "x"})
        assert wrong.status_code == 401


async def test_a_taken_email_exits_1_and_says_so(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    assert await create(monkeypatch, "ada@example.com", "--admin") == 0
    capsys.readouterr()
    assert await create(monkeypatch, "ADA@example.com ", password="another long passphrase") == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "testgen: error: A user with the email ada@example.com exists already: choose another email "
        "(testgen users list shows the users)\n"
    )
    async with sessionmaker() as session:
        users = await accounts.list_users(session, 10, 0)
    assert [(u.email, u.is_admin) for u in users] == [("ada@example.com", True)]


async def test_a_short_password_an_empty_one_or_a_bad_email_is_refused(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    assert await create(monkeypatch, "ada@example.com", password="x" * (MIN_PASSWORD_CHARS - 1)) == 2
    assert capsys.readouterr().err == (
        f"testgen: error: The password is too short: give one of at least {MIN_PASSWORD_CHARS} characters\n"
    )
    assert await create(monkeypatch, "ada@example.com", password="") == 2
    assert "No password on standard input" in capsys.readouterr().err
    assert await create(monkeypatch, "not-an-address") == 2
    assert "not-an-address is not an email address" in capsys.readouterr().err
    async with sessionmaker() as session:
        assert not await accounts.any_user(session)


async def test_typed_passwords_must_match(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    typed = iter([PASSWORD, PASSWORD + "!"])
    prompts: list[str] = []

    def getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(typed)

    monkeypatch.setattr("getpass.getpass", getpass)
    assert await cli(monkeypatch, "users", "create", "--email", "ada@example.com") == 2
    assert prompts == ["Password for ada@example.com: ", "The same password again: "]
    assert "The two passwords differ" in capsys.readouterr().err
    async with sessionmaker() as session:
        assert not await accounts.any_user(session)

    typed = iter([PASSWORD, PASSWORD])
    assert await cli(monkeypatch, "users", "create", "--email", "ada@example.com") == 0
    async with sessionmaker() as session:
        user = await accounts.get_user_by_email(session, "ada@example.com")
    assert user is not None and not user.is_admin and user.name == "ada"


async def test_the_first_admin_becomes_admin_of_every_existing_project(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    shop, billing = await add_projects(sessionmaker, "Shop", "Billing")
    assert await create(monkeypatch, "ada@example.com", "--admin") == 0
    assert "Admin of every existing project (2)." in capsys.readouterr().out
    assert await create(monkeypatch, "grace@example.com", "--admin") == 0
    out = capsys.readouterr().out
    assert "existing project" not in out and "From now on" not in out  # only the first admin, once
    async with sessionmaker() as session:
        ada = await accounts.get_user_by_email(session, "ada@example.com")
        grace = await accounts.get_user_by_email(session, "grace@example.com")
        assert ada is not None and grace is not None
        assert await accounts.memberships(session, ada.id) == {shop: Role.admin, billing: Role.admin}
        assert await accounts.memberships(session, grace.id) == {}


async def test_users_list_shows_every_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await cli(monkeypatch, "users", "list") == 0
    assert capsys.readouterr().out == (
        "No users yet. Add the first admin with: testgen users create --email EMAIL --admin\n"
    )
    assert await create(monkeypatch, "ada@example.com", "--admin", "--name", "Ada") == 0
    assert await create(monkeypatch, "bob@example.com") == 0
    capsys.readouterr()
    assert await cli(monkeypatch, "users", "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == ["ID", "Email", "Name", "Admin", "Active"]
    rows = [re.split(r"\s{2,}", line.strip()) for line in lines[2:]]
    assert [row[1:] for row in rows] == [
        ["ada@example.com", "Ada", "yes", "yes"],
        ["bob@example.com", "bob", "no", "yes"],
    ]


async def test_users_list_speaks_spanish(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TESTGEN_LANGUAGE", "es")
    assert await create(monkeypatch, "ada@example.com", "--admin") == 0
    assert "Administrador del servidor ada@example.com creado" in capsys.readouterr().out
    assert await cli(monkeypatch, "users", "list") == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert re.split(r"\s{2,}", header.strip()) == ["ID", "Correo", "Nombre", "Admin", "Activo"]


async def test_an_unreachable_database_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://testgen:s3cret-pw@127.0.0.1:1/testgen")
    assert await cli(monkeypatch, "users", "list") == 1
    err = capsys.readouterr().err
    assert err.startswith(
        "testgen: error: Cannot use the database postgresql+asyncpg://testgen:***@127.0.0.1:1/"
    )
    assert "check DATABASE_URL" in err and "s3cret-pw" not in err


@pytest.mark.slow
async def test_a_personal_token_works_as_the_client_commands_api_key(
    server: str,
    http: AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sessionmaker: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    (project,) = await add_projects(sessionmaker, "Shop")
    assert await create(monkeypatch, "ada@example.com", "--admin") == 0
    csrf = (await http.post("/auth/login", json={"email": "ada@example.com", "password": PASSWORD})).json()[
        "csrf_token"
    ]
    made = await http.post("/auth/tokens", json={"name": "cli"}, headers={"X-CSRF-Token": csrf})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    assert token.startswith("tgp_")
    stories = tmp_path / "stories.json"
    stories.write_text(json.dumps([{"id": "US-1", "title": "Sign in", "acceptance_criteria": ["It works"]}]))
    capsys.readouterr()

    command = ("stories", "import", str(stories), "--project", str(project), "--api", server)
    assert await cli(monkeypatch, *command) == 1  # no credential: refused
    assert "Sign in, or send 'Authorization: Bearer <token>'" in capsys.readouterr().err
    assert await cli(monkeypatch, *command, "--api-key", token) == 0
    assert "1 created, 0 skipped (already exist), 0 failed" in capsys.readouterr().out
    monkeypatch.setenv("TESTGEN_API_KEY", token)
    assert await cli(monkeypatch, *command) == 0
    assert "1 skipped (already exist)" in capsys.readouterr().out
