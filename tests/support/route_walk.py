"""A walk over every operation of the OpenAPI document: two projects (A and B) with a story, a
completed draft and a saved test case each, a server admin, one member of A per role and a member
of B only, and for each operation a request that names project A's objects.

Reads name the shared objects of A; every state-changing request names objects made for it alone
(in A too), so that no write changes what a later request sees and the order of the walk does not
matter.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.api.access import ROUTE_RULES, Reach, Rule
from testgen.api.http_methods import flat_routes
from testgen.api.passwords import hash_password
from testgen.api.personal_tokens import new_token
from testgen.api.request_guard import STATE_CHANGING
from testgen.data import accounts
from testgen.data.models import ApiToken, GenerationJob, ProjectMember, TestCase, utcnow
from testgen.domain.roles import Role
from testgen.testmgmt.factory import HttpOptions
from tests.support import saved_jobs
from tests.support.accounts import PASSWORD, Account

# Every identifier of project A holds MARK (its story ids), its name and every title SECRET: an answer
# to a member of B only that holds either shows one of A's objects (a 404 may echo an id it was sent).
MARK = "alpha"
SECRET = "confidential"
SERVER_ADMIN = "server_admin"
OUTSIDER = "outsider"  # an admin of project B, no member of A
ROLES_IN_A = {"viewer": Role.viewer, "editor": Role.editor, "reviewer": Role.reviewer, "admin": Role.admin}
# Status codes that refuse a caller: not signed in, not allowed, or (another project's) not found.
REFUSALS = frozenset({401, 403, 404})
_PARAM = re.compile(r"{(\w+)}")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    operation_id: str
    name: str  # the route's name: its function's, the key of ROUTE_RULES
    body: str  # "none", "optional" or "required"

    @property
    def params(self) -> list[str]:
        return _PARAM.findall(self.path)

    @property
    def writes(self) -> bool:
        return self.method in STATE_CHANGING

    @property
    def rule(self) -> Rule | None:
        return ROUTE_RULES.get(self.name)

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.name})"


def route_names(app: FastAPI) -> set[str]:
    """The name of every route of the app, those left out of the OpenAPI document too."""
    return {str(route.name) for route in flat_routes(app.routes)}


def operations(app: FastAPI) -> list[Operation]:
    """Every operation (path and method) of the app's OpenAPI document, with its route's name."""
    names = {
        (route.path_format, method): str(route.name)
        for route in flat_routes(app.routes)
        if route.include_in_schema
        for method in route.methods or ()
    }
    found = []
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            request_body = operation.get("requestBody")
            body = (
                "none" if request_body is None else "required" if request_body.get("required") else "optional"
            )
            found.append(
                Operation(method.upper(), path, operation["operationId"], names[(path, method.upper())], body)
            )
    return found


@dataclass(frozen=True)
class Payload:
    """What an operation sends besides its path: a JSON body and query parameters, each built from
    the ids of the objects the request names (`needs`: the kinds of object they use)."""

    body: Callable[[Mapping[str, Any]], Any] | None = None
    query: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None  # a multipart upload instead of JSON
    needs: tuple[str, ...] = ()


# By operationId: the smallest valid request of each operation that needs more than its path.
PAYLOADS: dict[str, Payload] = {
    "upload_attachment_user_stories__story_id__attachments_post": Payload(
        files={"file": ("notes.txt", b"Walked notes", "text/plain")}
    ),
    "login_auth_login_post": Payload(
        body=lambda ids: {"email": ids["email"], "password": PASSWORD}, needs=("email",)
    ),
    "create_token_auth_tokens_post": Payload(body=lambda ids: {"name": "walk"}),
    "extend_draft_generate_test_cases__task_id__extend_post": Payload(body=lambda ids: {"num_test_cases": 1}),
    "pairwise_examples_test_design_pairwise_post": Payload(
        body=lambda ids: {"parameters": [{"name": "a", "values": ["1", "2"]}, {"name": "b", "values": ["x"]}]}
    ),
    "create_project_projects_post": Payload(body=lambda ids: {"name": f"Walk {ids['n']}"}, needs=("n",)),
    "update_project_projects__project_id__patch": Payload(body=lambda ids: {"description": "Walked"}),
    "add_member_projects__project_id__members_post": Payload(
        body=lambda ids: {"user_id": ids["new_user_id"], "role": "viewer"}, needs=("new_user_id",)
    ),
    "update_member_projects__project_id__members__user_id__patch": Payload(
        body=lambda ids: {"role": "viewer"}
    ),
    "create_user_users_post": Payload(
        body=lambda ids: {"email": f"walk{ids['n']}@example.com", "name": "Walk"}, needs=("n",)
    ),
    "update_user_users__user_id__patch": Payload(body=lambda ids: {"name": "Walked"}),
    "import_from_jira_projects__project_id__imports_jira_post": Payload(
        body=lambda ids: {"jql": "project = SHOP"}
    ),
    "import_from_github_projects__project_id__imports_github_post": Payload(body=lambda ids: {}),
    "import_from_azure_devops_projects__project_id__imports_azure_devops_post": Payload(
        body=lambda ids: {"wiql": "SELECT [System.Id] FROM WorkItems"}
    ),
    "create_story_user_stories_post": Payload(
        body=lambda ids: {
            "id": f"WALK-{ids['n']}",
            "project_id": ids["project_id"],
            "title": "A walked story",
            "description": "As a shopper I want to pay",
            "acceptance_criteria": ["Paying works"],
        },
        needs=("n", "project_id"),
    ),
    "update_story_user_stories__story_id__patch": Payload(body=lambda ids: {"priority": "high"}),
    "queue_stories_generate_test_cases_queue_post": Payload(
        body=lambda ids: {"story_ids": [ids["story_id"]]}, needs=("story_id",)
    ),
    "update_test_case_test_cases__test_case_id__patch": Payload(body=lambda ids: {"priority": "high"}),
    "multiplexed_events_generate_test_cases_events_get": Payload(
        query=lambda ids: {"task_id": ids["task_id"]}, needs=("task_id",)
    ),
    "review_draft_generate_test_cases__task_id__review_post": Payload(body=lambda ids: {"action": "submit"}),
    "edit_draft_test_case_generate_test_cases__task_id__test_cases__index__patch": Payload(
        body=lambda ids: saved_jobs.DRAFT["test_cases"][0]
    ),
    "create_connection_projects__project_id__connections_post": Payload(
        body=lambda ids: {**CONNECTION, "name": f"Walk {ids['n']}"}, needs=("n",)
    ),
    "update_connection_projects__project_id__connections__connection_id__patch": Payload(
        body=lambda ids: {"name": f"Walked {ids['n']}"}, needs=("n",)
    ),
    "story_automation_user_stories__story_id__test_cases_automation_get": Payload(
        query=lambda ids: {"framework": "behave"}
    ),
    "fill_automation_user_stories__story_id__test_cases_automation_fill_post": Payload(
        body=lambda ids: {"base_url": "http://127.0.0.1:9/"}
    ),
    "project_automation_projects__project_id__test_cases_automation_get": Payload(
        query=lambda ids: {"framework": "playwright-bdd"}
    ),
    "push_to_tool_projects__project_id__push_post": Payload(
        body=lambda ids: {"connection_id": ids["connection_id"]}, needs=("connection_id",)
    ),
}
# A connection whose test finds nothing listening (at once: the walk's retries do not wait).
CONNECTION = {
    "kind": "testrail",
    "url": "http://127.0.0.1:9",
    "username": "walk@example.com",
    "testrail_project_id": 1,
    "api_key": "walk-key",
}
# Operations whose body the walk cannot build (sent without one: a refusal must still come first).
NO_BODY: frozenset[str] = frozenset()


def missing_payloads(ops: list[Operation]) -> list[str]:
    """Operations that need a body the walk neither builds nor lists in NO_BODY."""
    return [
        f"{op} {op.operation_id}"
        for op in ops
        if op.body == "required" and op.operation_id not in PAYLOADS and op.operation_id not in NO_BODY
    ]


@dataclass
class Caller:
    key: str
    account: Account
    is_admin: bool = False
    roles: Mapping[int, Role] = field(default_factory=dict)  # by project id
    role_in_a: Role | None = None
    token: str = ""

    @property
    def administers_a_project(self) -> bool:
        return self.is_admin or Role.admin in self.roles.values()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def __str__(self) -> str:
        return self.key


@dataclass
class World:
    client: AsyncClient
    sessionmaker: async_sessionmaker[AsyncSession]
    project_a: int
    project_b: int
    story_a: str
    story_b: str
    task_a: str
    task_b: str
    test_case_a: int
    test_case_b: int
    member_a: int  # a viewer of A, the member the member routes name
    connection_a: int = 0
    callers: dict[str, Caller] = field(default_factory=dict)
    _count: Iterator[int] = field(default_factory=itertools.count)

    @property
    def admin(self) -> Caller:
        return self.callers[SERVER_ADMIN]

    def next_number(self) -> int:
        return next(self._count)

    async def fresh_story(self) -> str:
        story_id = f"ALPHA-{self.next_number()}"
        response = await self.client.post(
            "/user-stories",
            json={
                "id": story_id,
                "project_id": self.project_a,
                "title": f"Confidential story {story_id}",
                "acceptance_criteria": ["Paying works", "A bad card is refused"],
            },
            headers=self.admin.headers,
        )
        assert response.status_code == 201, response.text
        return story_id

    async def fresh_job(self, story_id: str | None = None) -> str:
        async with self.sessionmaker() as session:
            job = completed_draft(story_id or self.story_a)
            session.add(job)
            await session.commit()
            return job.id

    async def fresh_test_case(self, story_id: str | None = None) -> int:
        async with self.sessionmaker() as session:
            story_id = story_id or self.story_a
            title = f"Pay by card ({SECRET})" if story_id.startswith("ALPHA") else "Pay by card"
            case = TestCase(story_id=story_id, title=title, scenarios=[])
            session.add(case)
            await session.commit()
            return case.id

    async def fresh_user(self, role_in_a: Role | None) -> int:
        async with self.sessionmaker() as session:
            number = self.next_number()
            user = await accounts.create_user(
                session,
                email=f"spare{number}@example.com",
                name=f"spare{number}",
                password_hash=None,
                is_admin=False,
            )
            if role_in_a is not None:
                session.add(ProjectMember(project_id=self.project_a, user_id=user.id, role=role_in_a.value))
            await session.commit()
            return user.id

    async def fresh_connection(self) -> int:
        response = await self.client.post(
            f"/projects/{self.project_a}/connections",
            json={**CONNECTION, "name": f"Spare {self.next_number()}"},
            headers=self.admin.headers,
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def fresh_token(self, caller: Caller | None) -> int:
        if caller is None:
            return 1
        response = await self.client.post("/auth/tokens", json={"name": "spare"}, headers=caller.headers)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def ids(self, op: Operation, caller: Caller | None) -> dict[str, Any]:
        """The objects the request names: A's shared ones for a read, new ones in A for a write."""
        payload = PAYLOADS.get(op.operation_id, Payload())
        found: dict[str, Any] = {}
        for kind in dict.fromkeys([*op.params, *payload.needs]):
            if kind == "attachment_id":  # one of the story's
                found[kind] = await self.fresh_attachment(found["story_id"])
                continue
            found[kind] = await self._object(kind, op.writes, caller)
        return found

    async def fresh_attachment(self, story_id: str) -> int:
        response = await self.client.post(
            f"/user-stories/{story_id}/attachments",
            files={"file": ("walk.txt", f"Walk {self.next_number()}".encode(), "text/plain")},
            headers=self.admin.headers,
        )
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    async def _object(self, kind: str, fresh: bool, caller: Caller | None) -> Any:
        if kind == "project_id":
            return self.project_a
        if kind == "index":
            return 0
        if kind == "n":
            return self.next_number()
        if kind == "email":
            return self.admin.account.email
        if kind == "token_id":
            return await self.fresh_token(caller)
        if kind == "new_user_id":
            return await self.fresh_user(None)
        if kind == "story_id":
            return await self.fresh_story() if fresh else self.story_a
        if kind == "task_id":
            return await self.fresh_job() if fresh else self.task_a
        if kind == "test_case_id":
            return await self.fresh_test_case() if fresh else self.test_case_a
        if kind == "connection_id":
            return await self.fresh_connection() if fresh else self.connection_a
        if kind == "user_id":
            return await self.fresh_user(Role.viewer) if fresh else self.member_a
        raise AssertionError(f"The walk has no object for the path parameter {kind!r}: add one to World")

    async def send(
        self,
        op: Operation,
        caller: Caller | None,
        *,
        client: AsyncClient | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """`op` as `caller` (None: with no credential), with the caller's token; or through `client`
        (signed in with a session) with `headers`."""
        ids = await self.ids(op, caller)
        payload = PAYLOADS.get(op.operation_id, Payload())
        path = op.path.format(**{name: ids[name] for name in op.params})
        if headers is None:
            headers = caller.headers if caller is not None and client is None else {}
        kwargs: dict[str, Any] = {"headers": dict(headers)}
        if payload.body is not None:
            kwargs["json"] = payload.body(ids)
        if payload.query is not None:
            kwargs["params"] = payload.query(ids)
        if payload.files is not None:
            kwargs["files"] = payload.files
        response = await (client or self.client).request(op.method, path, **kwargs)
        if client is None:
            self.client.cookies.clear()  # a sign-in's cookie stays out of the next request
        return response


def completed_draft(story_id: str) -> GenerationJob:
    now = utcnow()
    return GenerationJob(
        id=str(uuid.uuid4()),
        story_id=story_id,
        kind="generate",
        status="completed",
        progress=100,
        message="Completed",
        attempts=1,
        options=saved_jobs.GENERATE_OPTIONS,
        result=saved_jobs.DRAFT,
        created_at=now - dt.timedelta(seconds=5),
        started_at=now - dt.timedelta(seconds=4),
        finished_at=now,
    )


async def seed(app: FastAPI, client: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]) -> World:
    """Projects A and B with their objects (made in open mode, as the local admin), then the users:
    from then on every request signs in. Each caller has a personal token (written to the database
    with its user: the sign-in has its own tests)."""
    projects = []
    for name in (f"Alpha {SECRET} project", "Bravo project"):
        response = await client.post("/projects", json={"name": name})
        assert response.status_code == 201, response.text
        projects.append(int(response.json()["id"]))
    stories = []
    for story_id, project_id in (("ALPHA-STORY", projects[0]), ("BRAVO-STORY", projects[1])):
        response = await client.post(
            "/user-stories",
            json={
                "id": story_id,
                "project_id": project_id,
                "title": f"Checkout of {story_id}" + (f" ({SECRET})" if project_id == projects[0] else ""),
                "acceptance_criteria": ["Paying works", "A bad card is refused"],
            },
        )
        assert response.status_code == 201, response.text
        stories.append(story_id)
    world = World(client, sessionmaker, projects[0], projects[1], stories[0], stories[1], "", "", 0, 0, 0)
    world.task_a, world.task_b = await world.fresh_job(stories[0]), await world.fresh_job(stories[1])
    world.test_case_a = await world.fresh_test_case(stories[0])
    world.test_case_b = await world.fresh_test_case(stories[1])

    password_hash = await hash_password(PASSWORD)  # one argon2 hash for every user

    async def caller(key: str, *, admin: bool = False, roles: Mapping[int, Role] | None = None) -> Caller:
        async with sessionmaker() as session:
            email = f"{key.replace('_', '.')}@example.com"
            user = await accounts.create_user(
                session, email=email, name=key, password_hash=password_hash, is_admin=admin
            )
            for project_id, role in (roles or {}).items():
                session.add(ProjectMember(project_id=project_id, user_id=user.id, role=role.value))
            token = new_token()
            session.add(ApiToken(user_id=user.id, name="walk", prefix=token.prefix, token_hash=token.digest))
            await session.commit()
            role_in_a = (roles or {}).get(world.project_a)
            return Caller(
                key,
                Account(user.id, user.email),
                is_admin=admin,
                roles=dict(roles or {}),
                role_in_a=role_in_a,
                token=token.plain,
            )

    world.callers[SERVER_ADMIN] = await caller(SERVER_ADMIN, admin=True)
    for key, role in ROLES_IN_A.items():
        world.callers[key] = await caller(key, roles={world.project_a: role})
    world.callers[OUTSIDER] = await caller(OUTSIDER, roles={world.project_b: Role.admin})
    app.state.users_gate.mark()
    world.member_a = await world.fresh_user(Role.viewer)
    world.connection_a = await world.fresh_connection()
    app.state.tool_http_options = HttpOptions(timeout_s=5, sleep=_no_wait)
    return world


