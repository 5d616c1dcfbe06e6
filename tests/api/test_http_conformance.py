"""HTTP as RFC 9110 and the OpenAPI document say: HEAD wherever GET, 405 with the path's true
`Allow`, a document that validates and names every error an operation answers."""

from __future__ import annotations

from typing import Any

import pytest
from httpx import AsyncClient
from openapi_spec_validator import validate

from testgen.api.app import create_app
from testgen.core.config import Settings
from tests.support.helpers import make_story, queue, wait_for_job

KEY = "k" * 24


@pytest.mark.parametrize(
    "path", ["/", "/health", "/static/app.js", "/static/job-states.js", "/user-stories", "/projects"]
)
async def test_head_answers_wherever_get_does(client: AsyncClient, path: str) -> None:
    get = await client.get(path)
    head = await client.head(path)
    assert get.status_code == 200
    assert head.status_code == 200, head.text
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == get.headers["content-length"]


async def test_head_of_an_event_stream_sends_its_headers_and_ends(http: AsyncClient, worker: object) -> None:
    """A real server: the stream's response starts, its body is not sent, and the request ends
    although the job (and so the stream) would go on."""
    await make_story(http, "US-HEAD")
    job = await queue(http, "US-HEAD", num_test_cases=2)
    head = await http.head(f"/generate-test-cases/status/{job['task_id']}/events")
    assert head.status_code in (200, 204)
    assert head.content == b""
    await wait_for_job(http, job["status_url"], lambda s: s["status"] == "completed", what="the job")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/projects", "GET, HEAD, POST"),
        ("PUT", "/projects", "GET, HEAD, POST"),
        ("PATCH", "/projects/providers", "GET, HEAD"),  # also a value of /projects/{project_id}
        ("DELETE", "/generate-test-cases/queue", "POST"),  # also a value of /generate-test-cases/{task_id}
        ("PUT", "/projects/1", "GET, HEAD, PATCH"),
        ("OPTIONS", "/test-cases/1", "DELETE, GET, HEAD, PATCH"),
        ("POST", "/user-stories/US-1", "DELETE, GET, HEAD, PATCH"),
        ("DELETE", "/health", "GET, HEAD"),
    ],
)
async def test_a_method_the_path_lacks_gets_405_naming_all_its_methods(
    client: AsyncClient, method: str, path: str, allow: str
) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    assert response.json() == {"detail": "Method Not Allowed"}


def _documents(**overrides: Any) -> dict[str, Any]:
    app = create_app(Settings(_env_file=None, **overrides))  # type: ignore[call-arg]
    document: dict[str, Any] = app.openapi()
    return document


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    paths = document["paths"].items()
    return [(method.upper(), path, op) for path, ops in paths for method, op in ops.items()]


def test_the_document_validates_and_documents_each_error_with_its_model(settings: Settings) -> None:
    document = _documents(database_url=settings.database_url, redis_url=settings.redis_url)
    validate(document)
    assert document["components"]["schemas"]["ErrorOut"]["required"] == ["detail"]
    for method, path, op in _operations(document):
        for code, response in op["responses"].items():
            if code.startswith(("4", "5")) and code != "422" and (path, code) != ("/ready", "503"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path, code)
        assert "400" in op["responses"], (method, path)  # the Host check of keyless mode
        assert "security" in op  # sign-in is required once the first user exists
        if "{" in path and path != "/static/{name}":
            assert "404" in op["responses"], (method, path)
        if method in ("POST", "PATCH", "DELETE"):
            assert {"403", "413", "415"} <= set(op["responses"]), (method, path)
    assert "429" in document["paths"]["/generate-test-cases/{story_id}/queue"]["post"]["responses"]
    assert "409" in document["paths"]["/projects"]["post"]["responses"]
    headers = document["paths"]["/user-stories"]["get"]["responses"]["503"]["headers"]
    assert headers["Retry-After"]["schema"] == {"type": "integer"}


def test_with_api_keys_the_document_holds_the_bearer_scheme_and_401(settings: Settings) -> None:
    document = _documents(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        api_keys=KEY,
        stream_token_secret=settings.stream_token_secret,
    )
    validate(document)
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"]["type"] == "http" and schemes["apiKey"]["scheme"] == "bearer"
    assert schemes["streamToken"]["in"] == "query"
    assert schemes["session"]["in"] == "cookie"
    open_paths = {"/health", "/auth/login", "/auth/config", "/auth/oidc/login", "/auth/oidc/callback"}
    for method, path, op in _operations(document):
        if path in open_paths:
            assert op["security"] == [], path
            continue
        assert "401" in op["responses"] and "403" in op["responses"], (method, path)
        expected = [{"apiKey": []}, {"session": []}]
        if path.endswith("/events"):
            expected.append({"streamToken": []})
        assert op["security"] == expected, (method, path)
