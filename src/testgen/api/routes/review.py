from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response

from testgen.api import access
from testgen.api.deps import (
    JobDep,
    JobLinksDep,
    JobQueueDep,
    JobSlotDep,
    PrincipalDep,
    ProjectDep,
    RedisDep,
    SessionDep,
    SettingsDep,
    StoryDep,
    TestCaseDep,
)
from testgen.api.openapi_doc import errors
from testgen.api.schemas.jobs import (
    ExtendQueued,
    ExtendRequest,
    InboxItem,
    JobStatusOut,
    RegenerateQueued,
    RegenerateRequest,
    ReviewRequest,
)
from testgen.api.schemas.test_cases import (
    DraftTestCaseEdit,
    SaveRequest,
    SaveResult,
    TestCaseOut,
    TestCaseUpdate,
)
from testgen.api.services import export, review, review_gate
from testgen.domain.exports import ExportFormat, JiraProjectKey, XrayTestType

router = APIRouter(tags=["review"])
MAX_INBOX_PAGE = 200


@router.post(
    "/generate-test-cases/{task_id}/save",
    status_code=201,
    response_model=SaveResult,
    responses=errors(409),
)
async def save_test_cases(
    job: JobDep,
    session: SessionDep,
    settings: SettingsDep,
    data: Annotated[SaveRequest | None, Body()] = None,
) -> object:
    """Scenarios that repeat a saved test case of the story are skipped unless `keep` names them. With
    the project's `review_required`, only an approved draft is saved, as approved."""
    request = data or SaveRequest()
    ids, skipped = await review.save(
        session, job, request.test_cases, request.keep, settings.duplicate_threshold
    )
    return SaveResult(saved=len(ids), test_case_ids=ids, skipped=skipped)


@router.delete("/generate-test-cases/{task_id}", status_code=204, responses=errors(409))
async def discard_draft(job: JobDep, session: SessionDep, redis: RedisDep) -> Response:
    await review.discard(session, redis, job)
    return Response(status_code=204)


@router.post(
    "/generate-test-cases/{task_id}/test-cases/{index}/regenerate",
    status_code=202,
    response_model=RegenerateQueued,
    responses=errors(409),
)
async def regenerate_test_case(
    job: JobDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
    index: Annotated[int, Path(ge=0, lt=10_000)],
    body: Annotated[RegenerateRequest | None, Body()] = None,
) -> object:
    """An approved draft is in review again: its test case changes. An `instruction` says what the
    new version should do differently."""
    queued = await review.regenerate(
        session,
        queue,
        job,
        index,
        slot,
        created_by=principal.user_id,
        actor=review_gate.actor_name(principal),
        instruction=body.instruction if body is not None else "",
    )
    answer = links.job(queued.job, queued.warning)
    return RegenerateQueued(**answer.model_dump(), parent_id=job.id, index=index)


@router.post(
    "/generate-test-cases/{task_id}/extend",
    status_code=202,
    response_model=ExtendQueued,
    responses=errors(409),
)
async def extend_draft(
    job: JobDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
    body: ExtendRequest,
) -> object:
    """Add `num_test_cases` test cases to a completed draft, as a job with progress (its kind is
    `regenerate`, its options say `extend`): none repeats a scenario the draft holds (the
    near-duplicate check applies), an `instruction` says what they should do. An approved draft is in
    review again."""
    queued = await review.extend(
        session,
        queue,
        job,
        body.num_test_cases,
        body.instruction,
        slot,
        created_by=principal.user_id,
        actor=review_gate.actor_name(principal),
    )
    answer = links.job(queued.job, queued.warning)
    start = int(queued.job.options["index"])
    return ExtendQueued(
        **answer.model_dump(), parent_id=job.id, index=start, num_test_cases=body.num_test_cases
    )


@router.post("/generate-test-cases/{task_id}/review", response_model=JobStatusOut, responses=errors(409))
async def review_draft(
    request: Request, job: JobDep, session: SessionDep, principal: PrincipalDep, data: ReviewRequest
) -> object:
    """Submit a completed draft for review (an editor), approve it or request changes (a reviewer),
    with a comment on the draft and on single test cases; the job's status lists the steps."""
    access.audit_action(request, f"review_{data.action.value}")
    return await review_gate.review(session, job, principal, data)


