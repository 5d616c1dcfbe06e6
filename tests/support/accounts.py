"""Users and sign-in for tests: users written straight to the database, sessions through the API."""

from __future__ import annotations

from dataclasses import dataclass

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.passwords import hash_password
from testgen.data import accounts
from testgen.data.models import ProjectMember
from testgen.domain.roles import Role

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Account:
    id: int
    email: str


async def add_user(
    sessionmaker: async_sessionmaker[AsyncSession],
    email: str,
    *,
    admin: bool = False,
    password: str = PASSWORD,
    roles: dict[int, Role] | None = None,
) -> Account:
    async with sessionmaker() as session:
        user = await accounts.create_user(
            session,
            email=email,
            name=email.partition("@")[0],
            password_hash=await hash_password(password),
            is_admin=admin,
        )
        for project_id, role in (roles or {}).items():
            session.add(ProjectMember(project_id=project_id, user_id=user.id, role=role.value))
        await session.commit()
        return Account(user.id, user.email)


async def sign_in(client: AsyncClient, email: str, password: str = PASSWORD) -> str:
    """Sign `client` in (its cookie jar keeps the session); the CSRF token to send back."""
    response = await client.post("/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    token: str = response.json()["csrf_token"]
    return token


async def bearer_token(client: AsyncClient, email: str, name: str = "ci") -> str:
    """A personal API token of the user `email`, made through a session of a client of its own."""
    async with AsyncClient(transport=client._transport, base_url=str(client.base_url)) as own:
        csrf = await sign_in(own, email)
        response = await own.post("/auth/tokens", json={"name": name}, headers={"X-CSRF-Token": csrf})
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token
