"""A fake Zephyr Scale Cloud API (v2) on 127.0.0.1, on the fake tools' server (tests/support/fake_xray.py).

It speaks the documented contract: a bearer token; `GET /projects/{key}`; folders (`GET /folders`
paged with `startAt`/`maxResults` → `{startAt, maxResults, total, isLast, values}`, `POST /folders`
`{parentId, name, projectKey, folderType}`; a name twice under one parent is refused); test cases
(`POST /testcases` → 201 `{id, key, self}` with one empty step, `GET /testcases` paged and filtered by
`folderId`, `GET`/`PUT /testcases/{key}`: PUT replaces the whole object, so what it omits is cleared),
steps (`POST /testcases/{key}/teststeps {mode: APPEND|OVERWRITE, items}`, at most 100), web links and
issue links, priorities by project. Keys look like "SHOP-T12". Refusals are `{errorCode, message}`.

It can misbehave like the real one: a per-minute limit and 429s with `Retry-After` (from the shared
server), a test case refused by its name, an edit made "in the tool". Test cases have no update time:
an edit shows only in their fields.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tests.support.fake_xray import Refusal, Request, ToolServer

MAX_RESULTS = 1000
MAX_STEPS = 100
# Fields of a test case that PUT writes; the others (id, key, project, createdOn, links…) stay.
WRITABLE = (
    "name",
    "objective",
    "precondition",
    "estimatedTime",
    "labels",
    "component",
    "owner",
    "customFields",
)


@dataclass
class FakeZephyr(ToolServer):
    token: str = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.zephyr-s3cr3t-token.0123456789"
    project_key: str = "SHOP"
    enabled: bool = True
    folders: dict[int, dict[str, Any]] = field(default_factory=dict)
    cases: dict[str, dict[str, Any]] = field(default_factory=dict)  # by key
    steps: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # by test case key
    refused: dict[str, str] = field(default_factory=dict)  # test case name -> Zephyr's message

    def __post_init__(self) -> None:
        super().__post_init__()
        self.project_id = 10005
        self.priorities = [
            {"id": 3301 + n, "name": name, "index": n, "default": name == "Normal"}
            for n, name in enumerate(("High", "Normal", "Low"))
        ]
        self.case_statuses = [
            {"id": 3401, "name": "Draft", "default": True},
            {"id": 3402, "name": "Approved"},
        ]
        self._next_folder = 5301
        self._next_case = 401
        self._next_key = 12
        self._next_link = 901

    @property
    def settings(self) -> dict[str, Any]:
        return {"kind": "zephyr-scale", "jira_project_key": self.project_key, "api_url": self.url}

    @property
    def secrets(self) -> dict[str, str]:
        return {"token": self.token}

    # --- test-only --------------------------------------------------------------------------------

    def add_folders(self, names: list[str], parent: int | None = None) -> list[int]:
        """Folders made by someone else."""
        with self._lock:
            return [self._new_folder(name, parent)["id"] for name in names]

    def add_cases(self, folder_id: int, count: int, labels: list[str] | None = None) -> list[str]:
        """Test cases made by someone else (to fill a folder past a page)."""
        with self._lock:
            return [
                self._new_case({"name": f"Manual case {n}", "folderId": folder_id, "labels": labels or []})[
                    "key"
                ]
                for n in range(count)
            ]

    def edit_case(self, key: str, **changes: Any) -> None:
        """Someone edits the test case in Zephyr."""
        with self._lock:
            self.cases[key].update(changes)

    def refuse(self, name: str, message: str) -> None:
        self.refused[name] = message

    def by_label(self, label: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self.cases.values() if label in (c.get("labels") or [])]

    def folder_named(self, name: str, parent: int | None = None) -> dict[str, Any]:
        return next(f for f in self.folders.values() if f["name"] == name and f["parentId"] == parent)

    # --- the server -------------------------------------------------------------------------------

    def _error(self, status: int, message: str) -> Any:
        return {"errorCode": status, "message": message}

    def _authorize(self, request: Request) -> None:
        if request.authorization != f"Bearer {self.token}":
            raise Refusal(
                401, self._error(401, "Authentication failed: the token is missing, invalid or expired.")
            )

    def _answer(self, request: Request) -> tuple[int, Any]:
        path, method, query, body = request.path, request.method, request.query, request.body
        project = re.fullmatch(r"/projects/([^/]+)", path)
        if project and method == "GET":
            if project.group(1) != self.project_key:
                raise Refusal(404, self._error(404, f"Project '{project.group(1)}' was not found."))
            return 200, {
                "id": self.project_id,
                "jiraProjectId": 10000,
                "key": self.project_key,
                "enabled": self.enabled,
            }
        if path == "/folders" and method == "GET":
            self._project(query.get("projectKey"))
            rows = [
                f
                for f in self.folders.values()
                if f["folderType"] == query.get("folderType", f["folderType"])
            ]
            return 200, self._page(rows, query)
        if path == "/folders" and method == "POST":
            return 201, self._create_folder(body or {})
        if path == "/priorities" and method == "GET":
            self._project(query.get("projectKey"))
            rows = [{**p, "project": {"id": self.project_id}} for p in self.priorities]
            return 200, self._page(rows, query)
        if path == "/testcases" and method == "GET":
            self._project(query.get("projectKey"))
            rows = list(self.cases.values())
            if "folderId" in query:
                rows = [c for c in rows if c["folder"] and str(c["folder"]["id"]) == query["folderId"]]
            return 200, self._page(rows, query)
        if path == "/testcases" and method == "POST":
            created = self._create_case(body or {})
            return 201, {"id": created["id"], "key": created["key"], "self": self._self(created["key"])}
        case = re.fullmatch(r"/testcases/([A-Z][A-Z0-9_]*-T\d+)(/.*)?", path)
        if case:
            return self._case_route(case.group(1), case.group(2) or "", method, body)
        raise Refusal(404, self._error(404, f"No endpoint {method} {path}"))

    def _case_route(self, key: str, rest: str, method: str, body: Any) -> tuple[int, Any]:
        if key not in self.cases:
            raise Refusal(404, self._error(404, f"Test case '{key}' was not found."))
        if rest == "" and method == "GET":
            return 200, dict(self.cases[key])
        if rest == "" and method == "PUT":
            self._replace(key, body or {})
            return 200, None
        if rest == "/teststeps" and method == "POST":
            return 201, self._write_steps(key, body or {})
        if rest == "/teststeps" and method == "GET":
            return 200, self._page(self.steps[key], {})
        if rest == "/links/weblinks" and method == "POST":
            if not str((body or {}).get("url") or "").strip():
                raise Refusal(400, self._error(400, "url: must not be blank"))
            return 201, self._link(
                key, "webLinks", {"url": body["url"], "description": body.get("description")}
            )
        if rest == "/links/issues" and method == "POST":
            if not isinstance((body or {}).get("issueId"), int):
                raise Refusal(400, self._error(400, "issueId: must be an integer"))
            return 201, self._link(key, "issues", {"issueId": body["issueId"]})
        raise Refusal(
            405 if rest in ("", "/teststeps") else 404,
            self._error(405, f"{method} {rest or key} is not allowed"),
        )

    def _project(self, key: str | None) -> None:
        if key != self.project_key:
            raise Refusal(
                400, self._error(400, f"projectKey: the project '{key}' was not found or is not enabled")
            )

    def _page(self, rows: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
        start = max(0, int(query.get("startAt") or 0))
        size = min(MAX_RESULTS, max(1, int(query.get("maxResults") or 10)))
        chosen = rows[start : start + size]
        return {
            "startAt": start,
            "maxResults": size,
            "total": len(rows),
            "isLast": start + size >= len(rows),
            "values": [dict(r) for r in chosen],
        }

    def _self(self, key: str) -> str:
        return f"{self.url}/testcases/{key}"

    def _new_folder(self, name: str, parent: int | None) -> dict[str, Any]:
        folder: dict[str, Any] = {
            "id": self._next_folder,
            "parentId": parent,
            "name": name,
            "index": len(self.folders),
            "folderType": "TEST_CASE",
            "project": {"id": self.project_id, "self": f"{self.url}/projects/{self.project_id}"},
        }
        self._next_folder += 1
        self.folders[folder["id"]] = folder
        return folder

    def _create_folder(self, body: dict[str, Any]) -> dict[str, Any]:
        self._project(body.get("projectKey"))
        name, parent = str(body.get("name") or "").strip(), body.get("parentId")
        if body.get("folderType") not in ("TEST_CASE", "TEST_PLAN", "TEST_CYCLE"):
            raise Refusal(
                400, self._error(400, "folderType: must be one of TEST_CASE, TEST_PLAN, TEST_CYCLE")
            )
        if not name or len(name) > 255 or "/" in name:
            raise Refusal(400, self._error(400, "name: must be 1 to 255 characters, without '/'"))
        if parent is not None and parent not in self.folders:
            raise Refusal(400, self._error(400, f"parentId: folder {parent} was not found"))
        if any(f["name"] == name and f["parentId"] == parent for f in self.folders.values()):
            raise Refusal(400, self._error(400, f"A folder named '{name}' already exists here."))
        folder = self._new_folder(name, parent)
        return {"id": folder["id"], "self": f"{self.url}/folders/{folder['id']}"}

    def _priority(self, name: str | None) -> dict[str, Any]:
        chosen = next(
            (p for p in self.priorities if p["name"] == name or (name is None and p["default"])), None
        )
        if chosen is None:
            raise Refusal(400, self._error(400, f"priorityName: the priority '{name}' was not found"))
        return {"id": chosen["id"], "self": f"{self.url}/priorities/{chosen['id']}"}

    def _check_case(self, body: dict[str, Any]) -> None:
        name = str(body.get("name") or "")
        if not name.strip() or len(name) > 255:
            raise Refusal(400, self._error(400, "name: must be 1 to 255 characters"))
        if name in self.refused:
            raise Refusal(400, self._error(400, self.refused[name]))
        labels = body.get("labels") or []
        if not isinstance(labels, list) or any(
            not isinstance(label, str) or " " in label for label in labels
        ):
            raise Refusal(400, self._error(400, "labels: each label is one word"))

    def _create_case(self, body: dict[str, Any]) -> dict[str, Any]:
        self._project(body.get("projectKey"))
        self._check_case(body)
        folder = body.get("folderId")
        if folder is not None and folder not in self.folders:
            raise Refusal(400, self._error(400, f"folderId: folder {folder} was not found"))
        return self._new_case(body)

    def _new_case(self, body: dict[str, Any]) -> dict[str, Any]:
        key = f"{self.project_key}-T{self._next_key}"
        folder = body.get("folderId")
        draft = self.case_statuses[0]["id"]
        case = {
            "id": self._next_case,
            "key": key,
            "name": body["name"],
            "project": {"id": self.project_id, "self": f"{self.url}/projects/{self.project_id}"},
            "createdOn": "2026-03-02T09:00:00Z",
            "objective": body.get("objective"),
            "precondition": body.get("precondition"),
            "estimatedTime": None,
            "labels": list(body.get("labels") or []),
            "component": None,
            "priority": self._priority(body.get("priorityName")),
            "status": {"id": draft, "self": f"{self.url}/statuses/{draft}"},
            "folder": {"id": folder, "self": f"{self.url}/folders/{folder}"} if folder is not None else None,
            "owner": None,
            "testScript": {"self": f"{self._self(key)}/teststeps"},
            "customFields": {},
            "links": {"self": f"{self._self(key)}/links", "issues": [], "webLinks": [], "testCycles": []},
        }
        self._next_case += 1
        self._next_key += 1
        self.cases[key] = case
        self.steps[key] = [{"inline": {"description": None, "testData": None, "expectedResult": None}}]
        return case

    def _replace(self, key: str, body: dict[str, Any]) -> None:
        case = self.cases[key]
        if body.get("id") != case["id"] or body.get("key") != key:
            raise Refusal(400, self._error(400, "id and key must be those of the test case"))
        self._check_case(body)
        for name in ("project", "priority", "status"):
            if not isinstance(body.get(name), dict) or "id" not in body[name]:
                raise Refusal(400, self._error(400, f"{name}: must not be null"))
        priority = next((p for p in self.priorities if p["id"] == body["priority"]["id"]), None)
        status = next((s for s in self.case_statuses if s["id"] == body["status"]["id"]), None)
        if priority is None or status is None:
            raise Refusal(400, self._error(400, "priority or status: not found"))
        for name in WRITABLE:  # omitted: cleared
            case[name] = body.get(name, [] if name == "labels" else {} if name == "customFields" else None)
        case["priority"] = {"id": priority["id"], "self": f"{self.url}/priorities/{priority['id']}"}
        case["status"] = {"id": status["id"], "self": f"{self.url}/statuses/{status['id']}"}
        folder = (body.get("folder") or {}).get("id")
        case["folder"] = (
            {"id": folder, "self": f"{self.url}/folders/{folder}"} if folder in self.folders else None
        )

    def _write_steps(self, key: str, body: dict[str, Any]) -> dict[str, Any]:
        mode, items = body.get("mode"), body.get("items")
        if mode not in ("APPEND", "OVERWRITE"):
            raise Refusal(400, self._error(400, "mode: must be APPEND or OVERWRITE"))
        if not isinstance(items, list) or len(items) > MAX_STEPS:
            raise Refusal(400, self._error(400, f"items: size must be between 0 and {MAX_STEPS}"))
        if not all(
            isinstance(i, dict) and isinstance(i.get("inline") or i.get("testCase"), dict) for i in items
        ):
            raise Refusal(400, self._error(400, "items: each step is inline or a call to a test case"))
        self.steps[key] = [dict(i) for i in items] if mode == "OVERWRITE" else self.steps[key] + items
        return {"id": self._next_link, "self": f"{self._self(key)}/teststeps"}

    def _link(self, key: str, kind: str, link: dict[str, Any]) -> dict[str, Any]:
        self._next_link += 1
        self.cases[key]["links"][kind].append({"id": self._next_link, **link, "type": "COVERAGE"})
        return {"id": self._next_link, "self": f"{self._self(key)}/links/{self._next_link}"}
