"""Schema-driven fuzzing: every operation of the OpenAPI schema, no response may be a server error.

Schemathesis generates requests (valid and invalid) from `app.openapi()`; they go to the real app
(lifespan included: DB engine, Redis, event hub) through starlette's TestClient. Before fuzzing, a
worker runs one job to completion and its test cases are saved, so besides random ids every
operation is also tried with ids that exist (project 1, story US-001, that job, a saved test case).
DELETE operations run last so they do not remove the seed before the rest are tried.

The SSE endpoints (`.../events`) are skipped: they stream until their jobs end.
Set FUZZ_EXAMPLES to fuzz harder (default 20 per operation and mode), FUZZ_RANDOM=1 for a
non-derandomized run.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from typing import Any

import pytest
import schemathesis
from httpx import ASGITransport, AsyncClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from redis import Redis as SyncRedis
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from starlette.testclient import TestClient

from testgen.api.app import create_app
from testgen.core.config import Settings
from tests.support.harness import run_worker
from tests.support.helpers import is_status, make_story, wait_for_job

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
RANDOM = os.environ.get("FUZZ_RANDOM") == "1"
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance]
# /ready answers 503 by design when no worker heartbeat is present (documented in the schema).
# /ready when something is down; a Jira import when the server has no JIRA_* settings (as here).
DOCUMENTED_503 = {("GET", "/ready"), ("POST", "/projects/{project_id}/imports/jira")}


async def _seed(settings: Settings) -> dict[str, Any]:
    """Project 1, story US-001, one completed job for it, its test cases saved; returns known ids."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
        run_worker(settings),
    ):
        story = await make_story(client, "US-001")
        r = await client.post(
            "/generate-test-cases/US-001/queue", json={"num_test_cases": 2, "scenarios_per_test_case": 1}
        )
        assert r.status_code == 202, r.text
        task_id = r.json()["task_id"]
        url = f"/generate-test-cases/status/{task_id}"
        status = await wait_for_job(
            client, url, is_status("completed", "failed", "cancelled"), what="the end"
        )
        assert status["status"] == "completed", status
        r = await client.post(f"/generate-test-cases/{task_id}/save")
        assert r.status_code == 201, r.text
        test_case_id = r.json()["test_case_ids"][0]
    return {
        "story_id": "US-001",
        "project_id": story["project_id"],
        "task_id": task_id,
        "test_case_id": test_case_id,
        "index": 0,
    }


def _operations(schema: Any) -> list[Any]:
    ops = [result.ok() for result in schema.get_all_operations()]
    ops = [op for op in ops if not op.path.endswith("/events")]
    # Trying a connection and pushing call the tool a generated URL names: never from a test.
    ops = [op for op in ops if not op.path.endswith(("/connections/{connection_id}/test", "/push"))]
    return sorted(ops, key=lambda op: (op.method.upper() == "DELETE", op.path, op.method))


def _part(part: Any) -> Any:
    """A generated multipart part (file name, value, ...) whose value httpx can send: a number, a
    boolean or null becomes its JSON text, as a form sends it."""
    value = part[1]
    return (part[0], value if isinstance(value, str | bytes) else json.dumps(value), *part[2:])


