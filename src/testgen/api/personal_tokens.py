"""Personal API tokens: random, shown once, kept as a SHA-256 (they are long and random: no slow hash
needed), recognised by their prefix."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "tgp_"
SHOWN_PREFIX_CHARS = 12  # `tgp_` and 8 random characters: enough to tell tokens apart in a list
MAX_TOKEN_CHARS = 100


@dataclass(frozen=True)
class NewToken:
    plain: str
    prefix: str
    digest: str


def token_digest(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def new_token() -> NewToken:
    plain = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return NewToken(plain, plain[:SHOWN_PREFIX_CHARS], token_digest(plain))


def looks_like_token(credential: str) -> bool:
    return credential.startswith(TOKEN_PREFIX) and len(credential) <= MAX_TOKEN_CHARS
