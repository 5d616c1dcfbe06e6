"""The tools: each one or a few REST calls with the caller's credentials, so that roles, validation and
error messages are the API's. Their inputs carry the REST routes' own types (and the API checks them
again); their answers are the API's models."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any
from urllib.parse import quote

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import EmbeddedResource, TextResourceContents, ToolAnnotations
from pydantic import Field, StrictBool, TypeAdapter

from testgen.api.deps import IdText
from testgen.api.routes.stories import TOTAL_COUNT_HEADER
from testgen.api.schemas.common import Count, LanguageTag, RowId, ScenarioIndex
from testgen.api.schemas.imports import MAX_LABELS, Label, Milestone
from testgen.api.schemas.jobs import (
    MAX_CASE_COMMENTS,
    CaseKey,
    GenerationJobOut,
    JiraImportJobOut,
    QueuedJob,
    RegenerateQueued,
    ReviewComment,
    ReviewRequest,
)
from testgen.api.schemas.projects import ProjectOut
from testgen.api.schemas.stories import StoryOut
from testgen.api.schemas.test_cases import DraftTestCaseEdit, SaveResult, StaleTestCaseOut
from testgen.data.job_states import JobStatus, StoryState
from testgen.domain.exports import ExportFormat, JiraProjectKey, XrayTestType
from testgen.domain.job_options import (
    DEFAULT_SCENARIOS_PER_CASE,
    DEFAULT_TEST_CASES,
    MAX_SCENARIOS_PER_CASE,
    MAX_TEST_CASES,
    MIN_SCENARIOS_PER_CASE,
    MIN_TEST_CASES,
    GitHubIssueState,
    ImportSource,
    JiraContext,
)
from testgen.domain.roles import ReviewAction
from testgen.domain.stories import MAX_CRITERIA, Priority
from testgen.domain.text_fields import Criterion, Description, SearchText, StoryId, Title
from testgen.mcp_server.outputs import (
    GenerationOutcome,
    ImportOutcome,
    JobView,
    ProjectList,
    RegenerationOutcome,
    StoryPage,
    StoryWithTests,
)
from testgen.mcp_server.rest import JOB, Api, JobEvent, JobOut

Connect = Callable[[Any], AbstractAsyncContextManager[Api]]  # the MCP call's HTTP request (or None)

FREE = " Costs no model call."
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)
CALLS_MODEL = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=True)

PROJECTS: TypeAdapter[list[ProjectOut]] = TypeAdapter(list[ProjectOut])
STORIES: TypeAdapter[list[StoryOut]] = TypeAdapter(list[StoryOut])
STORY: TypeAdapter[StoryOut] = TypeAdapter(StoryOut)
TEST_CASES: TypeAdapter[list[StaleTestCaseOut]] = TypeAdapter(list[StaleTestCaseOut])
QUEUED: TypeAdapter[QueuedJob] = TypeAdapter(QueuedJob)
REGENERATE_QUEUED: TypeAdapter[RegenerateQueued] = TypeAdapter(RegenerateQueued)
SAVED: TypeAdapter[SaveResult] = TypeAdapter(SaveResult)

TaskId = Annotated[IdText, Field(description="The task id a queued job was answered with")]
Wait = Annotated[
    StrictBool,
    Field(
        description="true: follow the job to its end (progress notifications as it goes) and answer its "
        "final state; false: answer at once with the task id"
    ),
]
TestCaseCount = Annotated[Count, Field(ge=MIN_TEST_CASES, le=MAX_TEST_CASES)]
ScenarioCount = Annotated[Count, Field(ge=MIN_SCENARIOS_PER_CASE, le=MAX_SCENARIOS_PER_CASE)]
DraftIndex = Annotated[
    int, Field(ge=0, lt=MAX_TEST_CASES, description="The test case's position in the draft, from 0")
]


def story_path(story_id: str) -> str:
    return f"/user-stories/{quote(story_id, safe='')}"


def job_path(task_id: str) -> str:
    return f"/generate-test-cases/{quote(task_id, safe='')}"


async def follow_to_end(api: Api, ctx: Context, task_id: str) -> JobOut:
    """Follow a job's events, each one a progress notification (queued, started, N%, the final one), and
    answer its final state as the status route gives it."""
    last = -1.0
    final: JobEvent | None = None
    async for event in api.follow(task_id):
        job = event.job
        # Progress only increases: the job's own percentage, nudged up when an event does not move it.
        value = 100.0 if event.final else max(min(float(job.progress), 99.0), last + 0.001)
        last = value
        text = job.message.strip()
        await ctx.report_progress(value, 100, f"{event.event}: {text}" if text else event.event)
        if event.final:
            final = event
    if final is None:
        raise ToolError(f"The events of job {task_id} ended before the job did; ask get_job for its state")
    return await api.job(task_id)


def failure(job: JobOut) -> ToolError | None:
    """The job's failure or cancellation as a tool error, in the job's own words; None when it completed."""
    if job.status == JobStatus.completed:
        return None
    if job.error is not None:
        return ToolError(f"Job {job.task_id} {job.status}: {job.error.message} ({job.error.type})")
    return ToolError(f"Job {job.task_id} {job.status}: {job.message}")


def register_tools(server: MCPServer, connect: Connect) -> None:
    """Every tool on `server`; `connect` gives the REST API as the caller of each call."""

    def api(ctx: Context) -> AbstractAsyncContextManager[Api]:
        return connect(ctx.request_context.request)

    @server.tool(
        annotations=READ_ONLY,
        description="List the projects you are a member of (server admins: all), with their settings." + FREE,
    )
    async def list_projects(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
        offset: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0,
    ) -> ProjectList:
        async with api(ctx) as rest:
            rows = await rest.read(PROJECTS, "GET", "/projects", params={"limit": limit, "offset": offset})
        return ProjectList(projects=rows)

    @server.tool(
        annotations=READ_ONLY,
        description="Search the user stories of your projects: by text in the id or title, by project and "
        "by state (no_tests, draft_ready, running, failed), a page at a time; `total` counts every match."
        + FREE,
    )
    async def search_stories(
        ctx: Context,
        query: SearchText | None = None,
        project_id: RowId | None = None,
        state: StoryState | None = None,
        limit: Annotated[int, Field(ge=1, le=1000)] = 50,
        offset: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0,
    ) -> StoryPage:
        params = {"q": query, "project_id": project_id, "state": state, "limit": limit, "offset": offset}
        async with api(ctx) as rest:
            response = await rest.call("GET", "/user-stories", params=params)
        total = response.headers.get(TOTAL_COUNT_HEADER, "")
        rows = STORIES.validate_json(response.content)
        count = int(total) if total.isdigit() else len(rows)
        return StoryPage(stories=rows, total=count, offset=offset, limit=limit)

    @server.tool(
        annotations=READ_ONLY,
        description="Read a user story with its acceptance criteria and its saved test cases (each naming "
        "the criteria it covers that changed since it was saved)." + FREE,
    )
    async def get_story(ctx: Context, story_id: StoryId) -> StoryWithTests:
        async with api(ctx) as rest:
            story = await rest.read(STORY, "GET", story_path(story_id))
            cases = await rest.read(TEST_CASES, "GET", story_path(story_id) + "/test-cases")
        return StoryWithTests(story=story, test_cases=cases)

    @server.tool(
        annotations=WRITES,
        description="Create a user story in one of your projects (an editor there): its id (e.g. US-001), "
        "title, description, acceptance criteria and priority; the language is the project's or detected."
        + FREE,
    )
    async def create_story(
        ctx: Context,
        id: StoryId,
        title: Title,
        project_id: RowId | None = None,
        description: Description = "",
        acceptance_criteria: Annotated[list[Criterion], Field(max_length=MAX_CRITERIA)] = [],  # noqa: B006
        priority: Priority = Priority.medium,
        language: LanguageTag | None = None,
    ) -> StoryOut:
        body = {
            "id": id,
            "title": title,
            "project_id": project_id,
            "description": description,
            "acceptance_criteria": acceptance_criteria,
            "priority": priority,
            "language": language,
        }
        async with api(ctx) as rest:
            return await rest.read(STORY, "POST", "/user-stories", body=body)

    @server.tool(
        annotations=WRITES,
        description="Change a user story (an editor of its project): only the fields given change; changed "
        "acceptance criteria mark the saved test cases that cover them as stale." + FREE,
    )
    async def update_story(
        ctx: Context,
        story_id: StoryId,
        title: Title | None = None,
        description: Description | None = None,
        acceptance_criteria: Annotated[list[Criterion] | None, Field(max_length=MAX_CRITERIA)] = None,
        priority: Priority | None = None,
        language: LanguageTag | None = None,
        project_id: Annotated[RowId | None, Field(description="Move it to this project")] = None,
    ) -> StoryOut:
        given = {
            "title": title,
            "description": description,
            "acceptance_criteria": acceptance_criteria,
            "priority": priority,
            "language": language,
            "project_id": project_id,
        }
        body = {k: v for k, v in given.items() if v is not None}
        if not body:
            raise ToolError("Give at least one field to change")
        async with api(ctx) as rest:
            return await rest.read(STORY, "PATCH", story_path(story_id), body=body)

    @server.tool(
        annotations=CALLS_MODEL,
        description="Queue the generation of a draft of test cases for a story (an editor of its project). "
        "Costs model calls: one per batch of test cases (a few per draft, one more per near-duplicate "
        "replaced), counted against the project's daily token budget. With wait: true, sends progress "
        "notifications (queued, started, N%, completed) and answers the draft; else answers the task id "
        "at once (follow it with get_job). A job already queued or running for the story is reused.",
    )
    async def generate_test_cases(
        ctx: Context,
        story_id: StoryId,
        num_test_cases: TestCaseCount = DEFAULT_TEST_CASES,
        scenarios_per_test_case: ScenarioCount = DEFAULT_SCENARIOS_PER_CASE,
        only_changed: Annotated[
            StrictBool, Field(description="Only the criteria new or changed since the saved test cases")
        ] = False,
        wait: Wait = False,
    ) -> GenerationOutcome:
        body = {
            "num_test_cases": num_test_cases,
            "scenarios_per_test_case": scenarios_per_test_case,
            "only_changed": only_changed,
        }
        async with api(ctx) as rest:
            queued = await rest.read(
                QUEUED, "POST", f"/generate-test-cases/{quote(story_id, safe='')}/queue", body=body
            )
            if not wait:
                return GenerationOutcome(queued=queued)
            job = await follow_to_end(rest, ctx, queued.task_id)
        if (error := failure(job)) is not None:
            raise error
        if not isinstance(job, GenerationJobOut):
            raise ToolError(f"Job {job.task_id} is not a generation")
        return GenerationOutcome(queued=queued, job=job)

    @server.tool(
        annotations=READ_ONLY,
        description="The state of a job (generation, regeneration, Jira import or push): status, progress, "
        "and once completed its result (a generation's draft with its quality report), or its error." + FREE,
    )
    async def get_job(ctx: Context, task_id: TaskId) -> JobView:
        async with api(ctx) as rest:
            return JobView(job=await rest.job(task_id))

    @server.tool(
        annotations=WRITES,
        description="Cancel a queued or running job (an editor of its project); model calls already made "
        "stay counted." + FREE,
    )
    async def cancel_job(ctx: Context, task_id: TaskId) -> JobView:
        async with api(ctx) as rest:
            return JobView(job=await rest.read(JOB, "POST", job_path(task_id) + "/cancel"))

    @server.tool(
        annotations=WRITES,
        description="Replace one test case of a completed, unsaved draft with the whole test case given "
        "(an editor); an approved draft goes back to review. Answers the draft." + FREE,
    )
    async def edit_draft_test_case(
        ctx: Context, task_id: TaskId, index: DraftIndex, test_case: DraftTestCaseEdit
    ) -> JobView:
        body = test_case.model_dump(mode="json")
        async with api(ctx) as rest:
            await rest.call("PATCH", f"{job_path(task_id)}/test-cases/{index}", body=body)
            return JobView(job=await rest.job(task_id))

    @server.tool(
        annotations=CALLS_MODEL,
        description="Write one test case of a completed draft again (an editor). Costs one model call (more "
        "when the answer is unusable and re-asked), counted against the project's daily token budget. With "
        "wait: true, sends progress notifications and answers the draft with the new test case.",
    )
    async def regenerate_test_case(
        ctx: Context, task_id: TaskId, index: DraftIndex, wait: Wait = False
    ) -> RegenerationOutcome:
        async with api(ctx) as rest:
            queued = await rest.read(
                REGENERATE_QUEUED, "POST", f"{job_path(task_id)}/test-cases/{index}/regenerate"
            )
            if not wait:
                return RegenerationOutcome(queued=queued)
            regeneration = await follow_to_end(rest, ctx, queued.task_id)
            draft = await rest.job(task_id)
        if (error := failure(regeneration)) is not None:
            raise error
        return RegenerationOutcome(
            queued=queued, draft=draft if isinstance(draft, GenerationJobOut) else None
        )

    @server.tool(
        annotations=WRITES,
        description="Take a step of a completed draft's review: `submit` it (an editor), `approve` it or "
        "`request_changes` (a reviewer of its project; approving one's own draft only where the project "
        "allows it), with a comment on the draft and comments on single test cases by their position "
        '({"0": "…"}). Answers the draft with its review.' + FREE,
    )
    async def review_draft(
        ctx: Context,
        task_id: TaskId,
        action: ReviewAction,
        comment: ReviewComment = "",
        test_case_comments: Annotated[dict[CaseKey, ReviewComment], Field(max_length=MAX_CASE_COMMENTS)] = {},  # noqa: B006
    ) -> JobView:
        review = ReviewRequest(action=action, comment=comment, test_case_comments=test_case_comments)
        async with api(ctx) as rest:
            path = job_path(task_id) + "/review"
            return JobView(job=await rest.read(JOB, "POST", path, body=review.model_dump(mode="json")))

    @server.tool(
        annotations=WRITES,
        description="Save a completed draft's test cases as the story's test cases (a reviewer of its "
        "project); with the project's review gate on, only an approved draft is saved. `test_cases` picks "
        "positions of the draft (default: all). Scenarios repeating a saved test case are skipped unless "
        "`keep` names them as [test case, scenario] positions among those saved." + FREE,
    )
    async def save_draft(
        ctx: Context,
        task_id: TaskId,
        test_cases: Annotated[list[DraftIndex] | None, Field(min_length=1, max_length=MAX_TEST_CASES)] = None,
        keep: Annotated[list[tuple[ScenarioIndex, ScenarioIndex]], Field(max_length=1000)] = [],  # noqa: B006
    ) -> SaveResult:
        body: dict[str, Any] = {"keep": [list(pair) for pair in keep]}
        async with api(ctx) as rest:
            if test_cases is not None:
                job = await rest.job(task_id)
                draft = job.result.test_cases if isinstance(job, GenerationJobOut) and job.result else []
                missing = [i for i in test_cases if i >= len(draft)]
                if missing:
                    raise ToolError(f"The draft has {len(draft)} test cases: no position {missing[0]}")
                body["test_cases"] = [draft[i].model_dump(mode="json") for i in test_cases]
            return await rest.read(SAVED, "POST", job_path(task_id) + "/save", body=body)

    @server.tool(
        annotations=READ_ONLY,
        description="Export a story's saved test cases as a file (embedded resource): gherkin (a Feature in "
        "the story's language), gherkin-tagged, csv, json, testrail-csv or xray-json (with project_key "
        "unless the story came from Jira)." + FREE,
        structured_output=False,
    )
    async def export_test_cases(
        ctx: Context,
        story_id: StoryId,
        format: ExportFormat = ExportFormat.gherkin,
        project_key: JiraProjectKey | None = None,
        xray_type: XrayTestType = XrayTestType.cucumber,
    ) -> EmbeddedResource:
        params = {"format": format.value, "project_key": project_key, "xray_type": xray_type.value}
        async with api(ctx) as rest:
            response = await rest.call("GET", story_path(story_id) + "/test-cases/export", params=params)
        media_type = response.headers.get("content-type", "text/plain").partition(";")[0]
        uri = f"testgen://stories/{quote(story_id, safe='')}/export?format={format.value}"
        return EmbeddedResource(
            type="resource",
            resource=TextResourceContents(uri=uri, mime_type=media_type, text=response.text),
        )

    @server.tool(
        annotations=CALLS_MODEL,
        description="Queue an import of stories into a project (an editor there): the Jira issues a JQL "
        "query finds (source jira, the default; the server needs its Jira settings; `with` brings their "
        "comments, links or attachments too), the issues of the project's GitHub connection (source "
        "github: labels, milestone, state) or the work items a WIQL query finds through its Azure DevOps "
        "connection (source azure-devops). New issues are created, changed ones updated. Costs no model "
        "call (the tracker's API is called). With wait: true, sends progress notifications and answers "
        "the summary.",
    )
    async def import_from_jira(
        ctx: Context,
        project_id: RowId,
        jql: Annotated[
            str | None, Field(min_length=1, max_length=4000, description="Jira: e.g. project = SHOP")
        ] = None,
        with_: Annotated[
            list[JiraContext] | None,
            Field(
                title="With",
                max_length=len(JiraContext),
                description="Jira: what each story brings besides the issue's text",
            ),
        ] = None,
        source: Annotated[
            ImportSource,
            Field(description="jira, or github or azure-devops through the project's connection"),
        ] = ImportSource.jira,
        labels: Annotated[
            list[Label] | None,
            Field(max_length=MAX_LABELS, description="GitHub: only issues with every one of these labels"),
        ] = None,
        milestone: Annotated[
            Milestone | None,
            Field(description='GitHub: a milestone number, "*" (any milestone) or "none" (no milestone)'),
        ] = None,
        state: Annotated[
            GitHubIssueState | None, Field(description="GitHub: open (default), closed or all")
        ] = None,
        wiql: Annotated[
            str | None,
            Field(min_length=1, max_length=32_000, description="Azure DevOps: a flat WIQL query"),
        ] = None,
        wait: Wait = False,
    ) -> ImportOutcome:
        given = {
            "jql": jql,
            "with": with_,
            "labels": labels,
            "milestone": milestone,
            "state": state,
            "wiql": wiql,
        }
        # The options of another source go to the route too, which refuses them by name.
        body = {k: v for k, v in given.items() if v is not None}
        async with api(ctx) as rest:
            queued = await rest.read(
                QUEUED, "POST", f"/projects/{project_id}/imports/{source.value}", body=body
            )
            if not wait:
                return ImportOutcome(queued=queued)
            job = await follow_to_end(rest, ctx, queued.task_id)
        if (error := failure(job)) is not None:
            raise error
        return ImportOutcome(queued=queued, job=job if isinstance(job, JiraImportJobOut) else None)
