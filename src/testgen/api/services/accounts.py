"""Sign-in and sign-out, personal API tokens, users and project members."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.passwords import hash_password, verify_password
from testgen.api.personal_tokens import new_token
from testgen.api.principal import Principal
from testgen.api.schemas.accounts import (
    MemberAdd,
    MemberOut,
    MembershipOut,
    MeOut,
    TokenCreate,
    TokenCreated,
    UserCreate,
    UserOut,
    UserUpdate,
)
from testgen.api.sessions import SessionStore, StartedSession
from testgen.core.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    RateLimitedError,
)
from testgen.core.redis_keys import sign_in_failures_key
from testgen.data import accounts, audit
from testgen.data.models import ApiToken, Project, ProjectMember, User, utcnow
from testgen.domain.roles import MemberSource, Role

WINDOW_S = 60
WRONG_CREDENTIALS = "Wrong email or password: check both, or ask an admin to reset the password"
USER = "User"
TOKEN = "API token"
MEMBER = "Member"


class SignInLimiter:
    """Failed sign-ins per account and per client address, per minute, shared through Redis. Over
    either limit every sign-in of that account or address gets 429 until the minute ends, before
    its password is looked at (a right guess then answers no differently)."""

    def __init__(self, redis: Redis, per_account: int, per_client: int, clock: object = time.time) -> None:
        self.redis = redis
        self.limits = {"account": per_account, "client": per_client}
        self.clock = clock

    def _keys(self, email: str, address: str) -> dict[str, str]:
        window = int(self._now() // WINDOW_S)
        account = hashlib.sha256(accounts.normal_email(email).encode()).hexdigest()[:32]
        return {
            "account": sign_in_failures_key("account", account, window),
            "client": sign_in_failures_key("client", address, window),
        }

    def _now(self) -> float:
        return float(self.clock())  # type: ignore[operator]

    def _error(self, scope: str) -> RateLimitedError:
        wait = max(1, WINDOW_S - int(self._now() % WINDOW_S))
        setting = "SIGN_IN_FAILURES_PER_ACCOUNT" if scope == "account" else "SIGN_IN_FAILURES_PER_CLIENT"
        return RateLimitedError(
            f"Too many failed sign-ins for this {scope} ({setting} allows {self.limits[scope]} a minute): "
            f"retry in {wait} s",
            wait,
        )

    async def check(self, email: str, address: str) -> None:
        keys = self._keys(email, address)
        counts = await self.redis.mget(list(keys.values()))
        for (scope, _), count in zip(keys.items(), counts, strict=True):
            if count is not None and int(count) >= self.limits[scope]:
                raise self._error(scope)

    async def failed(self, email: str, address: str) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in self._keys(email, address).values():
                pipe.incr(key)
                pipe.expire(key, WINDOW_S * 2)
            await pipe.execute()


@dataclass(frozen=True)
class SignedIn:
    user: User
    session: StartedSession


async def login(
    session: AsyncSession,
    sessions: SessionStore,
    limiter: SignInLimiter,
    *,
    email: str,
    password: str,
    address: str,
    old_sid: str | None,
) -> SignedIn:
    """A new session for the right email and password. An unknown email, a wrong password and a
    deactivated account get the same answer after the same work (one argon2 check)."""
    await limiter.check(email, address)
    user = await accounts.get_user_by_email(session, email)
    matches = await verify_password(password, user.password_hash if user is not None else None)
    if user is None or not matches or not user.active:
        await limiter.failed(email, address)
        audit.record(
            session,
            actor=f"user:{accounts.normal_email(email)}",
            actor_id=user.id if user is not None else None,
            action="sign_in_failed",
            object_type="user",
            object_id=str(user.id) if user is not None else None,
        )
        await session.commit()
        raise AuthenticationError(WRONG_CREDENTIALS)
    if old_sid is not None:
        await sessions.end(old_sid)
    started = await sessions.start(user.id)
    audit.record(
        session,
        actor=f"user:{user.email}",
        actor_id=user.id,
        action="sign_in",
        object_type="user",
        object_id=str(user.id),
    )
    await session.commit()
    return SignedIn(user, started)


async def me(session: AsyncSession, principal: Principal, csrf_token: str | None) -> MeOut:
    user = await accounts.get_user(session, principal.user_id) if principal.user_id is not None else None
    return MeOut(
        kind=principal.kind,
        user=UserOut.model_validate(user) if user is not None else None,
        is_admin=principal.is_admin,
        projects=[MembershipOut(project_id=p, role=r) for p, r in sorted(principal.roles.items())],
        csrf_token=csrf_token,
    )


def _own_user_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise ForbiddenError(
            "Personal API tokens belong to users: sign in as a user (API_KEYS and the local admin have none)"
        )
    return principal.user_id


async def list_tokens(session: AsyncSession, principal: Principal) -> Sequence[ApiToken]:
    if principal.user_id is None:
        return []
    return await accounts.list_tokens(session, principal.user_id)


async def create_token(session: AsyncSession, principal: Principal, data: TokenCreate) -> TokenCreated:
    user_id = _own_user_id(principal)
    expires_at = data.expires_at
    if expires_at is not None:
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=dt.UTC)
        if expires_at <= utcnow():
            raise InvalidRequestError("expires_at is in the past: give a future time, or omit it")
    made = new_token()
    token = ApiToken(
        user_id=user_id, name=data.name, prefix=made.prefix, token_hash=made.digest, expires_at=expires_at
    )
    session.add(token)
    await session.commit()
    return TokenCreated(
        id=token.id,
        name=token.name,
        prefix=token.prefix,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=None,
        token=made.plain,
    )


async def revoke_token(session: AsyncSession, principal: Principal, token_id: int) -> None:
    token = await session.get(ApiToken, token_id)
    if token is None or token.user_id != principal.user_id or token.revoked_at is not None:
        raise NotFoundError(TOKEN, token_id)
    await accounts.revoke_token(session, token)
    await session.commit()


async def create_user(session: AsyncSession, data: UserCreate) -> User:
    password_hash = await hash_password(data.password) if data.password is not None else None
    try:
        user = await accounts.create_user(
            session, email=data.email, name=data.name, password_hash=password_hash, is_admin=data.is_admin
        )
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ConflictError("A user with this email exists: use another email") from None
    return user


async def update_user(
    session: AsyncSession, sessions: SessionStore, principal: Principal, user_id: int, data: UserUpdate
) -> User:
    user = await accounts.get_user(session, user_id)
    if user is None:
        raise NotFoundError(USER, user_id)
    if user_id == principal.user_id and (data.active is False or data.is_admin is False):
        raise ConflictError("You cannot deactivate yourself or drop your own admin role: ask another admin")
    end_sessions = False
    if data.name is not None:
        user.name = data.name
    if data.password is not None:
        user.password_hash = await hash_password(data.password)
        end_sessions = True
    if data.is_admin is not None:
        user.is_admin = data.is_admin
    if data.active is not None:
        end_sessions = end_sessions or (user.active and not data.active)
        user.active = data.active
    await session.commit()
    if end_sessions:
        await sessions.end_all(user.id)
    return user


async def list_users(session: AsyncSession, limit: int, offset: int) -> Sequence[User]:
    return await accounts.list_users(session, limit, offset)


def _member_out(member: ProjectMember, user: User) -> MemberOut:
    return MemberOut(
        user_id=user.id, email=user.email, name=user.name, role=Role(member.role), active=user.active
    )


async def list_members(session: AsyncSession, project: Project) -> list[MemberOut]:
    return [_member_out(m, u) for m, u in await accounts.list_members(session, project.id)]


async def add_member(session: AsyncSession, project: Project, data: MemberAdd) -> MemberOut:
    if data.user_id is not None:
        user = await accounts.get_user(session, data.user_id)
        ident: object = data.user_id
    else:
        assert data.email is not None
        user = await accounts.get_user_by_email(session, data.email)
        ident = accounts.normal_email(data.email)[:320]
    if user is None:
        raise NotFoundError(USER, f"{ident} (an admin creates users first: POST /users)")
    if await accounts.get_member(session, project.id, user.id) is not None:
        raise ConflictError(f"{user.email} is a member of this project already: change the role with PATCH")
    member = ProjectMember(project_id=project.id, user_id=user.id, role=data.role.value)
    session.add(member)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise ConflictError("This user was just added to the project: reload the members") from None
    return _member_out(member, user)


async def _existing_member(
    session: AsyncSession, project: Project, user_id: int
) -> tuple[ProjectMember, User]:
    member = await accounts.get_member(session, project.id, user_id)
    user = await accounts.get_user(session, user_id) if member is not None else None
    if member is None or user is None:
        raise NotFoundError(MEMBER, user_id)
    return member, user


async def _keep_an_admin(
    session: AsyncSession, project: Project, member: ProjectMember, new_role: Role | None
) -> None:
    if (
        member.role == Role.admin.value
        and new_role is not Role.admin
        and await accounts.count_admins(session, project.id) <= 1
    ):
        raise ConflictError("A project keeps at least one admin: make someone else admin first")


async def update_member(session: AsyncSession, project: Project, user_id: int, role: Role) -> MemberOut:
    member, user = await _existing_member(session, project, user_id)
    await _keep_an_admin(session, project, member, role)
    member.role = role.value
    member.source = MemberSource.manual.value  # set by hand: the OpenID Provider's claim leaves it alone
    await session.commit()
    return _member_out(member, user)


async def remove_member(session: AsyncSession, project: Project, user_id: int) -> None:
    member, _ = await _existing_member(session, project, user_id)
    await _keep_an_admin(session, project, member, None)
    await session.delete(member)
    await session.commit()
