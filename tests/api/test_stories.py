from __future__ import annotations

import asyncio
import datetime as dt
import re

from fastapi.routing import APIRoute
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.api.app import DOCS_SECTIONS, ROUTERS
from testgen.core.database import create_sessionmaker
from testgen.data.models import GenerationJob, StoryRevision, utcnow
from testgen.data.models import TestCase as SavedCaseRow

STORY = {
    "id": "US-001",
    "title": "Log in",
    "description": "As a user I want to log in so that I can see my dashboard",
    "acceptance_criteria": ["Valid credentials open the dashboard", "Wrong password shows an error"],
    "priority": "high",
}


async def make_project(client: AsyncClient, name: str = "Shop") -> int:
    r = await client.post("/projects", json={"name": name, "description": "web shop"})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


async def test_project_create_list_and_duplicate(client: AsyncClient) -> None:
    pid = await make_project(client)
    r = await client.get("/projects")
    assert [p["name"] for p in r.json()] == ["Shop"]
    assert r.json()[0]["id"] == pid
    dup = await client.post("/projects", json={"name": "Shop"})
    assert dup.status_code == 409
    assert "Shop" in dup.json()["detail"]


async def test_story_crud_round_trip(client: AsyncClient) -> None:
    pid = await make_project(client)
    r = await client.post("/user-stories", json={**STORY, "project_id": pid})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["acceptance_criteria"] == STORY["acceptance_criteria"]
    assert body["created_at"].endswith(("Z", "+00:00"))

    got = await client.get("/user-stories/US-001")
    assert got.json()["title"] == "Log in"

    patched = await client.patch("/user-stories/US-001", json={"title": "Sign in", "priority": "critical"})
    assert patched.status_code == 200
    assert patched.json()["title"] == "Sign in"
    assert patched.json()["priority"] == "critical"
    assert patched.json()["acceptance_criteria"] == STORY["acceptance_criteria"]

    assert (await client.get("/user-stories/US-001/test-cases")).json() == []
    assert (await client.delete("/user-stories/US-001")).status_code == 204
    gone = await client.get("/user-stories/US-001")
    assert gone.status_code == 404
    assert gone.json()["detail"] == "User story US-001 not found"


async def test_list_filters_by_project(client: AsyncClient) -> None:
    a = await make_project(client, "A")
    b = await make_project(client, "B")
    await client.post("/user-stories", json={**STORY, "id": "A-1", "project_id": a})
    await client.post("/user-stories", json={**STORY, "id": "B-1", "project_id": b})
    await client.post("/user-stories", json={**STORY, "id": "NONE-1"})
    assert [s["id"] for s in (await client.get(f"/user-stories?project_id={b}")).json()] == ["B-1"]
    assert len((await client.get("/user-stories")).json()) == 3


async def test_unknown_ids_give_404_naming_the_id(client: AsyncClient) -> None:
    for method, url in [
        ("GET", "/user-stories/US-999"),
        ("PATCH", "/user-stories/US-999"),
        ("DELETE", "/user-stories/US-999"),
        ("GET", "/user-stories/US-999/test-cases"),
    ]:
        r = await client.request(method, url, json={} if method == "PATCH" else None)
        assert r.status_code == 404, (method, url)
        assert r.json()["detail"] == "User story US-999 not found"
    r = await client.post("/user-stories", json={**STORY, "project_id": 4242})
    assert r.status_code == 404
    assert r.json()["detail"] == "Project 4242 not found"


async def test_duplicate_story_is_409(client: AsyncClient) -> None:
    assert (await client.post("/user-stories", json=STORY)).status_code == 201
    r = await client.post("/user-stories", json=STORY)
    assert r.status_code == 409
    assert "US-001" in r.json()["detail"]


