"""Routes of the automation skeletons: a story's or a project's saved test cases as feature files
with pending step definitions for a test framework, in a zip."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from testgen.api.deps import ProjectDep, SessionDep, StoryDep
from testgen.api.openapi_doc import errors
from testgen.api.routes.review import file_response
from testgen.api.services import automation
from testgen.domain.automation import AutomationFramework

router = APIRouter(tags=["review"])

FrameworkQuery = Annotated[
    AutomationFramework,
    Query(description="the test framework whose step definitions the zip holds"),
]
_ZIP: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/zip": {}}, "description": "Feature files and step definitions"}
}


@router.get(
    "/user-stories/{story_id}/test-cases/automation",
    response_class=Response,
    responses={**errors(409), **_ZIP},
)
async def story_automation(story: StoryDep, session: SessionDep, framework: FrameworkQuery) -> Response:
    """The story's saved test cases as a feature file (as the Gherkin export writes it), and one
    pending step definition per distinct step for `framework`, with what the framework needs to run
    them."""
    return file_response(await automation.story_skeleton(session, story, framework))


@router.get(
    "/projects/{project_id}/test-cases/automation",
    response_class=Response,
    responses={**errors(409), **_ZIP},
)
async def project_automation(project: ProjectDep, session: SessionDep, framework: FrameworkQuery) -> Response:
    """A feature file per story with saved test cases, and one pending step definition per distinct
    step of them all. A project of more stories than the skeleton's bound answers 409."""
    return file_response(await automation.project_skeleton(session, project, framework))
