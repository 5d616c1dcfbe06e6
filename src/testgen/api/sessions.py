"""Signed-in sessions, kept in Redis by the hash of their id (a leaked Redis dump opens none).

A session is a random id in an HTTP-only, SameSite=Lax cookie; the session holds its user and a
CSRF token that every cookie-authenticated state-changing request sends back in X-CSRF-Token.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass

from redis.asyncio import Redis
from starlette.requests import Request
from starlette.responses import Response

from testgen.core.redis_keys import session_key, user_sessions_key

SESSION_COOKIE = "testgen_session"
CSRF_HEADER = "X-CSRF-Token"
MAX_SESSION_ID_CHARS = 100


@dataclass(frozen=True)
class StartedSession:
    sid: str
    csrf_token: str


@dataclass(frozen=True)
class SessionData:
    user_id: int
    csrf_token: str


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    def __init__(self, redis: Redis, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def start(self, user_id: int) -> StartedSession:
        """A new session with a fresh id (never one the client brought: no session fixation)."""
        started = StartedSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
        digest = _hash(started.sid)
        value = json.dumps({"user_id": user_id, "csrf": started.csrf_token})
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(session_key(digest), value, ex=self.ttl_s)
            pipe.sadd(user_sessions_key(user_id), digest)
            pipe.expire(user_sessions_key(user_id), self.ttl_s)
            await pipe.execute()
        return started

    async def get(self, sid: str) -> SessionData | None:
        if not sid or len(sid) > MAX_SESSION_ID_CHARS:
            return None
        raw = await self.redis.get(session_key(_hash(sid)))
        if raw is None:
            return None
        data = json.loads(raw)
        return SessionData(int(data["user_id"]), str(data["csrf"]))

    async def end(self, sid: str) -> None:
        digest = _hash(sid)
        raw = await self.redis.getdel(session_key(digest))
        if raw is not None:
            await self.redis.srem(user_sessions_key(int(json.loads(raw)["user_id"])), digest)  # type: ignore[misc]

    async def end_all(self, user_id: int) -> None:
        """End every session of a user (deactivated, or password changed)."""
        digests = await self.redis.smembers(user_sessions_key(user_id))  # type: ignore[misc]
        keys = [session_key(d.decode() if isinstance(d, bytes) else d) for d in digests]
        await self.redis.delete(*keys, user_sessions_key(user_id))


def request_is_https(request: Request) -> bool:
    """HTTPS as the client sees it (X-Forwarded-Proto counts from FORWARDED_ALLOW_IPS only)."""
    return request.url.scheme == "https"


def set_session_cookie(response: Response, sid: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        SESSION_COOKIE, sid, max_age=max_age, httponly=True, samesite="lax", secure=secure, path="/"
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax", secure=secure, path="/")
