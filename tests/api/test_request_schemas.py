"""The OpenAPI document's request schemas say what the server accepts: a request the schema calls
valid is accepted (or answered 404 or 409, a resource missing or in another state), one it calls
invalid is refused with a 4xx. Each test asks the app's own document, then the app."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from jsonschema import Draft202012Validator, ValidationError, validators
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.core import messages
from testgen.core.languages import tag_pattern
from testgen.domain.text_fields import NO_CONTROL_PATTERN
from tests.support.helpers import is_status, make_story, queue, wait_for_job

ACCEPTED_ANYWAY = (404, 409)  # a valid request about a resource that is missing or in another state


def _ecma_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """`pattern` as ECMA-262 reads it: a closing `$` is the end of the string (Python's `\\Z`)."""
    if isinstance(instance, str) and not re.search(pattern.removesuffix("$") + r"\Z", instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


EcmaValidator = validators.extend(Draft202012Validator, {"pattern": _ecma_pattern})


class Document:
    """The app's OpenAPI document, and what its schemas say of a value."""

    def __init__(self, app: FastAPI) -> None:
        self.openapi = app.openapi()

    def valid(self, schema: dict[str, Any], value: Any) -> bool:
        rooted = {**schema, "components": self.openapi["components"]}
        return not list(EcmaValidator(rooted).iter_errors(value))

    def body(self, path: str, method: str) -> dict[str, Any]:
        content = self.openapi["paths"][path][method]["requestBody"]["content"]
        return dict(content["application/json"]["schema"])

    def component(self, name: str) -> dict[str, Any]:
        return dict(self.openapi["components"]["schemas"][name])

    def parameter(self, path: str, method: str, name: str) -> dict[str, Any]:
        found = [p for p in self.openapi["paths"][path][method]["parameters"] if p["name"] == name]
        return dict(found[0]["schema"])


@pytest.fixture
def document(app: FastAPI) -> Document:
    return Document(app)


def agrees(valid: bool, status: int) -> bool:
    if valid:
        return status < 400 or status in ACCEPTED_ANYWAY
    return 400 <= status < 500


async def check(
    client: AsyncClient,
    document: Document,
    schema: dict[str, Any],
    method: str,
    url: str,
    body: Any,
    *,
    expect_valid: bool | None = None,
) -> int:
    """Send `body`; the document's verdict on it and the server's answer agree. Returns the status."""
    valid = document.valid(schema, body)
    if expect_valid is not None:
        assert valid == expect_valid, (url, body)
    r = await client.request(method, url, json=body)
    assert agrees(valid, r.status_code), (url, body, valid, r.status_code, r.text[:300])
    return r.status_code


async def test_a_float_with_an_integral_value_is_that_integer(
    client: AsyncClient, document: Document
) -> None:
    await make_story(client, "US-1")
    url = "/generate-test-cases/US-1/queue"
    schema = document.body("/generate-test-cases/{story_id}/queue", "post")
    for body, valid in (
        ({"num_test_cases": 2.5}, False),
        ({"num_test_cases": "2"}, False),
        ({"num_test_cases": True}, False),
        ({"num_test_cases": 51.0}, False),
        ({"num_test_cases": 2.0, "scenarios_per_test_case": 1.0}, True),
    ):
        await check(client, document, schema, "POST", url, body, expect_valid=valid)
    queued = (await client.post(url)).json()  # the job just queued, given back
    options = (await client.get(queued["status_url"])).json()["options"]
    assert [options["num_test_cases"], options["scenarios_per_test_case"]] == [2, 1]
    assert type(options["num_test_cases"]) is int  # 2, not 2.0


async def _test_case(client: AsyncClient) -> int:
    await make_story(client, "US-1")
    job = await queue(client, "US-1", num_test_cases=1, scenarios_per_test_case=1)
    await wait_for_job(client, job["status_url"], is_status("completed"), what="the job to complete")
    saved = await client.post(f"/generate-test-cases/{job['task_id']}/save")
    assert saved.status_code == 201, saved.text
    return int(saved.json()["test_case_ids"][0])


def nullable(schema: dict[str, Any]) -> bool:
    return {"type": "null"} in schema.get("anyOf", [])


async def test_patch_fields_that_refuse_null_are_documented_without_it(
    client: AsyncClient, document: Document, worker: object
) -> None:
    case_id = await _test_case(client)
    project_id = (await client.get("/user-stories/US-1")).json()["project_id"]
    for path, url, name, takes_null in (
        ("/user-stories/{story_id}", "/user-stories/US-1", "StoryUpdate", {"project_id", "language"}),
        (
            "/projects/{project_id}",
            f"/projects/{project_id}",
            "ProjectUpdate",
            {
                "llm_provider",
                "llm_model",
                "language",
                "instructions",
                "token_budget_daily",
                "default_techniques",
                "default_delivery",
            },
        ),
        ("/test-cases/{test_case_id}", f"/test-cases/{case_id}", "TestCaseUpdate", set()),
    ):
        schema = document.body(path, "patch")
        properties = document.component(name)["properties"]
        assert {field for field, spec in properties.items() if nullable(spec)} == takes_null, name
        for field in properties:
            status = await check(client, document, schema, "PATCH", url, {field: None})
            if field not in takes_null:
                r = await client.patch(url, json={field: None})
                assert r.json()["detail"][0]["msg"].endswith("may be omitted but not null"), r.text
            assert status != 422 or field not in takes_null
        if url.startswith("/user-stories"):  # give the story its project back for the next steps
            assert (await client.patch(url, json={"project_id": project_id})).status_code == 200


async def test_the_story_search_documents_the_characters_it_refuses(
    client: AsyncClient, document: Document
) -> None:
    await make_story(client, "US-1")
    schema = document.parameter("/user-stories", "get", "q")
    (text_schema,) = [branch for branch in schema.get("anyOf", [schema]) if branch.get("type") == "string"]
    assert text_schema["pattern"] == NO_CONTROL_PATTERN
    for q in ("Checkout", "check out ü 中", "a\x00", "a\n", "\t", "\x1b[2J", "\x7f", "\x9b", "\xa0"):
        valid = document.valid(text_schema, q)
        r = await client.get("/user-stories", params={"q": q})
        assert agrees(valid, r.status_code), (q, valid, r.status_code)
        if not valid:
            assert "control characters" in r.json()["detail"][0]["msg"]  # the server's own message


async def test_a_bulk_enqueue_is_one_of_story_ids_or_a_project(
    client: AsyncClient, document: Document
) -> None:
    story = await make_story(client, "US-1")
    url, path = "/generate-test-cases/queue", "/generate-test-cases/queue"
    schema = document.body(path, "post")
    assert document.component("BulkQueueRequest")["oneOf"] == [
        {"required": ["story_ids"]},
        {"required": ["project_id"]},
    ]
    for body, valid in (
        ({"story_ids": ["US-1"], "only_without_tests": True, "only_changed": True}, True),
        ({"project_id": story["project_id"], "num_test_cases": 1.0}, True),
        ({}, False),
        ({"story_ids": ["US-1"], "project_id": story["project_id"]}, False),
        ({"story_ids": None, "project_id": story["project_id"]}, False),
        ({"project_id": None}, False),
    ):
        await check(client, document, schema, "POST", url, body, expect_valid=valid)


async def test_language_tags_are_the_known_languages_in_any_case(
    client: AsyncClient, document: Document
) -> None:
    schema = document.body("/projects", "post")
    assert (
        document.component("ProjectCreate")["properties"]["language"]["anyOf"][0]["pattern"] == tag_pattern()
    )
    for i, (language, valid) in enumerate(
        (
            ("es", True),
            ("PT_br", True),
            ("zh-hant-TW", True),
            ("TLH", True),
            ("xx", False),
            (" en", False),
            ("", False),
            ("0" * 34, False),
            ("en-" + "x" * 9, False),
        )
    ):
        body = {"name": f"Shop {i}", "language": language}
        status = await check(client, document, schema, "POST", "/projects", body, expect_valid=valid)
        assert status == (201 if valid else 422), language


async def test_blank_and_padded_texts(client: AsyncClient, document: Document) -> None:
    schema = document.body("/user-stories", "post")
    for i, (title, valid) in enumerate(
        (
            (" Pay by card ", True),
            ("x" * 200, True),
            ("\x0b", False),  # white space only
            ("\u3000 \u2028", False),
            (" " + "x" * 200, False),  # the limit counts what was sent
        )
    ):
        body = {"id": f"US-{i}", "title": title, "acceptance_criteria": ["a"]}
        await check(client, document, schema, "POST", "/user-stories", body, expect_valid=valid)
    assert (await client.get("/user-stories/US-0")).json()["title"] == "Pay by card"


async def test_model_names_and_providers(client: AsyncClient, document: Document) -> None:
    project = (await client.post("/projects", json={"name": "Shop"})).json()["id"]
    url, schema = f"/projects/{project}", document.body("/projects/{project_id}", "patch")
    for model, valid in (
        ("Qwen/Qwen2.5-7B-Instruct", True),
        ("  llama3.1:8b ", True),
        ("x\U00030000", True),  # a code point no Unicode version assigns yet controls nothing
        ("\tgpt", False),
        ("gpt\u202e", False),
        ("a\u200bb", False),
        ("x\U000e0041", False),  # a tag character: invisible
        ("   ", False),
        (" " + "m" * 200, False),
    ):
        body = {"llm_provider": "offline", "llm_model": model}
        await check(client, document, schema, "PATCH", url, body, expect_valid=valid)
    status = await check(
        client, document, schema, "PATCH", url, {"llm_provider": "gemini"}, expect_valid=True
    )
    assert status == 409  # known to testgen, not configured on this server
    for provider in ("Gemini", "x" * 33):
        await check(client, document, schema, "PATCH", url, {"llm_provider": provider}, expect_valid=False)


async def test_xray_json_without_a_key_uses_the_jira_project_of_a_story_imported_from_jira(
    client: AsyncClient, engine: AsyncEngine, worker: object
) -> None:
    stories = ("SHOP-12", "US-1")
    for story_id in stories:
        await make_story(client, story_id)
        job = await queue(client, story_id, num_test_cases=1, scenarios_per_test_case=1)
        await wait_for_job(client, job["status_url"], is_status("completed"), what="the job to complete")
        assert (await client.post(f"/generate-test-cases/{job['task_id']}/save")).status_code == 201
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE user_stories SET jira_url = :url WHERE id = 'SHOP-12'"),
            {"url": "https://jira.example/browse/SHOP-12"},
        )
    params = {"format": "xray-json"}
    r = await client.get("/user-stories/SHOP-12/test-cases/export", params=params)
    assert r.status_code == 200, r.text
    assert [test["fields"]["project"] for test in r.json()] == [{"key": "SHOP"}]
    r = await client.get("/user-stories/US-1/test-cases/export", params=params)
    assert r.status_code == 409 and "project_key" in r.json()["detail"] and "US-1" in r.json()["detail"]
    project = (await client.get("/user-stories/US-1")).json()["project_id"]
    url = f"/projects/{project}/test-cases/export"
    r = await client.get(url, params=params)
    assert r.status_code == 409 and "story US-1 was not imported from Jira" in r.json()["detail"]
    r = await client.get(url, params={**params, "project_key": "QA"})
    assert r.status_code == 200 and {t["fields"]["project"]["key"] for t in r.json()} == {"QA"}


async def test_queueing_a_story_without_a_project_is_a_conflict(client: AsyncClient) -> None:
    await make_story(client, "LONE-1", project=None)
    r = await client.post("/generate-test-cases/LONE-1/queue")
    assert r.status_code == 409 and r.json()["detail"] == messages.story_without_project("LONE-1")
    r = await client.post("/generate-test-cases/queue", json={"story_ids": ["LONE-1"]})
    assert r.status_code == 409 and r.json()["detail"] == messages.story_without_project("LONE-1")


async def test_no_text_holds_nul(client: AsyncClient, document: Document) -> None:
    """PostgreSQL stores no NUL: the schema and the server refuse it in every text, ids in paths too."""
    await make_story(client, "US-1")
    post, patch = document.body("/user-stories", "post"), document.component("StoryUpdate")
    for i, fields in enumerate(
        ({"title": "Pay\x00"}, {"description": "card\x00"}, {"acceptance_criteria": ["a\x00b"]})
    ):
        body = {"id": f"US-N{i}", "title": "Pay", "acceptance_criteria": ["a"], **fields}
        assert await check(client, document, post, "POST", "/user-stories", body, expect_valid=False) == 422
        assert (
            await check(client, document, patch, "PATCH", "/user-stories/US-1", fields, expect_valid=False)
            == 422
        )
    assert (await client.get("/user-stories/US%00")).status_code == 422
    assert (await client.get("/generate-test-cases/status/t%00")).status_code == 422


def _pattern_objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if "patternProperties" in node else []
        return found + [o for value in node.values() for o in _pattern_objects(value)]
    if isinstance(node, list):
        return [o for value in node for o in _pattern_objects(value)]
    return []


def test_objects_keyed_by_a_pattern_refuse_other_keys(document: Document) -> None:
    """The server refuses a key outside the pattern: the schema says so, or a client takes it as valid."""
    objects = _pattern_objects(document.openapi)
    assert objects, "the review's test-case comments are keyed by a pattern"
    assert all(o.get("additionalProperties") is False for o in objects)
    review = document.component("ReviewRequest")
    assert not document.valid(review, {"action": "submit", "test_case_comments": {"x": "c"}})
    assert document.valid(review, {"action": "submit", "test_case_comments": {"0": "c"}})
