"""The job state machine (data/job_states.py): the one home of status names, and the guard of every
conditional change of a job row (data/repository.change_jobs)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.core.database import create_sessionmaker
from testgen.data import job_states, repository
from testgen.data.job_states import TRANSITIONS, JobKind, JobStatus, Transition
from testgen.data.models import GenerationJob, UserStory, utcnow
from tests.support.harness import ROOT

SRC = ROOT / "src" / "testgen"
HOME = SRC / "data" / "job_states.py"
# A tool's own words that happen to be a status name: Xray's import-job states, a provider batch's.
VENDOR_WORDS = {SRC / "testmgmt" / "xray.py", SRC / "generation" / "llm" / "batch_api.py"}
STATUS_NAMES = {s.value for s in JobStatus}
JS_LITERAL = re.compile(r"""["'`]({})["'`]""".format("|".join(sorted(STATUS_NAMES))))


def status_literals() -> list[str]:
    """Every place outside data/job_states.py where a status name is written as a string literal."""
    found = []
    for path in SRC.rglob("*.py"):
        if path == HOME or path in VENDOR_WORDS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in STATUS_NAMES:
                found.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}")
    for path in SRC.rglob("*.js"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found += [f"{path.relative_to(SRC)}:{number}: {m.group(0)}" for m in JS_LITERAL.finditer(line)]
    return found


def test_status_names_are_spelled_only_in_their_home() -> None:
    assert status_literals() == []


def test_the_literal_check_finds_a_status_spelled_elsewhere(tmp_path: Path) -> None:
    planted = SRC / "data" / "_planted_for_test.py"
    planted.write_text('STATUS = "cancelled"\n')
    try:
        assert status_literals() == ["data/_planted_for_test.py:1: 'cancelled'"]
    finally:
        planted.unlink()


async def test_the_page_gets_the_statuses_from_the_server(client: AsyncClient) -> None:
    response = await client.get("/static/job-states.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    prefix = "window.TESTGEN_JOB_STATES = "
    assert response.text.startswith(prefix)
    table = json.loads(response.text.removeprefix(prefix).rstrip().rstrip(";"))
    assert table == job_states.describe()
    assert table["statuses"] == [s.value for s in JobStatus]
    assert set(table["terminal"]) == {s.value for s in job_states.TERMINAL}
    assert set(table["roles"].values()) == STATUS_NAMES
    page = (await client.get("/")).text
    assert page.index("/static/job-states.js") < page.index('<script type="module"')


def test_every_transition_moves_between_statuses_the_table_allows() -> None:
    assert job_states.allowed(JobStatus.started, JobStatus.cancelled)
    assert not job_states.allowed(JobStatus.completed, JobStatus.started)
    assert not job_states.allowed(JobStatus.cancelled, JobStatus.completed)
    for status in job_states.TERMINAL:
        assert not any(job_states.allowed(status, target) for target in JobStatus)
    assert set(job_states.REPORTED) == set(JobStatus)


@pytest.mark.parametrize("transition", TRANSITIONS.values(), ids=list(TRANSITIONS))
async def test_a_transition_changes_a_row_only_from_its_sources(
    engine: AsyncEngine, transition: Transition
) -> None:
    """One row per status, saved and not: the transition wins exactly on the rows it may change."""
    maker = create_sessionmaker(engine)
    rows = {f"{s.value}-{saved}": (s, saved) for s in JobStatus for saved in (False, True)}
    async with maker() as session:
        session.add(UserStory(id="US-1", title="t", acceptance_criteria=["a"]))
        await session.flush()
        for ident, (status, saved) in rows.items():
            saved_at = utcnow() if saved else None
            session.add(
                GenerationJob(
                    id=ident, story_id="US-1", kind=JobKind.regenerate, status=status, saved_at=saved_at
                )
            )
        await session.commit()
    async with maker() as session:
        connection = await session.connection()
        won = await repository.change_jobs(
            connection, transition, [(i, {"message": "changed"}) for i in rows]
        )
        await session.commit()
    expected = {
        ident
        for ident, (status, saved) in rows.items()
        if status in transition.sources and not (transition.unsaved and saved)
    }
    assert won == expected and expected
    async with maker() as session:
        after = {job.id: job for job in (await session.execute(select(GenerationJob))).scalars()}
    for ident, (status, _) in rows.items():
        if ident not in won:
            assert (after[ident].status, after[ident].message) == (status, "")
        elif transition.deletes:
            assert ident not in after
        else:
            assert after[ident].message == "changed"
            assert after[ident].status == (transition.target or status)
