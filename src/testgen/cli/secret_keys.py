"""`testgen secrets rotate`: every connection's secrets encrypted again with the first key of
SECRETS_KEY, straight in the database the settings name; after it the older keys can be removed."""

from __future__ import annotations

import argparse
import sys

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.cli.api_http import CliError
from testgen.cli.client import Say, speaker
from testgen.cli.terminal_text import echo
from testgen.cli.users import _database, _migrate
from testgen.core.config import ClientSettings, Settings
from testgen.core.errors import ConfigurationError
from testgen.core.secret_box import SecretBox, load_secret_box
from testgen.data.models import Connection

BATCH = 200  # connections re-encrypted per transaction
MAX_IDS_SHOWN = 20


def run_secrets(settings: Settings, args: argparse.Namespace) -> int:
    say = speaker(ClientSettings().ui_language)
    try:
        return cmd_rotate(settings, say)
    except CliError as exc:
        echo(f"testgen: error: {exc.message}", file=sys.stderr)
        return exc.code


async def rotate_all(session: AsyncSession, box: SecretBox) -> tuple[int, list[int]]:
    """Re-encrypt every connection's secrets with the box's first key: how many were, and the ids of
    those no key of the box opens."""
    rotated, after = 0, 0
    unreadable: list[int] = []
    while True:
        rows = list(
            await session.scalars(
                select(Connection).where(Connection.id > after).order_by(Connection.id).limit(BATCH)
            )
        )
        if not rows:
            return rotated, unreadable
        for row in rows:
            try:
                row.sealed_secrets = box.rotate(row.sealed_secrets)
                rotated += 1
            except ConfigurationError:
                unreadable.append(row.id)
        await session.commit()
        after = rows[-1].id


def cmd_rotate(settings: Settings, say: Say) -> int:
    try:
        box = load_secret_box(settings, create=False)
    except ConfigurationError as exc:
        raise CliError(exc.message) from None
    _migrate(settings, say)
    rotated, unreadable = _database(settings, say, lambda session: rotate_all(session, box))
    echo(say("cli.secrets_rotated", count=rotated))
    if unreadable:
        shown = ", ".join(str(ident) for ident in unreadable[:MAX_IDS_SHOWN])
        more = "…" if len(unreadable) > MAX_IDS_SHOWN else ""
        raise CliError(say("cli.secrets_unreadable", count=len(unreadable), ids=shown + more))
    if len(settings.secrets_key_list) > 1:
        echo(say("cli.secrets_old_keys"))
    return 0
