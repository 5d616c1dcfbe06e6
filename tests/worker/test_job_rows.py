"""The worker's coalesced job-row reads and writes (services/job_rows.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import cast

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from testgen.core.database import create_sessionmaker
from testgen.data.job_states import COMPLETE, START
from testgen.data.models import GenerationJob, Project, UserStory, utcnow
from testgen.data.models import TestCase as SavedCase
from testgen.data.repository import ProjectSettings, StoryExtras
from testgen.worker.coalescer import Coalescer
from testgen.worker.job_rows import Context, JobRows
from testgen.worker.resources import WorkerResources
from testgen.worker.story_context import load_context


@pytest.fixture
async def maker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    maker = create_sessionmaker(engine)
    async with maker() as s:
        s.add(UserStory(id="US-1", title="t", acceptance_criteria=["a"]))
        await s.flush()
        for i in range(6):
            s.add(GenerationJob(id=f"job-{i}", story_id="US-1", kind="regenerate", status="queued"))
        s.add(GenerationJob(id="done", story_id="US-1", kind="regenerate", status="cancelled"))
        await s.commit()
    return maker


def statements(engine: AsyncEngine) -> list[str]:
    """The SQL of every statement the engine runs from now on."""
    sent: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda _c, _cur, sql, *_: sent.append(sql))
    return sent


def count_commits(engine: AsyncEngine) -> list[int]:
    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda _conn: commits.append(1))
    return commits


async def test_concurrent_updates_share_one_transaction_and_skip_final_rows(
    engine: AsyncEngine, maker: async_sessionmaker[AsyncSession]
) -> None:
    rows = JobRows(engine)
    commits = count_commits(engine)
    now = utcnow()
    started = (START, {"progress": 5, "started_at": now, "attempts": 1})
    finished = (COMPLETE, {"progress": 100, "result": {"ok": "✓"}, "finished_at": now})
    outcomes = await asyncio.gather(
        *(rows.change(f"job-{i}", *(started if i % 2 else finished)) for i in range(6)),
        rows.change("done", *started),
        rows.change("no-such-job", *started),
    )
    assert outcomes == [True] * 6 + [False, False]
    # Eight requests: the first alone, at once, one UPDATE with no transaction around it; the seven
    # that queued meanwhile together, in one transaction.
    assert len(commits) == 1
    async with maker() as s:
        jobs = {j.id: j for j in (await s.execute(select(GenerationJob))).scalars()}
    assert [jobs[f"job-{i}"].status for i in range(6)] == ["completed", "started"] * 3
    assert jobs["job-1"].attempts == 1 and jobs["job-1"].started_at == now and jobs["job-1"].result is None
    assert jobs["job-0"].result == {"ok": "✓"} and jobs["job-0"].attempts == 0
    assert jobs["done"].status == "cancelled" and jobs["done"].progress == 0


async def test_a_lone_change_is_one_statement_and_keeps_its_guard(
    engine: AsyncEngine, maker: async_sessionmaker[AsyncSession]
) -> None:
    rows = JobRows(engine)
    sent, commits = statements(engine), count_commits(engine)
    assert await rows.change("job-1", START, {"progress": 5, "attempts": 1}) is True
    assert await rows.change("done", START, {"progress": 5, "attempts": 1}) is False  # cancelled: final
    assert [s.split()[0] for s in sent] == ["UPDATE", "UPDATE"] and commits == []
    async with maker() as s:
        jobs = {j.id: j for j in (await s.execute(select(GenerationJob))).scalars()}
    assert (jobs["job-1"].status, jobs["job-1"].progress) == ("started", 5)
    assert (jobs["done"].status, jobs["done"].progress) == ("cancelled", 0)


async def test_loads_are_coalesced_and_missing_jobs_are_none(
    engine: AsyncEngine, maker: async_sessionmaker[AsyncSession]
) -> None:
    rows = JobRows(engine)
    sent = statements(engine)
    loaded = await asyncio.gather(rows.load("job-0"), rows.load("job-5"), rows.load("nope"))
    assert [(job.id, story.id) for job, story, _ in filter(None, loaded)] == [
        ("job-0", "US-1"),
        ("job-5", "US-1"),
    ]
    assert loaded[2] is None
    # Three loads: the first alone, at once; the two that queued meanwhile together.
    assert len([s for s in sent if s.startswith("SELECT")]) == 2


async def test_a_load_brings_the_project_settings_and_whether_there_are_saved_tests_and_files(
    engine: AsyncEngine, maker: async_sessionmaker[AsyncSession]
) -> None:
    async with maker() as s:
        project = Project(name="p", instructions="Be brief", language="es", token_budget_daily=500)
        s.add(project)
        await s.flush()
        s.add(UserStory(id="US-2", title="t", acceptance_criteria=["a"], project_id=project.id))
        await s.flush()
        s.add(GenerationJob(id="job-p", story_id="US-2", kind="generate", status="queued"))
        s.add(SavedCase(story_id="US-2", title="saved"))
        await s.commit()
    rows = JobRows(engine)
    loaded = await rows.load("job-p")
    plain = await rows.load("job-0")
    assert loaded is not None and plain is not None
    settings = ProjectSettings("Be brief", 500, "es")
    assert loaded[2] == StoryExtras(settings, has_saved_tests=True, has_attachments=False)
    assert plain[2] == StoryExtras(None, has_saved_tests=False, has_attachments=False)


async def test_a_lone_request_is_not_held_back() -> None:
    batches: list[list[int]] = []

    async def double(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0)  # the database round trip: other submits run meanwhile
        return [2 * i for i in items]

    coalescer: Coalescer[int, int] = Coalescer(double)
    assert await coalescer.submit(1) == 2
    assert await asyncio.gather(*(coalescer.submit(i) for i in range(2, 6))) == [4, 6, 8, 10]
    assert batches == [[1], [2], [3, 4, 5]]  # 2 found nothing running; 3-5 waited for it


async def test_a_failing_item_fails_only_its_own_caller() -> None:
    batches: list[list[int]] = []

    async def strict(items: list[int]) -> list[int]:
        batches.append(items)
        await asyncio.sleep(0)
        if 13 in items:
            raise ValueError("13 is unlucky")
        return items

    coalescer: Coalescer[int, int] = Coalescer(strict)
    results = await asyncio.gather(*(coalescer.submit(i) for i in (11, 12, 13, 14)), return_exceptions=True)
    assert results[:2] == [11, 12] and results[3] == 14
    assert isinstance(results[2], ValueError) and str(results[2]) == "13 is unlucky"
    assert batches == [[11], [12, 13, 14], [12], [13], [14]]
    assert await coalescer.submit(15) == 15  # and it keeps working


async def test_a_story_without_saved_tests_needs_no_second_read() -> None:
    asked: list[str] = []
    saved = [SavedCase(id=1, story_id="US-9", title="saved", scenarios=[])]

    class Rows:
        async def context(self, story_id: str, project_id: int | None) -> Context:
            asked.append(story_id)
            return ProjectSettings("house style", 100, "es"), saved

    res = cast(WorkerResources, SimpleNamespace(rows=Rows()))
    story = UserStory(id="US-9", title="t", acceptance_criteria=["a"], project_id=7)
    for budget in (None, 100):  # the budget's spending is read when the job holds its tokens
        plain = await load_context(
            res, story, StoryExtras(ProjectSettings("house style", budget, "es"), False)
        )
        assert (plain.project_id, plain.instructions, plain.budget, plain.project_language, plain.saved) == (
            7,
            "house style",
            budget,
            "es",
            [],
        )
    assert asked == []
    for extras in (
        StoryExtras(ProjectSettings("house style", None, "es"), True),  # saved tests: read them
        None,  # nothing read with the job
    ):
        context = await load_context(res, story, extras)
        assert (context.budget, context.saved) == (100, saved)
    assert asked == ["US-9"] * 2
