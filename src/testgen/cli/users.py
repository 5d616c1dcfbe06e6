"""`testgen users create` and `testgen users list`: accounts written straight to the database the
settings name (migrated first), so that the first admin exists before anyone can sign in."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from pydantic import TypeAdapter, ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.passwords import MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, hash_password
from testgen.api.schemas.accounts import Email, PersonName
from testgen.cli.api_http import CliError
from testgen.cli.client import Say, format_table, speaker
from testgen.cli.terminal_text import echo
from testgen.core.config import ClientSettings, Settings
from testgen.core.database import create_engine, create_sessionmaker
from testgen.core.errors import ConflictError
from testgen.data import accounts

T = TypeVar("T")
LIST_PAGE = 500
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_NAME: TypeAdapter[str] = TypeAdapter(PersonName)


def run_users(settings: Settings, args: argparse.Namespace) -> int:
    say = speaker(ClientSettings().ui_language)
    try:
        if args.users_command == "create":
            return cmd_create(settings, args, say)
        return cmd_list(settings, say)
    except CliError as exc:
        echo(f"testgen: error: {exc.message}", file=sys.stderr)
        return exc.code


def _database_error(settings: Settings, say: Say, exc: Exception) -> CliError:
    """What went wrong with the database, naming it without its password."""
    reason = (str(getattr(exc, "orig", None) or exc).splitlines() or [""])[0][:300] or type(exc).__name__
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    return CliError(say("cli.database_error", url=where, error=reason))


def _migrate(settings: Settings, say: Say) -> None:
    """Bring the database of the settings to the current schema, as `testgen migrate` does."""
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("alembic").setLevel(logging.WARNING)  # its steps would bury the prompt
    from testgen.data import migrations  # alembic is slow to import: only for the commands using it

    try:
        migrations.upgrade(settings.database_url)
    except (OSError, SQLAlchemyError) as exc:
        raise _database_error(settings, say, exc) from exc


def _database(settings: Settings, say: Say, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in a session of the database of the settings."""

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (OSError, SQLAlchemyError) as exc:
        raise _database_error(settings, say, exc) from exc


def _checked_email(email: str, say: Say) -> str:
    try:
        return accounts.normal_email(_EMAIL.validate_python(email.strip()))
    except ValidationError:
        raise CliError(say("cli.email_invalid", email=email[:320]), code=2) from None


def _checked_name(name: str, say: Say) -> str:
    try:
        return _NAME.validate_python(name.strip())
    except ValidationError:
        raise CliError(say("cli.name_invalid"), code=2) from None


def read_password(email: str, *, from_stdin: bool, say: Say) -> str:
    """One line of standard input, or typed twice at the terminal (not echoed); its length checked."""
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            raise CliError(say("cli.password_stdin_empty"), code=2)
    else:
        password = getpass.getpass(say("cli.password_prompt", email=email))
    if len(password) < MIN_PASSWORD_CHARS:
        raise CliError(say("cli.password_short", min=MIN_PASSWORD_CHARS), code=2)
    if len(password) > MAX_PASSWORD_CHARS:
        raise CliError(say("cli.password_long", max=MAX_PASSWORD_CHARS), code=2)
    if not from_stdin and getpass.getpass(say("cli.password_again")) != password:
        raise CliError(say("cli.password_mismatch"), code=2)
    return password


def cmd_create(settings: Settings, args: argparse.Namespace, say: Say) -> int:
    email = _checked_email(args.email, say)
    name = _checked_name(args.name if args.name is not None else email.partition("@")[0], say)
    _migrate(settings, say)
    if _database(settings, say, lambda session: accounts.get_user_by_email(session, email)) is not None:
        raise CliError(say("cli.user_exists", email=email))  # before asking for a password
    password = read_password(email, from_stdin=args.password_stdin, say=say)

    async def create(session: AsyncSession) -> tuple[int, bool, int]:
        password_hash = await hash_password(password)  # before the transaction: it takes a while
        first = not await accounts.any_user(session)
        try:
            user = await accounts.create_user(
                session, email=email, name=name, password_hash=password_hash, is_admin=args.admin
            )
            await session.commit()
        except (ConflictError, IntegrityError):
            await session.rollback()
            raise CliError(say("cli.user_exists", email=email)) from None
        return user.id, first, len(await accounts.memberships(session, user.id))

    user_id, first, projects = _database(settings, say, create)
    echo(say("cli.admin_created" if args.admin else "cli.user_created", email=email, id=user_id))
    if projects:
        echo(say("cli.user_projects", projects=projects))
    if first:
        echo(say("cli.sign_in_required"))
    return 0


def cmd_list(settings: Settings, say: Say) -> int:
    async def every_user(session: AsyncSession) -> list[list[str]]:
        rows: list[list[str]] = []
        while page := await accounts.list_users(session, LIST_PAGE, len(rows)):
            yes, no = say("cli.yes"), say("cli.no")
            rows += [
                [str(u.id), u.email, u.name, yes if u.is_admin else no, yes if u.active else no] for u in page
            ]
            if len(page) < LIST_PAGE:
                break
        return rows

    _migrate(settings, say)
    rows = _database(settings, say, every_user)
    if not rows:
        echo(say("cli.no_users"))
        return 0
    headers = ["ID", say("cli.col_email"), say("cli.col_name"), say("cli.col_admin"), say("cli.col_active")]
    echo(format_table(headers, rows, wrap_column=2))
    return 0