async def test_invalid_fields_are_422_naming_the_field(client: AsyncClient) -> None:
    cases = [
        ({**STORY, "id": "-bad"}, "id"),
        ({**STORY, "id": "x" * 65}, "id"),
        ({**STORY, "id": "has space"}, "id"),
        ({**STORY, "title": "t" * 201}, "title"),
        ({**STORY, "title": "   "}, "title"),
        ({**STORY, "description": "d" * 20_001}, "description"),
        ({**STORY, "acceptance_criteria": ["c"] * 51}, "acceptance_criteria"),
        ({**STORY, "acceptance_criteria": ["c" * 2_001]}, "acceptance_criteria"),
        ({**STORY, "priority": "urgent"}, "priority"),
    ]
    for payload, field in cases:
        r = await client.post("/user-stories", json=payload)
        assert r.status_code == 422, (field, r.text)
        assert any(field in err["loc"] for err in r.json()["detail"]), (field, r.json())
    assert (await client.get("/user-stories")).json() == []

    await client.post("/user-stories", json=STORY)
    r = await client.patch("/user-stories/US-001", json={"title": None})
    assert r.status_code == 422
    assert "title" in r.json()["detail"][0]["loc"]


async def test_limits_are_inclusive(client: AsyncClient) -> None:
    payload = {
        **STORY,
        "id": "J" + "x" * 63,
        "title": "t" * 200,
        "description": "d" * 20_000,
        "acceptance_criteria": ["c" * 2_000] * 50,
    }
    r = await client.post("/user-stories", json=payload)
    assert r.status_code == 201, r.text


