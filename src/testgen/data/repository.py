"""Database queries shared by services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from testgen.data.job_states import ACTIVE, GIVE_UP, RUNNING, SAVE, JobKind, JobStatus, StoryState, Transition
from testgen.data.models import (
    GenerationJob,
    Project,
    ReviewStep,
    StoryAttachment,
    StoryRevision,
    TestCase,
    UserStory,
    utcnow,
)
from testgen.domain.job_errors import JobError


async def get_project(session: AsyncSession, project_id: int) -> Project | None:
    return await session.get(Project, project_id)


# Built once, like the queries below that every enqueue runs: building a select and its cache key
# took 25-40 us per call.
_PROJECT_LLM = (
    select(Project.llm_provider, Project.llm_model, Project.token_budget_daily)
    .join(UserStory, UserStory.project_id == Project.id)
    .where(UserStory.id == bindparam("story_id"))
)


async def project_llm(session: AsyncSession, story_id: str) -> tuple[str | None, str | None, int | None]:
    """The LLM provider and model chosen by the project of story `story_id` (None: the defaults), and
    the project's daily token budget (None: none), in one query (it is on every enqueue's path)."""
    row = (await session.execute(_PROJECT_LLM, {"story_id": story_id})).first()
    return (row[0], row[1], row[2]) if row is not None else (None, None, None)


async def project_language(session: AsyncSession, project_id: int) -> str | None:
    """The language chosen for project `project_id` (None: none chosen, or no such project)."""
    query = select(Project.language).where(Project.id == project_id)
    return (await session.execute(query)).scalar_one_or_none()


async def get_project_by_name(session: AsyncSession, name: str) -> Project | None:
    return (await session.execute(select(Project).where(Project.name == name))).scalar_one_or_none()


async def list_projects(
    session: AsyncSession, limit: int, offset: int, visible: Sequence[int] | None = None
) -> Sequence[Project]:
    """One page of projects; `visible`: only these (a member's), None: all."""
    query = select(Project).order_by(Project.id).limit(limit).offset(offset)
    if visible is not None:
        query = query.where(Project.id.in_(visible))
    return (await session.execute(query)).scalars().all()


async def get_story(session: AsyncSession, story_id: str) -> UserStory | None:
    return await session.get(UserStory, story_id)


def _story_filters(
    project_id: int | None, search: str | None, state: StoryState | None, visible: Sequence[int] | None
) -> list[ColumnElement[bool]]:
    """The WHERE clauses of a story list: its project, an id or title containing `search`, its state,
    and the projects the caller sees (`visible`; None: all)."""
    where: list[ColumnElement[bool]] = []
    if visible is not None:
        where.append(UserStory.project_id.in_(visible))
    if project_id is not None:
        where.append(UserStory.project_id == project_id)
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        where.append(
            or_(UserStory.id.ilike(pattern, escape="\\"), UserStory.title.ilike(pattern, escape="\\"))
        )
    if state is StoryState.no_tests:
        where.append(~select(TestCase.id).where(TestCase.story_id == UserStory.id).exists())
    elif state is StoryState.running:
        active = [s.value for s in ACTIVE]
        where.append(
            select(GenerationJob.id)
            .where(
                GenerationJob.story_id == UserStory.id,
                GenerationJob.kind == JobKind.generate.value,
                GenerationJob.status.in_(active),
            )
            .exists()
        )
    elif state is not None:
        latest = (
            select(GenerationJob.id)
            .where(GenerationJob.story_id == UserStory.id, GenerationJob.kind == JobKind.generate.value)
            .order_by(GenerationJob.created_at.desc(), GenerationJob.id.desc())
            .limit(1)
            .correlate(UserStory)
            .scalar_subquery()
        )
        status = JobStatus.completed if state is StoryState.draft_ready else JobStatus.failed
        condition = and_(GenerationJob.id == latest, GenerationJob.status == status.value)
        if state is StoryState.draft_ready:
            condition = and_(condition, GenerationJob.saved_at.is_(None))
        where.append(select(GenerationJob.id).where(condition).exists())
    return where


async def list_stories(
    session: AsyncSession,
    project_id: int | None,
    limit: int | None,
    offset: int,
    *,
    search: str | None = None,
    state: StoryState | None = None,
    visible: Sequence[int] | None = None,
) -> Sequence[UserStory]:
    """One page of stories (`limit` None: all of them), oldest first."""
    where = _story_filters(project_id, search, state, visible)
    query = select(UserStory).where(*where).order_by(UserStory.created_at, UserStory.id)
    return (await session.execute(query.limit(limit).offset(offset))).scalars().all()


async def count_stories(
    session: AsyncSession,
    project_id: int | None,
    *,
    search: str | None = None,
    state: StoryState | None = None,
    visible: Sequence[int] | None = None,
) -> int:
    where = _story_filters(project_id, search, state, visible)
    return int(
        (await session.execute(select(func.count()).select_from(UserStory).where(*where))).scalar_one()
    )


async def list_test_cases(session: AsyncSession, story_id: str) -> Sequence[TestCase]:
    query = select(TestCase).where(TestCase.story_id == story_id).order_by(TestCase.id)
    return (await session.execute(query)).scalars().all()


async def get_job(session: AsyncSession, task_id: str) -> GenerationJob | None:
    return await session.get(GenerationJob, task_id)


class ProjectSettings(NamedTuple):
    """What a generation job reads of its story's project."""

    instructions: str
    token_budget_daily: int | None
    language: str | None
    techniques: list[str] | None = None


class StoryExtras(NamedTuple):
    """What loading a job reads besides its story, so that a generation job need not ask again."""

    project: ProjectSettings | None  # None for a story without a project
    has_saved_tests: bool
    has_attachments: bool = True  # False: the story has none (not asked again)


_JOBS, _STORIES, _PROJECTS = GenerationJob.__table__.c, UserStory.__table__.c, Project.__table__.c
# The columns of a ProjectSettings, in its order.
_SETTINGS = (
    _PROJECTS.instructions,
    _PROJECTS.token_budget_daily,
    _PROJECTS.language,
    _PROJECTS.default_techniques,
)


def _settings(
    instructions: str | None, budget: int | None, language: str | None, techniques: list[str] | None = None
) -> ProjectSettings:
    return ProjectSettings(instructions or "", budget, language, techniques or None)


_EXTRAS = (
    _PROJECTS.id,
    *_SETTINGS,
    exists().where(TestCase.__table__.c.story_id == _STORIES.id).label("has_saved_tests"),
    exists().where(StoryAttachment.__table__.c.story_id == _STORIES.id).label("has_attachments"),
)
# Built once: constructing this select took a tenth of a millisecond per call.
_JOBS_WITH_STORIES = (
    select(*_JOBS, *_STORIES, *_EXTRAS)
    .select_from(
        GenerationJob.__table__.outerjoin(UserStory.__table__, _JOBS.story_id == _STORIES.id).outerjoin(
            Project.__table__, _STORIES.project_id == _PROJECTS.id
        )
    )
    .where(_JOBS.id.in_(bindparam("ids", expanding=True)))
)

Loaded = tuple[GenerationJob, UserStory | None, StoryExtras | None]


async def load_jobs_with_stories(connection: AsyncConnection, task_ids: Sequence[str]) -> dict[str, Loaded]:
    """The jobs among `task_ids` with their stories and what generation reads besides (a job whose
    story is gone is left out; a project's job, which has none, comes with None, None), as detached
    objects. Core, not the ORM session: this is on every job's critical path, and a Core query costs
    half as much."""
    found: dict[str, Loaded] = {}
    jobs_end = len(_JOBS)
    stories_end = jobs_end + len(_STORIES)
    for row in await connection.execute(_JOBS_WITH_STORIES, {"ids": list(task_ids)}):
        job = GenerationJob(**dict(zip(_JOBS.keys(), row[:jobs_end], strict=True)))
        story_values = dict(zip(_STORIES.keys(), row[jobs_end:stories_end], strict=True))
        project_id, instructions, budget, language, techniques, has_saved_tests, has_files = row[stories_end:]
        if story_values["id"] is not None:
            project = (
                _settings(instructions, budget, language, techniques) if project_id is not None else None
            )
            extras = StoryExtras(project, bool(has_saved_tests), bool(has_files))
            found[job.id] = (job, UserStory(**story_values), extras)
        elif job.story_id is None:
            found[job.id] = (job, None, None)
    return found


def guard(transition: Transition) -> ColumnElement[bool]:
    """The condition under which `transition` may change a job row."""
    condition = GenerationJob.status.in_([s.value for s in transition.sources])
    return and_(condition, GenerationJob.saved_at.is_(None)) if transition.unsaved else condition


async def change_jobs(
    connection: AsyncConnection, transition: Transition, changes: Sequence[tuple[str, Mapping[str, Any]]]
) -> set[str]:
    """Apply `transition` to each (task id, column values) whose row it may change; return those ids.

    The only place a job row changes after its INSERT. One change is one UPDATE ... RETURNING (it locks
    and checks the row itself, so it may run outside a transaction). For several, the rows are locked
    first (FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE already holds the write lock), so the
    answer is exact, and changes that set the same columns share one executemany.
    """
    target = {"status": transition.target.value} if transition.target is not None else {}
    if len(changes) == 1 and not transition.deletes:
        task_id, values = changes[0]
        one = (
            update(GenerationJob)
            .where(GenerationJob.id == task_id, guard(transition))
            .values({**values, **target})
            .returning(GenerationJob.id)
        )
        return set((await connection.execute(one)).scalars().all())
    ids = [task_id for task_id, _ in changes]
    won = set(
        (
            await connection.execute(
                select(GenerationJob.id).where(GenerationJob.id.in_(ids), guard(transition)).with_for_update()
            )
        )
        .scalars()
        .all()
    )
    if transition.deletes:
        if won:
            await connection.execute(delete(GenerationJob).where(GenerationJob.id.in_(won)))
        return won
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for task_id, values in changes:
        if task_id in won:
            params = {f"v_{key}": value for key, value in {**values, **target}.items()}
            by_columns.setdefault(tuple(sorted({**values, **target})), []).append({"v_id": task_id, **params})
    for columns, rows in by_columns.items():
        statement = (
            update(GenerationJob)
            .where(GenerationJob.id == bindparam("v_id"))
            .values({c: bindparam(f"v_{c}", type_=getattr(GenerationJob, c).type) for c in columns})
        )
        await connection.execute(statement, rows)  # executemany: one round trip per shape
    return won


async def change_job(session: AsyncSession, transition: Transition, task_id: str, **values: Any) -> bool:
    """`change_jobs` for one job, in the session's transaction; whether it won."""
    connection = await session.connection()
    return task_id in await change_jobs(connection, transition, [(task_id, values)])


async def give_up_job(session: AsyncSession, task_id: str, error: JobError) -> bool:
    """Fail an active job arq gave up on, in the session's transaction; whether this call failed it
    (False when a request or a worker's reaper settled it first)."""
    values = {"message": error.message, "finished_at": utcnow(), "error": error.model_dump(mode="json")}
    return await change_job(session, GIVE_UP, task_id, **values)


async def get_stories(session: AsyncSession, story_ids: Sequence[str]) -> dict[str, UserStory]:
    if not story_ids:
        return {}
    query = select(UserStory).where(UserStory.id.in_(list(story_ids)))
    return {story.id: story for story in (await session.execute(query)).scalars().all()}


async def list_project_test_cases(session: AsyncSession, project_id: int) -> Sequence[TestCase]:
    """The saved test cases of every story of a project, story by story."""
    query = (
        select(TestCase)
        .join(UserStory, TestCase.story_id == UserStory.id)
        .where(UserStory.project_id == project_id)
        .order_by(UserStory.created_at, UserStory.id, TestCase.id)
    )
    return (await session.execute(query)).scalars().all()


async def get_active_project_job(
    session: AsyncSession, project_id: int, kind: JobKind
) -> GenerationJob | None:
    query = select(GenerationJob).where(
        GenerationJob.project_id == project_id,
        GenerationJob.kind == kind,
        GenerationJob.status.in_([s.value for s in ACTIVE]),
    )
    return (await session.execute(query)).scalars().first()


_ACTIVE_JOB = select(GenerationJob).where(
    GenerationJob.story_id == bindparam("story_id"),
    GenerationJob.kind == JobKind.generate,
    GenerationJob.status.in_([s.value for s in ACTIVE]),
)


async def get_active_job(session: AsyncSession, story_id: str) -> GenerationJob | None:
    return (await session.execute(_ACTIVE_JOB, {"story_id": story_id})).scalars().first()


async def stories_to_queue(
    session: AsyncSession,
    *,
    story_ids: Sequence[str] | None = None,
    project_id: int | None = None,
    only_without_tests: bool = False,
    limit: int,
) -> Sequence[tuple[str, int | None, str | None, str | None]]:
    """(story id, project id, its LLM provider, its LLM model) of the stories named, or of the
    project's stories by id, at most `limit`; with `only_without_tests`, those with no saved test case."""
    query = select(UserStory.id, UserStory.project_id, Project.llm_provider, Project.llm_model).outerjoin(
        Project, Project.id == UserStory.project_id
    )
    if story_ids is not None:
        query = query.where(UserStory.id.in_(story_ids))
    else:
        query = query.where(UserStory.project_id == project_id).order_by(UserStory.id)
    if only_without_tests:
        query = query.where(~select(TestCase.id).where(TestCase.story_id == UserStory.id).exists())
    rows = await session.execute(query.limit(limit))
    return [(row[0], row[1], row[2], row[3]) for row in rows]


async def default_deliveries(session: AsyncSession, project_ids: Sequence[int]) -> dict[int, str]:
    """The default delivery of each of `project_ids` that has one."""
    query = select(Project.id, Project.default_delivery).where(
        Project.id.in_(project_ids), Project.default_delivery.is_not(None)
    )
    return {int(pid): str(delivery) for pid, delivery in await session.execute(query)}


async def get_active_jobs(session: AsyncSession, story_ids: Sequence[str]) -> dict[str, GenerationJob]:
    """The queued or running generation job of each of `story_ids` that has one, in one query."""
    query = select(GenerationJob).where(
        GenerationJob.story_id.in_(story_ids),
        GenerationJob.kind == JobKind.generate,
        GenerationJob.status.in_([s.value for s in ACTIVE]),
    )
    return {job.story_id: job for job in (await session.execute(query)).scalars() if job.story_id}


async def get_latest_job(session: AsyncSession, story_id: str) -> GenerationJob | None:
    query = (
        select(GenerationJob)
        .where(GenerationJob.story_id == story_id, GenerationJob.kind == JobKind.generate)
        .order_by(GenerationJob.created_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def get_jobs(session: AsyncSession, task_ids: Sequence[str]) -> Sequence[GenerationJob]:
    """The jobs among `task_ids` that exist, in one query."""
    query = select(GenerationJob).where(GenerationJob.id.in_(task_ids))
    return (await session.execute(query)).scalars().all()


async def existing_story_ids(session: AsyncSession, story_ids: Sequence[str]) -> set[str]:
    query = select(UserStory.id).where(UserStory.id.in_(story_ids))
    return set((await session.execute(query)).scalars().all())


async def get_latest_jobs(session: AsyncSession, story_ids: Sequence[str]) -> Sequence[GenerationJob]:
    """The latest generation job of each of `story_ids` that has one, in one query."""
    rank = (
        func.row_number()
        .over(partition_by=GenerationJob.story_id, order_by=GenerationJob.created_at.desc())
        .label("rank")
    )
    ranked = (
        select(GenerationJob.id, rank)
        .where(GenerationJob.story_id.in_(story_ids), GenerationJob.kind == JobKind.generate)
        .subquery()
    )
    query = select(GenerationJob).join(ranked, ranked.c.id == GenerationJob.id).where(ranked.c.rank == 1)
    return (await session.execute(query)).scalars().all()


async def running_job_ids(session: AsyncSession, *, started_before: dt.datetime) -> Sequence[str]:
    """Jobs a worker holds (or held, if it vanished) since before `started_before`."""
    query = select(GenerationJob.id).where(
        GenerationJob.status.in_([s.value for s in RUNNING]), GenerationJob.started_at < started_before
    )
    return (await session.execute(query)).scalars().all()


async def active_jobs_created_before(
    session: AsyncSession, created_before: dt.datetime, *, limit: int
) -> Sequence[tuple[str, dt.datetime]]:
    """(id, created_at) of the queued or running jobs created before `created_before`, oldest first."""
    query = (
        select(GenerationJob.id, GenerationJob.created_at)
        .where(GenerationJob.status.in_([s.value for s in ACTIVE]), GenerationJob.created_at < created_before)
        .order_by(GenerationJob.created_at)
        .limit(limit)
    )
    return [(row[0], row[1]) for row in await session.execute(query)]


async def child_job_ids(session: AsyncSession, parent_id: str) -> Sequence[str]:
    """The regenerations of a draft."""
    query = select(GenerationJob.id).where(GenerationJob.parent_id == parent_id)
    return (await session.execute(query)).scalars().all()


async def job_project(session: AsyncSession, job: GenerationJob) -> int | None:
    """The project a job belongs to: its own (an import), else its story's."""
    if job.project_id is not None or job.story_id is None:
        return job.project_id
    query = select(UserStory.project_id).where(UserStory.id == job.story_id)
    return (await session.execute(query)).scalar_one_or_none()


async def test_case_project(session: AsyncSession, case: TestCase) -> int | None:
    query = select(UserStory.project_id).where(UserStory.id == case.story_id)
    return (await session.execute(query)).scalar_one_or_none()


async def story_projects(session: AsyncSession, story_ids: Sequence[str]) -> dict[str, int | None]:
    """The project of each story that exists, by id."""
    query = select(UserStory.id, UserStory.project_id).where(UserStory.id.in_(story_ids))
    return {story_id: project_id for story_id, project_id in await session.execute(query)}


async def get_test_case(session: AsyncSession, test_case_id: int) -> TestCase | None:
    return await session.get(TestCase, test_case_id)


async def get_job_for_update(session: AsyncSession, task_id: str) -> GenerationJob | None:
    """The job row, locked until the transaction ends (PostgreSQL; SQLite's BEGIN IMMEDIATE locks all)."""
    query = select(GenerationJob).where(GenerationJob.id == task_id).with_for_update()
    return (await session.execute(query.execution_options(populate_existing=True))).scalars().first()


async def list_drafts(session: AsyncSession, story_id: str) -> Sequence[GenerationJob]:
    """Completed generation jobs of a story whose result was neither saved nor discarded, newest first."""
    query = (
        select(GenerationJob)
        .where(
            GenerationJob.story_id == story_id,
            GenerationJob.kind == JobKind.generate,
            guard(SAVE),
        )
        .order_by(GenerationJob.finished_at.desc(), GenerationJob.id)
    )
    return (await session.execute(query)).scalars().all()


def add_revision(session: AsyncSession, story: UserStory, criteria: list[str]) -> None:
    """Record the story's next revision with its new acceptance criteria (the caller commits)."""
    story.revision = (story.revision or 1) + 1
    session.add(
        StoryRevision(
            story_id=story.id,
            revision=story.revision,
            acceptance_criteria=list(criteria),
            created_at=utcnow(),
        )
    )


_CASES = TestCase.__table__.c


async def load_story_contexts(
    connection: AsyncConnection, story_ids: Sequence[str], project_ids: Sequence[int]
) -> tuple[dict[int, ProjectSettings], dict[str, list[TestCase]]]:
    """What generation jobs read besides their stories, for many at once: each project's settings
    and each story's saved test cases (detached, in id order)."""
    projects: dict[int, ProjectSettings] = {}
    if project_ids:
        query = select(_PROJECTS.id, *_SETTINGS).where(_PROJECTS.id.in_(list(project_ids)))
        projects = {pid: _settings(*settings) for pid, *settings in await connection.execute(query)}
    cases: dict[str, list[TestCase]] = {story_id: [] for story_id in story_ids}
    query = select(*_CASES).where(_CASES.story_id.in_(list(story_ids))).order_by(_CASES.id)
    for row in await connection.execute(query):
        case = TestCase(**dict(zip(_CASES.keys(), row, strict=True)))
        cases[case.story_id].append(case)
    return projects, cases


async def review_steps(session: AsyncSession, task_ids: Sequence[str]) -> dict[str, list[ReviewStep]]:
    """The review steps of each job, oldest first (one query whatever their number)."""
    found: dict[str, list[ReviewStep]] = {task_id: [] for task_id in task_ids}
    if task_ids:
        query = select(ReviewStep).where(ReviewStep.task_id.in_(list(task_ids))).order_by(ReviewStep.id)
        for step in (await session.execute(query)).scalars():
            found[step.task_id].append(step)
    return found


async def last_review_step(session: AsyncSession, task_id: str, action: str) -> ReviewStep | None:
    """A job's latest review step of `action` (domain/roles.py ReviewAction)."""
    query = (
        select(ReviewStep)
        .where(ReviewStep.task_id == task_id, ReviewStep.action == action)
        .order_by(ReviewStep.id.desc())
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def has_active_child(session: AsyncSession, parent_id: str) -> bool:
    """Whether a regeneration of the draft is queued or running (it will change the draft)."""
    query = select(
        exists().where(
            GenerationJob.parent_id == parent_id,
            GenerationJob.status.in_([s.value for s in ACTIVE]),
        )
    )
    return bool(await session.scalar(query))


class InboxRow(NamedTuple):
    task_id: str
    story_id: str
    story_title: str
    project_id: int
    project_name: str
    author_id: int | None
    finished_at: dt.datetime | None
    submitted_at: dt.datetime | None
    submitted_by: str | None


async def review_inbox(
    session: AsyncSession,
    *,
    state: str,
    project_ids: Sequence[int] | None,
    reviewer_id: int | None,
    limit: int,
    offset: int,
) -> list[InboxRow]:
    """Open drafts in review `state` of the projects `project_ids` (None: all), without those
    `reviewer_id` queued unless their project allows self-approval; oldest submission first. No
    draft's result is read."""
    last_submit = (
        select(ReviewStep.task_id, func.max(ReviewStep.id).label("step_id"))
        .where(ReviewStep.action == "submit")
        .group_by(ReviewStep.task_id)
        .subquery()
    )
    step = ReviewStep.__table__.alias("submit_step")
    query = (
        select(
            GenerationJob.id,
            GenerationJob.story_id,
            UserStory.title,
            Project.id,
            Project.name,
            GenerationJob.created_by,
            GenerationJob.finished_at,
            step.c.created_at,
            step.c.actor,
        )
        .join(UserStory, UserStory.id == GenerationJob.story_id)
        .join(Project, Project.id == UserStory.project_id)
        .outerjoin(last_submit, last_submit.c.task_id == GenerationJob.id)
        .outerjoin(step, step.c.id == last_submit.c.step_id)
        .where(GenerationJob.kind == JobKind.generate, GenerationJob.review_state == state, guard(SAVE))
    )
    if project_ids is not None:
        query = query.where(Project.id.in_(list(project_ids)))
    if reviewer_id is not None:
        query = query.where(
            or_(
                GenerationJob.created_by.is_(None),
                GenerationJob.created_by != reviewer_id,
                Project.allow_self_approval.is_(True),
            )
        )
    query = query.order_by(step.c.created_at, GenerationJob.id).limit(limit).offset(offset)
    return [InboxRow(*row) for row in await session.execute(query)]
