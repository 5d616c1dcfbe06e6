from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from testgen.api import access
from testgen.api.deps import AttachmentStoreDep, SessionDep, StoryDep, StoryReadDep
from testgen.api.openapi_doc import errors
from testgen.api.schemas.stories import StoryCreate, StoryOut, StoryUpdate
from testgen.api.schemas.test_cases import StaleTestCaseOut
from testgen.api.services import stories
from testgen.core import messages
from testgen.core.errors import NotFoundError
from testgen.data.job_states import StoryState
from testgen.domain.text_fields import SearchText

router = APIRouter(prefix="/user-stories", tags=["user stories"])
TOTAL_COUNT_HEADER = "X-Total-Count"


@router.post("", status_code=201, response_model=StoryOut, responses=errors(404, 409))
async def create_story(request: Request, data: StoryCreate, session: SessionDep) -> object:
    access.check_new_object_project(request, data.project_id)
    story = await stories.create_story(session, data)
    access.audit_object(request, "story", story.id)
    return story


@router.get(
    "",
    response_model=list[StoryOut],
    responses={
        **errors(404),
        200: {
            "headers": {
                TOTAL_COUNT_HEADER: {
                    "description": "How many stories match in all",
                    "schema": {"type": "integer"},
                }
            }
        },
    },
)
async def list_stories(
    request: Request,
    session: SessionDep,
    response: Response,
    project_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    q: Annotated[
        SearchText | None,
        Query(description="Only stories whose id or title contains this (no control characters)"),
    ] = None,
    state: Annotated[StoryState | None, Query(description="Only stories in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> object:
    """The stories of the caller's projects (server admins: all) that match."""
    visible = access.project_ids_visible(request)
    if project_id is not None and visible is not None and project_id not in visible:
        raise NotFoundError(messages.PROJECT, project_id)
    rows, total = await stories.list_stories(
        session, project_id, limit, offset, search=q, state=state, visible=visible
    )
    response.headers[TOTAL_COUNT_HEADER] = str(total)
    return rows


@router.get("/{story_id}", response_model=StoryOut)
async def get_story(story: StoryReadDep) -> object:
    return story


@router.patch("/{story_id}", response_model=StoryOut)
async def update_story(request: Request, story: StoryDep, data: StoryUpdate, session: SessionDep) -> object:
    """Moving the story to another project needs the same role there (another project's is not found)."""
    if "project_id" in data.model_fields_set and data.project_id != story.project_id:
        access.check_new_object_project(request, data.project_id)
    return await stories.update_story(session, story, data)


@router.delete("/{story_id}", status_code=204)
async def delete_story(story: StoryDep, session: SessionDep, store: AttachmentStoreDep) -> Response:
    await stories.delete_story(session, store, story)
    return Response(status_code=204)


@router.get("/{story_id}/test-cases", response_model=list[StaleTestCaseOut])
async def list_test_cases(
    story: StoryDep,
    session: SessionDep,
    stale: Annotated[
        bool, Query(description="Only those whose covered criteria changed or disappeared")
    ] = False,
) -> object:
    """The saved test cases; each names the criteria it covers that changed since it was saved."""
    return await stories.list_test_cases(session, story, stale)
