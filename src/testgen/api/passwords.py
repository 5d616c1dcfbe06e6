"""Password hashing (argon2 through pwdlib), off the event loop: a hash takes tens of milliseconds."""

from __future__ import annotations

import asyncio
from functools import cache

from pwdlib import PasswordHash

MIN_PASSWORD_CHARS = 12
MAX_PASSWORD_CHARS = 256


@cache
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()


@cache
def _decoy_hash() -> str:
    """A hash no password matches, checked for an unknown email so that it takes as long as a known one."""
    return _hasher().hash("no password matches this decoy, whatever is typed")


async def warm_up() -> None:
    """Make the decoy hash at start-up, so that the first sign-in of an unknown email costs no more
    than any other (one argon2 check)."""
    await asyncio.to_thread(_decoy_hash)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher().hash, password)


async def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether `password` matches; with no hash (unknown email, OIDC-only account) the same work is done."""
    stored = password_hash if password_hash is not None else await asyncio.to_thread(_decoy_hash)
    matches = await asyncio.to_thread(_hasher().verify, password, stored)
    return matches and password_hash is not None