async def _no_wait(_: float) -> None:
    return None


def expectation(rule: Rule, caller: Caller | None) -> tuple[str, Callable[[int], bool]]:
    """What `caller` should get from a route of `rule` that names project A's objects."""
    if rule.reach is Reach.open:
        return "an answer without a credential", lambda status: status not in (401, 403)
    if caller is None:
        return "401", lambda status: status == 401
    if rule.reach is Reach.signed_in:
        return "an answer for anyone signed in", lambda status: status not in (401, 403)
    if rule.reach is Reach.server_admin:
        if caller.is_admin:
            return "an answer for a server admin", lambda status: status not in (401, 403)
        return "403", lambda status: status == 403
    if rule.reach.value == "project_admin":  # an admin of some project reads its rows only
        if caller.administers_a_project:
            return "an answer for an admin of a project", lambda status: status not in (401, 403)
        return "403 (no project's admin)", lambda status: status == 403
    if rule.reach is not Reach.project:
        raise AssertionError(f"The walk knows no reach {rule.reach!r}: teach route_walk.expectation")
    role = Role.admin if caller.is_admin else caller.role_in_a
    needed = rule.role or Role.viewer
    if role is None:
        return "404 (not a member of A)", lambda status: status == 404
    if not role.allows(needed):
        return f"403 ({role.value} below {needed.value})", lambda status: status == 403
    return f"an answer ({role.value} at or above {needed.value})", lambda status: status not in REFUSALS