@router.patch(
    "/generate-test-cases/{task_id}/test-cases/{index}",
    response_model=JobStatusOut,
    responses=errors(409),
)
async def edit_draft_test_case(
    job: JobDep,
    session: SessionDep,
    principal: PrincipalDep,
    data: DraftTestCaseEdit,
    index: Annotated[int, Path(ge=0, lt=10_000)],
) -> object:
    """Replace test case `index` of a completed draft; an approved draft is in review again."""
    return await review_gate.edit_test_case(session, job, principal, index, data)


@router.get("/reviews/inbox", response_model=list[InboxItem])
async def review_inbox(
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=MAX_INBOX_PAGE, description="Drafts per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1, description="Drafts to skip")] = 0,
) -> object:
    """Drafts in review that the caller may approve (projects where they are a reviewer or above, not
    their own unless the project allows self-approval), the longest waiting first."""
    access.project_ids_visible(request)
    rows = await review_gate.inbox(session, principal, limit, offset)
    return [InboxItem(**row._asdict()) for row in rows]


@router.get("/user-stories/{story_id}/drafts", response_model=list[JobStatusOut])
async def list_drafts(story: StoryDep, session: SessionDep) -> object:
    return await review.list_drafts(session, story)


@dataclass(frozen=True)
class ExportQuery:
    fmt: ExportFormat
    options: export.ExportOptions


async def export_query(
    fmt: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.json,
    project_key: Annotated[
        JiraProjectKey | None,
        Query(
            description="xray-json: the Jira project its tests go to; omitted, a story imported from "
            "Jira sends them to its own project (SHOP-12: SHOP) and one written here answers 409"
        ),
    ] = None,
    xray_type: Annotated[
        XrayTestType, Query(description="xray-json: the Xray test type")
    ] = XrayTestType.cucumber,
) -> ExportQuery:
    """The query parameters every export takes."""
    return ExportQuery(fmt, export.ExportOptions(project_key=project_key, xray_type=xray_type))


ExportQueryDep = Annotated[ExportQuery, Depends(export_query)]


@router.get(
    "/user-stories/{story_id}/test-cases/export",
    response_class=Response,
    responses={
        **errors(409),
        200: {
            "content": {"text/x-gherkin": {}, "text/csv": {}, "application/json": {}},
            "description": "The story's saved test cases as a file",
        },
    },
)
async def export_test_cases(story: StoryDep, session: SessionDep, query: ExportQueryDep) -> Response:
    return file_response(await export.export_story(session, story, query.fmt, query.options))


def file_response(out: export.Export) -> Response:
    disposition = f'attachment; filename="{out.filename}"'
    return Response(out.content, media_type=out.media_type, headers={"Content-Disposition": disposition})


@router.get(
    "/projects/{project_id}/test-cases/export",
    response_class=Response,
    responses={
        **errors(409),
        200: {
            "content": {"application/zip": {}, "text/csv": {}, "application/json": {}},
            "description": "The saved test cases of every story of the project as a file (Gherkin: a zip)",
        },
    },
)
async def export_project_test_cases(
    project: ProjectDep, session: SessionDep, query: ExportQueryDep
) -> Response:
    return file_response(await export.export_project(session, project, query.fmt, query.options))


@router.get("/test-cases/{test_case_id}", response_model=TestCaseOut, tags=["test cases"])
async def get_test_case(case: TestCaseDep) -> object:
    return case


@router.patch(
    "/test-cases/{test_case_id}", response_model=TestCaseOut, tags=["test cases"], responses=errors(409)
)
async def update_test_case(case: TestCaseDep, data: TestCaseUpdate, session: SessionDep) -> object:
    return await review.update_test_case(session, case, data)


@router.delete("/test-cases/{test_case_id}", status_code=204, tags=["test cases"])
async def delete_test_case(case: TestCaseDep, session: SessionDep) -> Response:
    await review.delete_test_case(session, case)
    return Response(status_code=204)