def _fuzzer(client: TestClient, op: Any, strategies: list[Any], statuses: Counter[int]) -> Any:
    """A Hypothesis test sending the cases of `strategies` to the app: no 5xx, response conforms."""

    @hsettings(
        max_examples=EXAMPLES * len(strategies),
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=st.one_of(strategies))
    def fuzz(case: Any) -> None:
        kwargs = case.as_transport_kwargs(base_url="http://testserver")
        kwargs.pop("cookies", None)  # per-request cookies are deprecated in httpx
        if isinstance(kwargs.get("data"), str | bytes):
            kwargs["content"] = kwargs.pop("data")
        if isinstance(kwargs.get("files"), list):  # a multipart part's value as a client sends it: text
            kwargs["files"] = [(name, _part(part)) for name, part in kwargs["files"]]
        try:
            response = client.request(**kwargs)
        except Exception as exc:
            raise AssertionError(
                f"{kwargs['method']} {kwargs['url']} params={kwargs.get('params')} raised in the app: {exc!r}"
            ) from exc
        if (op.method.upper(), op.path) in DOCUMENTED_503 and response.status_code == 503:
            return
        assert response.status_code < 500, (
            f"{kwargs['method']} {kwargs['url']} -> {response.status_code}: {response.text[:500]}"
        )
        statuses[response.status_code // 100] += 1
        response.request.read()  # an upload's multipart body is a stream: the checks read it whole
        case.validate_response(response, checks=CHECKS)

    return fuzz


# Every operation in turn: two minutes (the default) is too short on a busy 2-core machine; a run
# stopped by the timeout shows up as a "flaky" example of whichever operation it interrupted.
@pytest.mark.timeout(600)
def test_no_server_errors(settings: Settings, redis_url: str) -> None:
    SyncRedis.from_url(redis_url).flushdb()
    settings.rate_limit_per_minute = 0  # thousands of requests a minute from one client: not a person
    known = asyncio.run(_seed(settings))
    app = create_app(settings)
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = _operations(schema)
    assert len(operations) >= 15, [op.label for op in operations]
    failures: list[str] = []
    seen: dict[str, Counter[int]] = {}

    # raise_server_exceptions: an unhandled exception surfaces with its traceback.
    with TestClient(app, base_url="http://testserver", raise_server_exceptions=True) as client:
        for op in operations:
            path_params = {p.name for p in op.path_parameters}
            fixed = {name: known[name] for name in path_params if name in known}
            strategies = [op.as_strategy(GenerationMode.POSITIVE), op.as_strategy(GenerationMode.NEGATIVE)]
            if fixed:
                strategies.append(op.as_strategy(GenerationMode.POSITIVE, path_parameters=fixed))

            statuses = seen[op.label] = Counter()
            fuzz = _fuzzer(client, op, strategies, statuses)
            try:
                fuzz()
            except Exception as exc:  # collect per operation, report all at the end
                failures.append(f"{op.label}: {type(exc).__name__}: {str(exc)[:2000]}")
    for label, statuses in seen.items():
        print(f"{label}: " + ", ".join(f"{k}xx={v}" for k, v in sorted(statuses.items())))
    assert not failures, "\n\n".join(failures)
    # The seed works: the reads of known ids answered 2xx (not only 404/422). Writes on the completed,
    # saved job (cancel, save, regenerate, discard) rightly answer 409.
    for label in (
        "GET /generate-test-cases/status/{task_id}",
        "GET /user-stories/{story_id}",
        "GET /user-stories/{story_id}/test-cases",
        "GET /test-cases/{test_case_id}",
        "PATCH /test-cases/{test_case_id}",
        "POST /generate-test-cases/{story_id}/queue",
    ):
        assert seen[label][2], (label, seen[label])


@pytest.mark.parametrize("path", ["/user-stories/US-001", "/generate-test-cases/status/x"])
def test_fuzz_smoke_paths_do_not_500(settings: Settings, redis_url: str, path: str) -> None:
    """Cheap guard that the TestClient + lifespan wiring used above works on its own."""
    SyncRedis.from_url(redis_url).flushdb()
    with TestClient(create_app(settings)) as client:
        assert client.get(path).status_code == 404


BIG = 2**63  # one past SQLite's (and PostgreSQL's BIGINT) range: found by fuzzing, once a 500


@pytest.mark.parametrize(
    ("method", "path", "params", "body"),
    [
        ("GET", "/projects", {"offset": BIG}, None),
        ("GET", "/user-stories", {"offset": BIG}, None),
        ("GET", "/user-stories", {"project_id": BIG}, None),
        ("GET", f"/test-cases/{BIG}", None, None),
        ("PATCH", f"/test-cases/{BIG}", None, {"title": "x"}),
        ("DELETE", f"/test-cases/{BIG}", None, None),
        (
            "POST",
            "/user-stories",
            None,
            {"id": "US-9", "project_id": BIG, "title": "t", "acceptance_criteria": ["a"]},
        ),
    ],
)
def test_int64_overflow_is_not_a_server_error(
    settings: Settings, redis_url: str, method: str, path: str, params: Any, body: Any
) -> None:
    SyncRedis.from_url(redis_url).flushdb()
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.request(method, path, params=params, json=body)
    assert response.status_code == 422, (response.status_code, response.text)
