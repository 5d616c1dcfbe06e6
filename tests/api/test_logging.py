from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient

from testgen.core.config import Settings
from testgen.core.logs import configure_logging, task_context
from tests.support.harness import run_worker
from tests.support.helpers import make_story, queue, read_events

log = logging.getLogger("testgen.tests.logging")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers and levels: put everything back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore", "google_genai.models")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, lvl in quiet.items():
        logging.getLogger(name).setLevel(lvl)


def json_lines(err: str) -> list[dict[str, Any]]:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines
    return [json.loads(line) for line in lines]  # every line is exactly one JSON object


def test_json_lines_carry_the_task_context(capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    configure_logging("INFO", "json")
    log.info("before the job")
    token = task_context.set({"task_id": "task-1", "story_id": "US-7"})
    try:
        log.info("inside the job: %d batches", 3, extra={"batch": 2})
        try:
            raise ValueError("bad\nanswer")
        except ValueError:
            log.exception("a batch failed")
        log.debug("not shown at INFO")
    finally:
        task_context.reset(token)
    log.warning("after the job")

    before, inside, failed, after = json_lines(capsys.readouterr().err)
    assert before["message"] == "before the job" and before["level"] == "INFO"
    assert before["logger"] == "testgen.tests.logging" and before["ts"].endswith("Z")
    assert "task_id" not in before and "story_id" not in before
    assert inside["message"] == "inside the job: 3 batches"
    assert (inside["task_id"], inside["story_id"], inside["batch"]) == ("task-1", "US-7", 2)
    assert failed["task_id"] == "task-1" and failed["level"] == "ERROR"
    assert "ValueError: bad\nanswer" in failed["exc"]
    assert after["level"] == "WARNING" and "task_id" not in after


def test_text_format_appends_the_task_context(
    capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    configure_logging("INFO", "text")
    token = task_context.set({"task_id": "task-1", "story_id": "US-7"})
    try:
        log.info("inside the job")
    finally:
        task_context.reset(token)
    log.info("outside")
    inside, outside = capsys.readouterr().err.splitlines()
    assert "INFO  testgen.tests.logging: inside the job" in inside
    assert inside.endswith(" [task_id=task-1 story_id=US-7]")
    assert outside.endswith("testgen.tests.logging: outside")


async def test_worker_logs_of_a_job_carry_its_ids(
    http: AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    await make_story(http, "US-001")
    capsys.readouterr()
    configure_logging("INFO", "json")
    async with run_worker(settings):
        job = await queue(http, "US-001", num_test_cases=1, scenarios_per_test_case=1)
        events = await read_events(http, job["events_url"])
    assert events[-1].event == "completed"
    records = json_lines(capsys.readouterr().err)
    mine = [r for r in records if r.get("task_id") == job["task_id"]]
    assert mine, records
    assert all(r["story_id"] == "US-001" for r in mine)
    assert any(r["logger"].startswith("testgen.") for r in mine)
