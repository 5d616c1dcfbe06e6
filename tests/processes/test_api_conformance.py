"""The API against its OpenAPI document, checked by schemathesis (`--checks all`) over HTTP.

It signs in with a service key (API_KEYS): credentials it makes up must be refused, and users it
creates never close the server to it. A live server on SQLite (`testgen api`, with a worker, the
offline model and a fake Jira on 127.0.0.1) holds a project, a story and a saved job, so that besides
random ids the known ones are tried too. The run is bounded: a fixed generation (deterministic mode),
a few examples per operation and a time limit. Any failure fails the test, with schemathesis' report
of it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from redis import Redis as SyncRedis

from tests.support.fake_jira import FakeJira
from tests.support.harness import wait_for_sync
from tests.support.helpers import STREAM_TOKEN_SECRET
from tests.support.procs import Process, answers, embedded_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(600),
    pytest.mark.skipif(
        bool(os.environ.get("TEST_DATABASE_URL")), reason="runs on SQLite, the default: once per CI run"
    ),
]

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
SERVICE_KEY = "conformance-key-5f0c2a9e"
AUTHORIZATION = f"Bearer {SERVICE_KEY}"
EXAMPLES = os.environ.get("CONFORMANCE_EXAMPLES", "10")
MAX_TIME_S = os.environ.get("CONFORMANCE_MAX_TIME_S", "90")  # fuzzing repeats until it is spent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def service(database_url: str, redis_url: str, tmp_path: Path) -> Iterator[str]:
    """`testgen api` and `testgen worker` on the test's database and Redis; yields the API's URL."""
    SyncRedis.from_url(redis_url).flushdb()
    port = _free_port()
    with FakeJira(deployment="cloud") as jira:
        env = embedded_env(
            tmp_path / "data",
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            STREAM_TOKEN_SECRET=STREAM_TOKEN_SECRET,
            API_KEYS=SERVICE_KEY,
            SECRETS_KEY=Fernet.generate_key().decode(),  # connections are encrypted with it
            RATE_LIMIT_PER_MINUTE="0",  # schemathesis sends far more than a person would
            AUTH_FAILURES_PER_MINUTE="0",  # and makes up credentials far more often
            JIRA_BASE_URL=jira.url,
            JIRA_EMAIL=jira.email,
            JIRA_API_TOKEN=jira.token,
        )
        api = Process(["api", "--port", str(port)], env, tmp_path)
        worker = Process(["worker"], env, tmp_path)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_for_sync(lambda: answers(f"{url}/health"), 60, "the API to answer")
            yield url
        finally:
            api.kill()
            worker.kill()


def _seed(url: str) -> None:
    """Project 1, story US-001 with a completed job whose test cases are saved."""
    with httpx.Client(base_url=url, timeout=30, headers={"Authorization": AUTHORIZATION}) as client:
        assert client.post("/projects", json={"name": "Shop"}).status_code == 201
        story = {"id": "US-001", "project_id": 1, "title": "Log in", "acceptance_criteria": ["Logs in"]}
        assert client.post("/user-stories", json=story).status_code == 201
        queued = client.post("/generate-test-cases/US-001/queue", json={"num_test_cases": 2})
        assert queued.status_code == 202, queued.text
        status_url = queued.json()["status_url"]
        wait_for_sync(
            lambda: client.get(status_url).json()["status"] == "completed", 60, "the job to complete"
        )
        saved = client.post(f"/generate-test-cases/{queued.json()['task_id']}/save")
        assert saved.status_code == 201, saved.text


# Every check (as `--checks all`, which on the command line would override the line after it). The
# stateful phase follows links it infers from responses: a story's `project_id` of null becomes the
# path text "None" of /projects/{project_id}, which the API rightly refuses (422); that phase runs
# every other check.
TOOL_CALLS = r"/connections/\{connection_id\}/test$|/push$"
# Bodies whose validity a JSON schema cannot state, answered 422 (or 400) however well-formed: the
# fields a connection takes depend on its stored kind, a pairwise request's parameter names must
# differ, an attachment's bytes must be a PNG, JPEG, WebP, GIF, PDF or text file with content, and a
# Scenario Outline's placeholders must name its columns and each of its rows be as wide as its header.
UNSTATABLE_BODIES = (
    "PATCH /projects/{project_id}/connections/{connection_id}",
    "POST /test-design/pairwise",
    "POST /user-stories/{story_id}/attachments",
    "POST /generate-test-cases/{task_id}/save",
    "PATCH /generate-test-cases/{task_id}/test-cases/{index}",
    "PATCH /test-cases/{test_case_id}",
)
CONFIG = """
[checks]
enabled = true

[phases.stateful.checks.positive_data_acceptance]
enabled = false
""" + "".join(
    f'\n[[operations]]\ninclude-name = "{operation}"\nchecks.positive_data_acceptance.enabled = false\n'
    for operation in UNSTATABLE_BODIES
)


def test_schemathesis_finds_no_failure(service: str, tmp_path: Path) -> None:
    _seed(service)
    (tmp_path / "schemathesis.toml").write_text(CONFIG)
    command = [
        SCHEMATHESIS,
        "run",
        f"{service}/openapi.json",
        "--max-examples",
        EXAMPLES,
        "--generation-deterministic",
        "--max-time",
        MAX_TIME_S,
        "--request-timeout",
        "20",
        "--workers",
        "1",
        "--no-color",
        "--warnings",
        "off",
        "--header",
        f"Authorization: {AUTHORIZATION}",
        # Trying a connection and pushing call the tool a generated URL names: never from a test.
        "--exclude-path-regex",
        TOOL_CALLS,
    ]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        print(result.stdout, result.stderr)  # pytest shows it with the failure
    assert result.returncode == 0, "schemathesis found failures: see its report in the captured output"