async def test_openapi_is_served(client: AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert "/user-stories/{story_id}" in spec["paths"]
    assert [tag["name"] for tag in spec["tags"]] == list(DOCS_SECTIONS)
    assert (await client.get("/docs")).status_code == 200


def test_no_two_routers_answer_the_same_request() -> None:
    """The app includes its busiest routers first (FastAPI tries routes in order): that is only
    harmless while no request could be answered by routes of two routers."""
    routes = [
        (n, route)
        for n, router in enumerate(ROUTERS)
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    assert len(routes) > 30
    for n, route in routes:
        for value in ("x", "1", "events", "queue", "status", "providers", "save", "export", "drafts"):
            path = re.sub(r"\{[^}]+\}", value, route.path)
            for m, other in routes:
                both = route.methods & other.methods if m != n else set()
                assert not (both and other.path_regex.match(path)), (route.path, other.path, both)


async def test_list_searches_filters_by_state_and_counts(client: AsyncClient) -> None:
    pid = await make_project(client)
    other = await make_project(client, "Other")
    for i in range(12):
        title = "Reset password" if i % 3 == 0 else f"Checkout step {i}"
        await client.post(
            "/user-stories", json={**STORY, "id": f"US-{i:03d}", "title": title, "project_id": pid}
        )
    await client.post(
        "/user-stories", json={**STORY, "id": "OT-1", "title": "Reset 100%_ off", "project_id": other}
    )

    page = await client.get(f"/user-stories?project_id={pid}&limit=5&offset=5")
    assert [s["id"] for s in page.json()] == [f"US-{i:03d}" for i in range(5, 10)]
    assert page.headers["x-total-count"] == "12"
    found = await client.get("/user-stories", params={"q": "reset"})
    assert [s["id"] for s in found.json()] == ["US-000", "US-003", "US-006", "US-009", "OT-1"]
    assert found.headers["x-total-count"] == "5"
    assert [s["id"] for s in (await client.get("/user-stories", params={"q": "us-01"})).json()] == [
        "US-010",
        "US-011",
    ]
    # % and _ are searched for as themselves, not as LIKE wildcards
    assert [s["id"] for s in (await client.get("/user-stories", params={"q": "0%_"})).json()] == ["OT-1"]
    assert (await client.get("/user-stories", params={"q": "x%y"})).json() == []
    assert (await client.get("/user-stories", params={"state": "sleeping"})).status_code == 422
    assert (await client.get("/user-stories", params={"q": "x" * 201})).status_code == 422
    for control in ("\x00", "reset\x00", "\x1b[2J", "a\nb", "\x7f", "\x9b"):
        refused = await client.get("/user-stories", params={"q": control})
        assert refused.status_code == 422, repr(control)  # NUL was a LIKE of "%": every story
        (error,) = refused.json()["detail"]
        assert error["loc"] == ["query", "q"] and "control characters" in error["msg"]
    assert len((await client.get("/user-stories", params={"q": "Reset 100%_ off"})).json()) == 1


async def test_list_filters_by_the_state_of_the_latest_job(client: AsyncClient, engine: AsyncEngine) -> None:
    pid = await make_project(client)
    for story_id in ("S-NONE", "S-DRAFT", "S-SAVED", "S-RUN", "S-FAIL", "S-RETRIED"):
        await client.post("/user-stories", json={**STORY, "id": story_id, "project_id": pid})
    now = utcnow()
    older = now - dt.timedelta(minutes=5)
    async with create_sessionmaker(engine)() as session:
        session.add_all(
            [
                GenerationJob(id="j-draft", story_id="S-DRAFT", status="completed", created_at=now),
                GenerationJob(
                    id="j-saved", story_id="S-SAVED", status="completed", created_at=now, saved_at=now
                ),
                SavedCaseRow(story_id="S-SAVED", title="saved", scenarios=[]),
                GenerationJob(id="j-run", story_id="S-RUN", status="generating", created_at=now),
                GenerationJob(id="j-fail", story_id="S-FAIL", status="failed", created_at=now),
                # failed once, then retried: its latest job is the one that counts
                GenerationJob(id="j-old", story_id="S-RETRIED", status="failed", created_at=older),
                GenerationJob(id="j-new", story_id="S-RETRIED", status="completed", created_at=now),
                # a regeneration of one test case is not the story's generation job
                GenerationJob(
                    id="j-regen", story_id="S-DRAFT", kind="regenerate", status="failed", created_at=now
                ),
            ]
        )
        await session.commit()

    async def ids(state: str) -> list[str]:
        response = await client.get("/user-stories", params={"state": state, "project_id": pid})
        assert response.headers["x-total-count"] == str(len(response.json()))
        return [s["id"] for s in response.json()]

    assert await ids("no_tests") == ["S-NONE", "S-DRAFT", "S-RUN", "S-FAIL", "S-RETRIED"]
    assert await ids("draft_ready") == ["S-DRAFT", "S-RETRIED"]
    assert await ids("running") == ["S-RUN"]
    assert await ids("failed") == ["S-FAIL"]
    assert [
        s["id"] for s in (await client.get("/user-stories", params={"state": "failed", "q": "none"})).json()
    ] == []


async def test_concurrent_criteria_edits_each_get_a_revision(
    client: AsyncClient, engine: AsyncEngine
) -> None:
    """Edits of one story's criteria at once take turns: each succeeds and records the next revision
    (1 at creation, then 2 to 5), whose criteria are the story's after that edit."""
    assert (await client.post("/user-stories", json=STORY)).status_code == 201
    edits = [[f"Criterion {i}a", f"Criterion {i}b"] for i in range(4)]
    answers = await asyncio.gather(
        *(client.patch("/user-stories/US-001", json={"acceptance_criteria": edit}) for edit in edits)
    )
    assert [r.status_code for r in answers] == [200] * 4, [r.text for r in answers]
    assert sorted(r.json()["revision"] for r in answers) == [2, 3, 4, 5]
    story = (await client.get("/user-stories/US-001")).json()
    async with engine.connect() as conn:
        query = (
            select(StoryRevision.revision, StoryRevision.acceptance_criteria)
            .where(StoryRevision.story_id == "US-001")
            .order_by(StoryRevision.revision)
        )
        revisions = {revision: criteria for revision, criteria in await conn.execute(query)}
    assert list(revisions) == [1, 2, 3, 4, 5] and story["revision"] == 5
    assert revisions[1] == STORY["acceptance_criteria"]
    assert sorted(map(tuple, list(revisions.values())[1:])) == sorted(map(tuple, edits))
    assert revisions[5] == story["acceptance_criteria"]
    for r in answers:  # each answer names the revision its own edit made
        assert revisions[r.json()["revision"]] == r.json()["acceptance_criteria"]
