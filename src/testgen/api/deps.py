"""FastAPI dependencies: sessions, settings, and lookups that 404."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.ext.asyncio import AsyncSession

from testgen import repository
from testgen.config import Settings
from testgen.errors import NotFoundError
from testgen.models import UserStory


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def existing_story(session: SessionDep, story_id: Annotated[str, Path(max_length=200)]) -> UserStory:
    story = await repository.get_story(session, story_id)
    if story is None:
        raise NotFoundError("User story", story_id)
    return story


StoryDep = Annotated[UserStory, Depends(existing_story)]
