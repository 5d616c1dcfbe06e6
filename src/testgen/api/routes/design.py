from __future__ import annotations

from fastapi import APIRouter

from testgen.api.deps import SessionDep, StoryDep
from testgen.api.openapi_doc import errors
from testgen.api.schemas.design import PairwiseOut, PairwiseRequest
from testgen.api.services import design
from testgen.domain.story_check import StoryCheck

router = APIRouter(tags=["review"])


@router.post(
    "/user-stories/{story_id}/check",
    response_model=StoryCheck,
    name="check_story",
    tags=["user stories"],
    responses=errors(404),
)
async def check_story(story: StoryDep, session: SessionDep) -> StoryCheck:
    """Lint the story before generating, offline: no acceptance criteria, criteria without an
    observable outcome, vague words, numbers without units, and/or, duplicated criteria. Each finding
    names the criterion and asks its author a question. Generation runs whatever it finds (a draft
    records the check it was written with)."""
    return await design.check(session, story)


@router.post("/test-design/pairwise", response_model=PairwiseOut, name="pairwise_examples")
async def pairwise_examples(body: PairwiseRequest) -> PairwiseOut:
    """The fewest Examples rows that hold every pair of the parameters' values (all-pairs), with how
    many they are against the full product of the values."""
    return await design.pairwise(body)
