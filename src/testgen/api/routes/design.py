from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from testgen.api import access
from testgen.api.deps import JobLinksDep, JobQueueDep, JobSlotDep, PrincipalDep, SessionDep, StoryDep
from testgen.api.openapi_doc import errors
from testgen.api.schemas.design import PairwiseOut, PairwiseRequest, StoryCheckOut
from testgen.api.services import design
from testgen.core import messages

router = APIRouter(tags=["review"])


@router.post(
    "/user-stories/{story_id}/check",
    response_model=StoryCheckOut,
    name="check_story",
    tags=["user stories"],
    responses=errors(403, 404, 429),
)
async def check_story(
    request: Request,
    story: StoryDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
    deep: Annotated[
        bool,
        Query(
            description="Also queue a job asking the story's model for further questions (an editor's call)"
        ),
    ] = False,
) -> StoryCheckOut:
    """Lint the story before generating, offline: no acceptance criteria, criteria without an
    observable outcome, vague words, numbers without units, and/or, duplicated criteria. Each finding
    names the criterion and asks its author a question. Generation runs whatever it finds (a draft
    records the check it was written with). With `deep=true` (editors and above), a job of the story
    also asks its model, in one call counted toward the project's daily budget, for the questions the
    criteria still leave open; follow it like a generation (`deep.events_url`)."""
    check = await design.check(session, story)
    if not deep:
        return StoryCheckOut(**check.model_dump())
    access.require_role(request, story.project_id, access.EDITOR, messages.STORY, story.id)
    access.audit_action(request, "check_deep")
    queued = await design.enqueue_deep_check(session, queue, story, slot, created_by=principal.user_id)
    return StoryCheckOut(**check.model_dump(), deep=links.job(queued.job, queued.warning))


@router.post("/test-design/pairwise", response_model=PairwiseOut, name="pairwise_examples")
async def pairwise_examples(body: PairwiseRequest) -> PairwiseOut:
    """The fewest Examples rows that hold every pair of the parameters' values (all-pairs), with how
    many they are against the full product of the values."""
    return await design.pairwise(body)
