"""The resources (a story, its saved test cases as Gherkin) and the prompt that reviews a draft, read
through the REST API as the caller."""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import quote

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.types import Resource
from pydantic import Field

from testgen.api.deps import IdText
from testgen.api.schemas.jobs import GenerationJobOut
from testgen.api.schemas.stories import StoryOut
from testgen.mcp_server.rest import ApiError
from testgen.mcp_server.tools import STORIES, STORY, Connect, story_path

STORY_URI = "testgen://stories/{story_id}"
FEATURE_URI = "testgen://stories/{story_id}/feature"
LISTED_STORIES = 200  # per listing page
DraftTask = Annotated[IdText, Field(description="The generation job whose draft to review")]


def story_uri(story_id: str) -> str:
    return STORY_URI.format(story_id=quote(story_id, safe=""))


def listed(story: StoryOut) -> list[Resource]:
    """A story's two resources as a listing names them (with its project)."""
    project = f"project {story.project_id}" if story.project_id is not None else "no project"
    return [
        Resource(
            uri=story_uri(story.id),
            name=f"{story.id}: {story.title}",
            description=f"The user story {story.id} ({project}) with its acceptance criteria",
            mime_type="application/json",
        ),
        Resource(
            uri=FEATURE_URI.format(story_id=quote(story.id, safe="")),
            name=f"{story.id}.feature",
            description=f"The saved test cases of {story.id} ({project}) as a Gherkin Feature",
            mime_type="text/x-gherkin",
        ),
    ]


async def list_story_resources(connect: Connect, request: object, offset: int) -> tuple[list[Resource], int]:
    """A page of the caller's stories as resources, project by project; the next page's offset."""
    async with connect(request) as rest:
        response = await rest.call("GET", "/user-stories", params={"limit": LISTED_STORIES, "offset": offset})
    stories = sorted(STORIES.validate_json(response.content), key=lambda s: (s.project_id or 0, s.id))
    return [resource for story in stories for resource in listed(story)], offset + len(stories)


def register_resources(server: MCPServer, connect: Connect) -> None:
    """The resource templates and the prompt on `server`."""

    @server.resource(
        STORY_URI,
        name="story",
        description="A user story with its acceptance criteria (JSON, as GET /user-stories/{id} answers)",
        mime_type="application/json",
    )
    async def story(story_id: str, ctx: Context) -> str:
        try:
            async with connect(ctx.request_context.request) as rest:
                response = await rest.call("GET", story_path(story_id))
        except ApiError as exc:
            raise resource_error(exc) from None
        return response.text

    @server.resource(
        FEATURE_URI,
        name="story-feature",
        description="A story's saved test cases as one Gherkin Feature in the story's language",
        mime_type="text/x-gherkin",
    )
    async def feature(story_id: str, ctx: Context) -> str:
        try:
            async with connect(ctx.request_context.request) as rest:
                path = story_path(story_id) + "/test-cases/export"
                response = await rest.call("GET", path, params={"format": "gherkin"})
        except ApiError as exc:
            raise resource_error(exc) from None
        return response.text

    @server.prompt(
        name="review_draft",
        description="Review a generated draft against its story's acceptance criteria: which criteria each "
        "test case covers, what is missing, what is wrong or repeated, and which edits to make",
    )
    async def review_draft(task_id: DraftTask, ctx: Context) -> str:
        async with connect(ctx.request_context.request) as rest:
            job = await rest.job(task_id)
            if not isinstance(job, GenerationJobOut) or job.result is None or job.story_id is None:
                raise ResourceError(f"Job {task_id} has no draft to review (status: {job.status})")
            story = await rest.read(STORY, "GET", story_path(job.story_id))
        criteria = "\n".join(f"{i}. {text}" for i, text in enumerate(story.acceptance_criteria))
        drafted = [case.model_dump(mode="json") for case in job.result.test_cases]
        cases = json.dumps(drafted, ensure_ascii=False, indent=1)
        return (
            f'Review this draft of test cases for the user story {story.id} "{story.title}" against its '
            "acceptance criteria.\n\n"
            f"Story description:\n{story.description or '(none)'}\n\n"
            f"Acceptance criteria (by position):\n{criteria or '(none)'}\n\n"
            f"Draft test cases (job {job.task_id}; `covered_criteria` are positions above):\n{cases}\n\n"
            "For each criterion, say which test cases cover it and whether they really test it. Then list: "
            "criteria with no test, test cases that repeat another, steps that are vague, wrong or not "
            "checkable, and anything that is not in the story. Propose each fix as a whole test case for "
            "the edit_draft_test_case tool (with its index), and say when the draft is ready to save_draft."
        )


def resource_error(exc: ApiError) -> ResourceError:
    """An API refusal while reading a resource: a 404 (unknown, or another project's) is not found."""
    if exc.status == 404:
        return ResourceNotFoundError(str(exc))
    return ResourceError(str(exc))
