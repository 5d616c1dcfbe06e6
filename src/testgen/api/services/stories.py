"""Projects, user stories and the saved test cases that belong to them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from testgen.api.schemas.projects import (
    LLMProviderOut,
    ProjectCreate,
    ProjectUpdate,
    UsageDay,
    UsageModel,
    UsageOut,
)
from testgen.api.schemas.stories import StoryCreate, StoryUpdate
from testgen.api.schemas.test_cases import StaleTestCaseOut
from testgen.api.services.attachments import delete_unreferenced
from testgen.core import messages
from testgen.core.config import Settings
from testgen.core.database import begin_standalone
from testgen.core.errors import ConflictError, NotFoundError
from testgen.core.languages import detect_story_language
from testgen.data import attachments, repository
from testgen.data import usage as ledger
from testgen.data.attachment_store import AttachmentStore
from testgen.data.job_states import StoryState
from testgen.data.models import Project, StoryRevision, UserStory
from testgen.data.staleness import stale_texts


async def create_project(session: AsyncSession, data: ProjectCreate) -> Project:
    if await repository.get_project_by_name(session, data.name) is not None:
        raise ConflictError(f"Project {data.name!r} already exists; pick another name")
    project = Project(name=data.name, description=data.description, language=data.language)
    session.add(project)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise ConflictError(f"Project {data.name!r} already exists; pick another name") from exc
    return project


async def list_projects(
    session: AsyncSession, limit: int, offset: int, visible: Sequence[int] | None
) -> Sequence[Project]:
    return await repository.list_projects(session, limit, offset, visible)


def llm_providers(settings: Settings) -> list[LLMProviderOut]:
    """The providers a project may choose: those configured on this server, the default first."""
    return [
        LLMProviderOut(
            name=name, default_model=settings.default_model(name), default=name == settings.provider
        )
        for name in settings.configured_providers
    ]


async def update_project(
    session: AsyncSession, settings: Settings, project: Project, data: ProjectUpdate
) -> Project:
    """Rename, describe, choose the project's LLM (only a provider configured on this server), or set
    its review gate (review_required, allow_self_approval)."""
    changes = data.model_dump(exclude_unset=True)
    provider = changes.get("llm_provider")
    if provider is not None and not settings.provider_configured(provider):
        raise ConflictError(messages.provider_not_configured(provider, settings.configured_providers))
    if "instructions" in changes and changes["instructions"] is None:
        changes["instructions"] = ""
    if "default_techniques" in changes:  # stored as names, each once; none: the built-in mix
        changes["default_techniques"] = list(dict.fromkeys(changes["default_techniques"] or ())) or None
    if "llm_provider" in changes and "llm_model" not in changes and provider != project.llm_provider:
        changes["llm_model"] = None  # a model belongs to its provider
    renamed = "name" in changes and changes["name"] != project.name
    if renamed and await repository.get_project_by_name(session, changes["name"]) is not None:
        raise ConflictError(f"Project {changes['name']!r} already exists; pick another name")
    for field, value in changes.items():
        setattr(project, field, value)
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise ConflictError(f"Project {data.name!r} already exists; pick another name") from exc
    return project


async def _check_project(session: AsyncSession, project_id: int | None) -> None:
    if project_id is not None and await repository.get_project(session, project_id) is None:
        raise NotFoundError(messages.PROJECT, project_id)


async def create_story(session: AsyncSession, data: StoryCreate) -> UserStory:
    await _check_project(session, data.project_id)
    if await repository.get_story(session, data.id) is not None:
        raise ConflictError(f"User story {data.id} already exists; update it with PATCH instead")
    story = UserStory(**data.model_dump(), revision=1)
    story.detected_language = await detect_story_language(
        data.title, data.description, data.acceptance_criteria
    )
    session.add(story)
    first = StoryRevision(story_id=data.id, revision=1, acceptance_criteria=list(data.acceptance_criteria))
    try:
        await session.flush()  # the story first: its revision refers to it
        session.add(first)
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise ConflictError(f"User story {data.id} already exists; update it with PATCH instead") from exc
    return story


async def list_stories(
    session: AsyncSession,
    project_id: int | None,
    limit: int,
    offset: int,
    *,
    search: str | None = None,
    state: StoryState | None = None,
    visible: Sequence[int] | None = None,
) -> tuple[Sequence[UserStory], int]:
    """One page of the stories that match, and how many match in all; `visible`: the projects the
    caller sees (None: all)."""
    search = search.strip() if search else None
    rows = await repository.list_stories(
        session, project_id, limit, offset, search=search, state=state, visible=visible
    )
    if offset == 0 and len(rows) < limit:
        return rows, len(rows)
    return rows, await repository.count_stories(
        session, project_id, search=search, state=state, visible=visible
    )


async def update_story(session: AsyncSession, story: UserStory, data: StoryUpdate) -> UserStory:
    changes = data.model_dump(exclude_unset=True)
    if "project_id" in changes:
        await _check_project(session, changes["project_id"])
    if "acceptance_criteria" in changes:
        # The story as it is now, its row locked until this transaction ends (SQLite's transaction
        # holds the database's write lock already): edits of its criteria take turns, and each one
        # compares with, and numbers its revision after, the edit before it.
        await session.refresh(story, with_for_update=True)
        if changes["acceptance_criteria"] != story.acceptance_criteria:
            repository.add_revision(session, story, changes["acceptance_criteria"])
    for field, value in changes.items():
        setattr(story, field, value)
    if {"title", "description", "acceptance_criteria"} & changes.keys():
        story.detected_language = await detect_story_language(
            story.title, story.description, list(story.acceptance_criteria)
        )
    await session.commit()
    return story


async def delete_story(session: AsyncSession, store: AttachmentStore, story: UserStory) -> None:
    """Delete the story; its saved test cases, generation jobs and attachments go with it (FK
    cascade), and the attachments' content too once no other story's attachment names it."""
    keys = {row.sha256 for row in await attachments.list_for_story(session, story.id)}
    await session.delete(story)
    await session.commit()
    await delete_unreferenced(session, store, keys)


async def list_test_cases(
    session: AsyncSession, story: UserStory, stale: bool = False
) -> list[StaleTestCaseOut]:
    """The story's saved test cases; with `stale`, only those whose criteria changed or disappeared."""
    cases = await repository.list_test_cases(session, story.id)
    out = []
    for case in cases:
        gone = stale_texts(case, story.acceptance_criteria)
        if gone or not stale:
            out.append(StaleTestCaseOut.model_validate(case).model_copy(update={"stale_criteria": gone}))
    return out


async def usage(session: AsyncSession, project: Project, days: int) -> UsageOut:
    """Jobs, model calls and tokens of the project per day and per model over the last `days` days."""
    since = ledger.today() - dt.timedelta(days=days - 1)
    report = UsageOut(
        project_id=project.id,
        days=days,
        since=since,
        token_budget_daily=project.token_budget_daily,
        spent_today=await ledger.spent_today(session, project.id),
        per_day=[UsageDay(**row) for row in await ledger.per_day(session, project.id, since)],
        per_model=[UsageModel(**row) for row in await ledger.per_model(session, project.id, since)],
    )
    await session.commit()
    return report


async def story_projects(session: AsyncSession, story_ids: Sequence[str]) -> dict[str, int | None]:
    """The project of each named story that exists, in a read of its own (done before the caller writes)."""
    await begin_standalone(session)
    found = await repository.story_projects(session, story_ids)
    await session.commit()
    return found
