"""What a push needs, written straight to the database: a project, stories, saved test cases, and a
connection whose secrets are sealed with the settings' key."""

from __future__ import annotations

from typing import Any

from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from testgen.core.secret_box import SecretBox
from testgen.data.models import Connection, Project, PushedCase, TestCase, UserStory, utcnow

Sessions = async_sessionmaker[AsyncSession]


def use_secrets_key(settings: Settings) -> str:
    """A fresh SECRETS_KEY for the test's settings (and any process started with it)."""
    key = Fernet.generate_key().decode()
    settings.secrets_key = SecretStr(key)
    return key


async def add_project(sessions: Sessions, name: str = "Shop", *, review_required: bool = False) -> int:
    async with sessions() as session:
        project = Project(name=name, review_required=review_required, language="en")
        session.add(project)
        await session.commit()
        return project.id


async def add_story(
    sessions: Sessions, project_id: int, story_id: str, *, jira_url: str | None = None, title: str = ""
) -> str:
    async with sessions() as session:
        session.add(
            UserStory(
                id=story_id,
                project_id=project_id,
                title=title or f"Story {story_id}",
                description="As a shopper I want to pay",
                acceptance_criteria=["The card is charged", "A receipt is mailed"],
                jira_url=jira_url,
                language="en",
            )
        )
        await session.commit()
    return story_id


def scenarios(title: str) -> list[dict[str, Any]]:
    return [
        {
            "title": f"{title}: happy path",
            "given": ["a basket"],
            "when": ["they pay"],
            "then": ["it is paid"],
        },
        {
            "title": f"{title}: again",
            "given": ["a paid basket"],
            "when": ["they pay again"],
            "then": ["refused"],
        },
    ]


async def add_cases(
    sessions: Sessions, story_id: str, count: int, *, approved_by: int | None = None, prefix: str = "Case"
) -> list[int]:
    async with sessions() as session:
        rows = [
            TestCase(
                story_id=story_id,
                title=f"{prefix} {n} of {story_id}",
                description="",
                preconditions=["A signed-in shopper"],
                priority="high",
                test_type="functional",
                scenarios=scenarios(f"{prefix} {n}"),
                covered_criteria=[0],
                approved_by=approved_by,
                approved_at=utcnow() if approved_by is not None else None,
            )
            for n in range(1, count + 1)
        ]
        session.add_all(rows)
        await session.commit()
        return [row.id for row in rows]


async def edit_case(sessions: Sessions, test_case_id: int, title: str) -> None:
    async with sessions() as session:
        row = await session.get(TestCase, test_case_id)
        assert row is not None
        row.title = title
        await session.commit()


async def delete_case(sessions: Sessions, test_case_id: int) -> None:
    async with sessions() as session:
        row = await session.get(TestCase, test_case_id)
        assert row is not None
        await session.delete(row)
        await session.commit()


async def add_connection(
    sessions: Sessions,
    settings: Settings,
    project_id: int,
    kind: str,
    connection_settings: dict[str, Any],
    secrets: dict[str, str],
    name: str = "QA TestRail",
) -> int:
    box = SecretBox(settings.secrets_key_list)
    async with sessions() as session:
        row = Connection(
            project_id=project_id,
            kind=kind,
            name=name,
            settings=connection_settings,
            sealed_secrets=box.seal(secrets),
        )
        session.add(row)
        await session.commit()
        return row.id


async def mappings(sessions: Sessions, connection_id: int) -> dict[int, PushedCase]:
    async with sessions() as session:
        query = select(PushedCase).where(PushedCase.connection_id == connection_id)
        return {row.test_case_id: row for row in (await session.execute(query)).scalars()}
