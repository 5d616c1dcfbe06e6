"""Who is asking, for every request but the open ones, as plain ASGI middleware (SSE passes through).

A request authenticates with one of:
- `Authorization: Bearer <key>`: one of API_KEYS, a service account with the admin role;
- `Authorization: Bearer tgp_…`: a user's personal API token;
- the session cookie of a signed-in user (state-changing requests also send `X-CSRF-Token`);
- `?access_token=` from POST /auth/stream-token, on event streams only (EventSource sends no header).

With no API_KEYS and no user yet, the API is open to this machine as a single local admin (the
two-command start); once the first user exists, every request needs one of the above.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable
from http.cookies import CookieError, SimpleCookie
from typing import Literal

from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import ASGIApp, Receive, Scope, Send

from testgen.api.personal_tokens import looks_like_token, token_digest
from testgen.api.principal import Principal, service_principal, set_request_principal
from testgen.api.request_guard import STATE_CHANGING
from testgen.api.security import (
    FailureLimit,
    StreamTokens,
    approve_only_stream_routes,
    matching_key,
    needs_key,
    send_error,
    set_principal,
    stream_token,
)
from testgen.api.sessions import CSRF_HEADER, SESSION_COOKIE, SessionStore
from testgen.core.errors import RateLimitedError
from testgen.core.messages import DATABASE_DOWN, REDIS_DOWN
from testgen.data import accounts
from testgen.data.models import User, utcnow

Verdict = Literal["ok", "stream-token", "no", "csrf"]
USERS_RECHECK_S = 1.0  # while no user exists, how often a process looks again (another may add one)
TOKEN_TOUCH_S = 60.0  # a token's last use is written at most this often
UNAUTHORIZED = "Sign in, or send 'Authorization: Bearer <token>' with a personal API token or one of API_KEYS"
CSRF_REFUSED = (
    f"This request is authenticated by the session cookie and needs the {CSRF_HEADER} header: send the "
    "csrf_token that POST /auth/login answered (or use a bearer token)"
)
_CSRF_HEADER = CSRF_HEADER.lower().encode()
AUTH_UNAVAILABLE = {
    "database": f"Credentials cannot be checked: {DATABASE_DOWN}",
    "redis": f"Credentials cannot be checked: {REDIS_DOWN}",
}
logger = logging.getLogger(__name__)


class UsersGate:
    """Whether any user exists: once one does, sign-in is required everywhere. Users are never
    deleted (only deactivated), so once seen it stays true; until then each process looks again at
    most once a second, and at once when it created the user itself (`mark`)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._exist = False
        self._checked_at = float("-inf")

    def mark(self) -> None:
        self._exist = True

    async def exist(self, sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
        if self._exist:
            return True
        now = self.clock()
        if now - self._checked_at >= USERS_RECHECK_S:
            self._checked_at = now
            async with sessionmaker() as session:
                self._exist = await accounts.any_user(session)
        return self._exist


async def user_principal(session: AsyncSession, user: User) -> Principal | None:
    """The principal of an active user, with their project roles; None for a deactivated one."""
    if not user.active:
        return None
    roles = {} if user.is_admin else await accounts.memberships(session, user.id)
    return Principal(
        "user",
        f"user:{user.email}",
        user_id=user.id,
        name=user.name,
        email=user.email,
        is_admin=user.is_admin,
        roles=roles,
    )


class AuthMiddleware:
    """Every request but /health, the page's files, sign-in and CORS preflights is authenticated here;
    the principal goes in the scope's state for the routes (api/access.py decides what it may do).
    A client over the limit of failed authentications gets 429 without its credential looked at."""

    def __init__(
        self, app: ASGIApp, keys: list[str], tokens: StreamTokens, failures: FailureLimit | None = None
    ) -> None:
        self.app = app
        self.keys = keys
        self.tokens = tokens
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not needs_key(scope):
            await self.app(scope, receive, send)
            return
        refusal = self.failures.refusal(scope) if self.failures else None
        if refusal is not None:
            await _too_many(send, refusal)
            return
        try:
            verdict = await self._check(scope)
        except (SQLAlchemyError, OSError, RedisError) as exc:  # whether sign-in is needed, or who asks
            logger.warning("Authentication not checked: %s", type(exc).__name__)
            down = AUTH_UNAVAILABLE["redis" if isinstance(exc, RedisError) else "database"]
            await send_error(send, 503, down, (b"retry-after", b"5"))
            return
        if verdict == "ok":
            await self.app(scope, receive, send)
        elif verdict == "stream-token":
            await self.app(scope, receive, approve_only_stream_routes(scope, send, _unauthorized))
        elif verdict == "csrf":
            await send_error(send, 403, CSRF_REFUSED)
        else:
            refusal = await self.failures.failed(scope) if self.failures else None
            await (_unauthorized(send) if refusal is None else _too_many(send, refusal))

    async def _check(self, scope: Scope) -> Verdict:
        state = scope["app"].state
        if not self.keys and not await state.users_gate.exist(state.read_sessionmaker):
            return "ok"  # open mode: the local admin (principal_of's default), whatever is sent
        authorization = cookie = csrf = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"cookie":
                cookie = value.decode("latin-1")
            elif name == _CSRF_HEADER:
                csrf = value.decode("latin-1")
        if authorization is not None:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() != "bearer":
                return "no"
            return await self._bearer(scope, credential.strip())
        sid = _session_id(cookie) if cookie else None
        if sid is not None:
            return await self._session(scope, sid, csrf)
        if scope["method"] == "GET":
            token = stream_token(scope.get("query_string", b""))
            if token:
                return await self._stream_token(scope, token)
        return "no"

    async def _bearer(self, scope: Scope, credential: str) -> Verdict:
        key = matching_key(credential, self.keys)
        if key is not None:
            key_id = self.tokens.key_id(key)
            _authenticated(scope, service_principal(key_id), key_id)
            scope["state"]["api_key"] = key
            return "ok"
        if not looks_like_token(credential):
            return "no"
        state = scope["app"].state
        async with state.read_sessionmaker() as session:
            found = await accounts.token_by_hash(session, token_digest(credential))
            if found is None:
                return "no"
            token, user = found
            now = utcnow()
            if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= now):
                return "no"
            principal = await user_principal(session, user)
        if principal is None:
            return "no"
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() >= TOKEN_TOUCH_S:
            async with state.sessionmaker() as session, session.begin():
                await accounts.touch_token(session, token.id, now)
        _authenticated(scope, principal, f"u{user.id}")
        return "ok"

    async def _session(self, scope: Scope, sid: str, csrf: str | None) -> Verdict:
        state = scope["app"].state
        sessions: SessionStore = state.sessions
        data = await sessions.get(sid)
        if data is None:
            return "no"
        principal = await _load_user(state.read_sessionmaker, data.user_id)
        if principal is None:
            return "no"
        if scope["method"] in STATE_CHANGING and not (
            csrf is not None and hmac.compare_digest(csrf.encode(), data.csrf_token.encode())
        ):
            return "csrf"
        _authenticated(scope, principal, f"u{data.user_id}")
        scope["state"]["session_id"] = sid
        return "ok"

    async def _stream_token(self, scope: Scope, token: str) -> Verdict:
        owner = self.tokens.owner(token)
        if owner is None:
            return "no"
        if owner.startswith("u"):
            principal = await _load_user(scope["app"].state.read_sessionmaker, int(owner[1:]))
            if principal is None:
                return "no"
        else:
            principal = service_principal(owner)
        _authenticated(scope, principal, owner)
        scope["state"]["stream_token"] = True  # access.enforce runs no other route for it
        return "stream-token"


async def _load_user(sessionmaker: async_sessionmaker[AsyncSession], user_id: int) -> Principal | None:
    async with sessionmaker() as session:
        user = await accounts.get_user(session, user_id)
        return await user_principal(session, user) if user is not None else None


def _authenticated(scope: Scope, principal: Principal, limit_key: str) -> None:
    set_request_principal(scope, principal)
    set_principal(scope, limit_key)


def _session_id(cookie_header: str) -> str | None:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except CookieError:  # a malformed Cookie header authenticates nothing
        return None
    morsel = jar.get(SESSION_COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


async def _too_many(send: Send, error: RateLimitedError) -> None:
    await send_error(send, 429, error.message, (b"retry-after", str(error.retry_after_s).encode()))


async def _unauthorized(send: Send) -> None:
    await send_error(send, 401, UNAUTHORIZED, (b"www-authenticate", b'Bearer realm="testgen"'))
