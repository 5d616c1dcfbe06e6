from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from testgen.api.deps import JobLinksDep, JobQueueDep, JobSlotDep, PrincipalDep, ProjectDep, SessionDep
from testgen.api.job_links import JobLinks
from testgen.api.schemas.imports import AzureDevOpsImportRequest, GitHubImportRequest, JiraImportRequest
from testgen.api.schemas.jobs import QueuedJob
from testgen.api.services import imports
from testgen.api.services.jobs import Queued
from testgen.domain.job_options import GitHubFilter, ImportSource, JiraImportJobOptions

router = APIRouter(prefix="/projects", tags=["imports"])


def _answer(links: JobLinks, queued: Queued) -> JSONResponse:
    """202 with the new job's links, or 200 with those of the project's import already under way."""
    answer = links.job(queued.job, queued.warning)
    return JSONResponse(answer.model_dump(mode="json"), status_code=202 if queued.created else 200)


@router.post(
    "/{project_id}/imports/jira",
    status_code=202,
    response_model=QueuedJob,
    responses={
        200: {"model": QueuedJob, "description": "An import of this project is already queued or running"},
        503: {"description": "Jira is not configured on this server (JIRA_BASE_URL and credentials)"},
    },
)
async def import_from_jira(
    data: JiraImportRequest,
    project: ProjectDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Queue a job that reads the issues `jql` finds and writes them as stories of the project (with
    their comments, links and sub-tasks as `with` asks); follow it with the generation status and event
    endpoints, cancel it the same way."""
    options = JiraImportJobOptions(jql=data.jql, include=data.with_ or None)
    queued = await imports.enqueue_import(
        session, queue, project, options, slot, created_by=principal.user_id
    )
    return _answer(links, queued)


@router.post(
    "/{project_id}/imports/github",
    status_code=202,
    response_model=QueuedJob,
    responses={
        200: {"model": QueuedJob, "description": "An import of this project is already queued or running"},
        409: {"description": "The project has no GitHub connection"},
    },
)
async def import_from_github(
    data: GitHubImportRequest,
    project: ProjectDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Queue a job that reads the issues of the repository of the project's `github` connection (by
    labels, milestone and state; pull requests left out) and writes them as stories of the project;
    follow and cancel it as a Jira import."""
    options = JiraImportJobOptions(
        source=ImportSource.github,
        github=GitHubFilter(
            labels=list(dict.fromkeys(data.labels)), milestone=data.milestone, state=data.state
        ),
    )
    queued = await imports.enqueue_import(
        session, queue, project, options, slot, created_by=principal.user_id
    )
    return _answer(links, queued)


@router.post(
    "/{project_id}/imports/azure-devops",
    status_code=202,
    response_model=QueuedJob,
    responses={
        200: {"model": QueuedJob, "description": "An import of this project is already queued or running"},
        409: {"description": "The project has no Azure DevOps connection"},
    },
)
async def import_from_azure_devops(
    data: AzureDevOpsImportRequest,
    project: ProjectDep,
    session: SessionDep,
    queue: JobQueueDep,
    slot: JobSlotDep,
    links: JobLinksDep,
    principal: PrincipalDep,
) -> JSONResponse:
    """Queue a job that reads the work items `wiql` finds through the project's `azure-devops`
    connection and writes them as stories of the project; follow and cancel it as a Jira import."""
    options = JiraImportJobOptions(source=ImportSource.azure_devops, wiql=data.wiql)
    queued = await imports.enqueue_import(
        session, queue, project, options, slot, created_by=principal.user_id
    )
    return _answer(links, queued)
