"""Routes of the automation skeletons: a story's or a project's saved test cases as feature files
with pending step definitions for a test framework, in a zip."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from testgen.api.deps import (
    JobLinksDep,
    JobQueueDep,
    JobSlotDep,
    PrincipalDep,
    ProjectDep,
    SessionDep,
    StoryDep,
)
from testgen.api.openapi_doc import errors
from testgen.api.routes.review import file_response
from testgen.api.schemas.automation import AutomationFillRequest
from testgen.api.schemas.jobs import QueuedJob
from testgen.api.services import automation, automation_fill
from testgen.domain.automation import AutomationFramework
from testgen.domain.text_fields import NO_NUL_PATTERN

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
    responses={**errors(400, 409), **_ZIP},
)
async def story_automation(
    story: StoryDep,
    session: SessionDep,
    framework: FrameworkQuery,
    task_id: Annotated[
        str | None,
        Query(
            max_length=200,
            pattern=NO_NUL_PATTERN,
            description="A completed fill job of the story (POST …/automation/fill): its proposed "
            "bodies in place, each marked for review; absent: every step pending",
        ),
    ] = None,
    fill: Annotated[
        Literal["playwright"] | None,
        # Not part of the download's contract: asked as the model pass, it answers 400 naming the POST.
        Query(include_in_schema=False),
    ] = None,
) -> Response:
    """The story's saved test cases as a feature file (as the Gherkin export writes it), and one
    pending step definition per distinct step for `framework`, with what the framework needs to run
    them. With `task_id`, the playwright-bdd steps the model proposed a body for hold that body under a
    `// PROPOSAL from <model> — review before use` comment; a job of another story is not found, one
    not completed is 409."""
    return file_response(await automation.story_skeleton(session, story, framework, task_id, fill))


@router.post(
    "/user-stories/{story_id}/test-cases/automation/fill",
    status_code=202,
    response_model=QueuedJob,
    responses=errors(409, 429),
)
async def fill_automation(
    data: AutomationFillRequest,
    story: StoryDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
) -> QueuedJob:
    """Queue the optional model pass over the story's playwright-bdd skeleton: the provider is asked,
    in batches, for a TypeScript body per distinct step from the step text alone (nothing is browsed),
    navigating from `base_url`. Follow it with the generation status and event endpoints
    ("Proposed bodies for N/M steps"), cancel it the same way; its calls count toward the project's
    daily token budget. Once completed, GET …/automation?framework=playwright-bdd&task_id=… gives the
    skeleton with each proposal marked for review; a step without a usable proposal stays pending."""
    queued = await automation_fill.enqueue_fill(
        session, queue, story, data, slot, created_by=principal.user_id
    )
    return links.job(queued.job, queued.warning)


@router.get(
    "/projects/{project_id}/test-cases/automation",
    response_class=Response,
    responses={**errors(409), **_ZIP},
)
async def project_automation(project: ProjectDep, session: SessionDep, framework: FrameworkQuery) -> Response:
    """A feature file per story with saved test cases, and one pending step definition per distinct
    step of them all. A project of more stories than the skeleton's bound answers 409."""
    return file_response(await automation.project_skeleton(session, project, framework))
