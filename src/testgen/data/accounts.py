"""Users, personal API tokens and project members: the queries of accounts and roles."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.core.errors import AuthenticationError, ConflictError
from testgen.data import audit
from testgen.data.models import ApiToken, Project, ProjectMember, User, utcnow
from testgen.domain.roles import MemberSource, Role

logger = logging.getLogger(__name__)
EVERY_PROJECT = "*"
CLAIM_ACTOR = "oidc"  # the audit rows' actor of the memberships the OpenID Provider's claim changes


def normal_email(email: str) -> str:
    return email.strip().lower()


async def any_user(session: AsyncSession) -> bool:
    return bool((await session.execute(select(exists().select_from(User)))).scalar())


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    query = select(User).where(User.email == normal_email(email))
    return (await session.execute(query)).scalar_one_or_none()


async def list_users(session: AsyncSession, limit: int, offset: int) -> Sequence[User]:
    return (await session.execute(select(User).order_by(User.id).limit(limit).offset(offset))).scalars().all()


async def create_user(
    session: AsyncSession, *, email: str, name: str, password_hash: str | None, is_admin: bool
) -> User:
    """A new user (409 when the email is taken). The first admin of an install becomes the admin of
    every project that exists already, so an upgraded install keeps its projects administered."""
    if await get_user_by_email(session, email) is not None:
        raise ConflictError(
            f"A user with the email {normal_email(email)[:320]} exists: sign in, or use another"
        )
    first = not await any_user(session)
    user = User(email=normal_email(email), name=name, password_hash=password_hash, is_admin=is_admin)
    session.add(user)
    await session.flush()
    if first and is_admin:
        for (project_id,) in await session.execute(select(Project.id)):
            session.add(ProjectMember(project_id=project_id, user_id=user.id, role=Role.admin.value))
    return user


async def upsert_oidc_user(
    session: AsyncSession, *, issuer: str, subject: str, email: str, name: str, is_admin: bool | None
) -> User:
    """The user an OpenID Provider vouches for, created on first sign-in; name and email follow the
    provider's; `is_admin` None leaves the server-admin flag as it is."""
    query = select(User).where(User.oidc_issuer == issuer, User.oidc_subject == subject)
    user = (await session.execute(query)).scalar_one_or_none()
    if user is None:
        user = await get_user_by_email(session, email)
        if user is not None and user.oidc_subject is not None:
            raise AuthenticationError(
                "This email belongs to another account of the identity provider: ask an admin to fix it"
            )
    if user is None:
        user = await create_user(session, email=email, name=name, password_hash=None, is_admin=bool(is_admin))
    if not user.active:
        raise AuthenticationError("This account is deactivated: ask an admin to reactivate it")
    user.oidc_issuer, user.oidc_subject = issuer, subject
    user.name = name or user.name
    if normal_email(email) != user.email and await get_user_by_email(session, email) is None:
        user.email = normal_email(email)
    if is_admin is not None:
        user.is_admin = is_admin
    await session.flush()
    return user


async def sync_claimed_memberships(session: AsyncSession, user: User, granted: Mapping[str, Role]) -> None:
    """Bring the memberships the OpenID Provider's claim gave `user` in line with `granted` (project
    name, or `*` for every project, to the highest role the claim gives there): a project granted and
    not yet joined is joined, a claim-given role follows the claim up and down, and a claim-given
    membership the claim no longer grants goes. A membership an admin set is left as it is; a project
    named that does not exist is skipped (logged). Each change adds its audit row."""
    wanted: dict[int, Role] = {}

    def grant(project_id: int, role: Role) -> None:
        if project_id not in wanted or role.rank > wanted[project_id].rank:
            wanted[project_id] = role

    if EVERY_PROJECT in granted:
        for project_id in (await session.execute(select(Project.id))).scalars():
            grant(project_id, granted[EVERY_PROJECT])
    names = [name for name in granted if name != EVERY_PROJECT]
    if names:
        by_name = select(Project.name, Project.id).where(Project.name.in_(names))
        found: dict[str, int] = {name: project_id for name, project_id in await session.execute(by_name)}
        for name in names:
            if name in found:
                grant(found[name], granted[name])
            else:
                logger.warning(
                    "OIDC_PROJECT_ROLES names the project %r, which does not exist: skipped", name[:200]
                )
    query = select(ProjectMember).where(ProjectMember.user_id == user.id)
    held = {member.project_id: member for member in (await session.execute(query)).scalars()}

    def changed(action: str, project_id: int) -> None:
        audit.record(
            session,
            actor=CLAIM_ACTOR,
            action=action,
            project_id=project_id,
            object_type="user",
            object_id=str(user.id),
            fields=["role"] if action != "member_remove" else (),
        )

    for project_id, role in wanted.items():
        member = held.get(project_id)
        if member is None:
            session.add(
                ProjectMember(
                    project_id=project_id,
                    user_id=user.id,
                    role=role.value,
                    source=MemberSource.oidc_claim.value,
                )
            )
            changed("member_add", project_id)
        elif member.source == MemberSource.oidc_claim.value and member.role != role.value:
            member.role = role.value
            changed("member_update", project_id)
    for project_id, member in held.items():
        if project_id not in wanted and member.source == MemberSource.oidc_claim.value:
            await session.delete(member)
            changed("member_remove", project_id)
    await session.flush()


async def memberships(session: AsyncSession, user_id: int) -> dict[int, Role]:
    query = select(ProjectMember.project_id, ProjectMember.role).where(ProjectMember.user_id == user_id)
    return {project_id: Role(role) for project_id, role in await session.execute(query)}


async def get_member(session: AsyncSession, project_id: int, user_id: int) -> ProjectMember | None:
    query = select(ProjectMember).where(
        ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
    )
    return (await session.execute(query)).scalar_one_or_none()


async def list_members(session: AsyncSession, project_id: int) -> Sequence[tuple[ProjectMember, User]]:
    query = (
        select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(ProjectMember.id)
    )
    return [(member, user) for member, user in await session.execute(query)]


async def count_admins(session: AsyncSession, project_id: int) -> int:
    query = select(func.count()).where(
        ProjectMember.project_id == project_id, ProjectMember.role == Role.admin.value
    )
    return int((await session.execute(query)).scalar_one())


async def token_by_hash(session: AsyncSession, token_hash: str) -> tuple[ApiToken, User] | None:
    query = (
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == token_hash)
    )
    row = (await session.execute(query)).first()
    return (row[0], row[1]) if row is not None else None


async def list_tokens(session: AsyncSession, user_id: int) -> Sequence[ApiToken]:
    query = select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    return (await session.execute(query.order_by(ApiToken.id))).scalars().all()


async def touch_token(session: AsyncSession, token_id: int, now: dt.datetime) -> None:
    await session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


async def revoke_token(session: AsyncSession, token: ApiToken) -> None:
    token.revoked_at = token.revoked_at or utcnow()
    await session.flush()
