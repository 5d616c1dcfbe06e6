from __future__ import annotations

from httpx import AsyncClient

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
    assert (await client.get("/docs")).status_code == 200
