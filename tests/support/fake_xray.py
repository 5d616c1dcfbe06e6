"""Fake Xray servers on 127.0.0.1 (stdlib threaded HTTP/1.1): Xray Cloud's API and Jira Data Center
with Xray's fields.

Cloud (`FakeXrayCloud`): `POST /api/v2/authenticate {client_id, client_secret}` answers a bare JSON
string, the token every other call must carry as a bearer (`expire_tokens()` makes the issued ones
answer 401, as an expired token does). The bulk test import (`POST /api/v2/import/test/bulk`, an array
of tests) queues a job whose status (`GET …/{jobId}/status`) goes pending, working, then successful or
unsuccessful with `result {errors: [{elementNumber, errors}], issues: [{elementNumber, id, key, self}]}`;
one import job a user at a time (400 otherwise, as documented). GraphQL (`POST /api/v2/graphql`):
getTests (by a JQL of `project` and `labels`), getTest, updateTestType, updateGherkinTestDefinition,
removeAllTestSteps, addTestStep, deleteTest; errors come as `{"errors": [{"message"}]}` with 200.

Data Center (`FakeXrayDataCenter`): Jira's REST API v2 with a personal access token: projects,
`/field` (Xray's custom fields with this instance's ids), issues (create, read, edit, delete, search by
JQL), issue links, and Xray's Test Repository (`/rest/raven/1.0/api/testrepository/{project}/folders`:
the folder tree, a folder made in another, tests put in a folder); refusals as `{errorMessages, errors}`.

Both can misbehave: a per-minute limit (a fixed window on `clock`, which a test may drive) answered
with 429 and `Retry-After`; 429 to the next N requests; a test refused by its summary; an edit made "in
the tool" (a conflict for the pusher). Ids and keys look real ("10231", "SHOP-123"); every request is
recorded (method, path, query, body, status).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

TEST_TYPES = ("Manual", "Cucumber", "Generic")
EPOCH = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Refusal(Exception):
    def __init__(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.payload = payload
        self.headers = headers or {}


@dataclass(frozen=True)
class Raw:
    content_type: str
    data: bytes


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str
    content_type: str = ""
    status: int = 0


@dataclass
class ToolServer:
    """What the fake tools share (these two, Zephyr's and Azure DevOps'): the server, the recorded
    requests, the rate limit and its clock. A tool's answer is JSON, or `Raw` bytes of a content type."""

    per_minute: int = 0  # 0: no limit
    throttle_next: int = 0  # answer 429 to this many requests
    retry_after: int = 1  # seconds, on the injected 429
    clock: Callable[[], float] = time.monotonic  # the per-minute window's time
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._window_start: float | None = None
        self._window_count = 0
        self._stamps = 0

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_PATCH(self) -> None:
                fake._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.request_queue_size = 128
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def statuses(self) -> Counter[int]:
        with self._lock:
            return Counter(r.status for r in self.requests)

    def count(self, method: str, path_pattern: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.method == method and re.fullmatch(path_pattern, r.path))

    def _stamp(self) -> datetime:
        """A time that moves forward at every write, whatever the wall clock does."""
        self._stamps += 1
        return EPOCH + timedelta(seconds=self._stamps)

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = ValueError
        request = Request(
            method,
            parts.path,
            dict(parse_qsl(parts.query)),
            body,
            handler.headers.get("Authorization", ""),
            handler.headers.get("Content-Type", ""),
        )
        with self._lock:
            self.requests.append(request)
        try:
            if body is ValueError:
                raise Refusal(400, self._error(400, "The request body is not valid JSON."))
            with self._lock:
                self._authorize(request)
                self._take_one()
                status, payload = self._answer(request)
                headers = self._answer_headers(request)
        except Refusal as refusal:
            status, payload, headers = refusal.status, refusal.payload, refusal.headers
        request.status = status
        if isinstance(payload, Raw):
            data, content_type = payload.data, payload.content_type
        else:
            data, content_type = b"" if payload is None else json.dumps(payload).encode(), "application/json"
        try:
            handler.send_response(status)
            if data:
                handler.send_header("Content-Type", f"{content_type}; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _take_one(self) -> None:
        if self.throttle_next > 0:
            self.throttle_next -= 1
            wait = self.retry_after
        elif self.per_minute:
            now = self.clock()
            if self._window_start is None or now - self._window_start >= 60:
                self._window_start, self._window_count = now, 0
            if self._window_count < self.per_minute:
                self._window_count += 1
                return
            wait = max(1, math.ceil(self._window_start + 60 - now))
        else:
            return
        raise Refusal(
            429, self._error(429, "Too many requests: rate limit exceeded"), self._limit_headers(wait)
        )

    def _limit_headers(self, wait: int) -> dict[str, str]:
        return {"Retry-After": str(wait)}

    def _answer_headers(self, request: Request) -> dict[str, str]:
        """Headers of an answer that was not a refusal (a tool's paging links, its limits)."""
        return {}

    # --- per tool -----------------------------------------------------------------------------------

    def _error(self, status: int, message: str) -> Any:
        raise NotImplementedError

    def _authorize(self, request: Request) -> None:
        raise NotImplementedError

    def _answer(self, request: Request) -> tuple[int, Any]:
        raise NotImplementedError


def jql_terms(jql: str) -> dict[str, str]:
    """`project = "SHOP" AND labels = "testgen-1"` → {"project": "SHOP", "labels": "testgen-1"}."""
    terms = {}
    for clause in re.split(r"\s+AND\s+", jql.strip(), flags=re.IGNORECASE):
        found = re.fullmatch(r'(\w+)\s*=\s*"?([^"]*?)"?', clause.strip())
        if found is None:
            raise ValueError(clause)
        terms[found.group(1).lower()] = found.group(2)
    return terms


# --- Xray Cloud -------------------------------------------------------------------------------------


@dataclass
class FakeXrayCloud(ToolServer):
    client_id: str = "A1B2C3D4E5F60718293A4B5C6D7E8F90"
    client_secret: str = "xr-s3cr3t-5f1e9a7c3b2d4e6f8a0b1c2d3e4f5a6b"
    project_key: str = "SHOP"
    site: str = "https://shop.atlassian.net"
    stories: set[str] = field(default_factory=lambda: {"SHOP-1", "SHOP-2"})  # Jira issues a test may cover
    job_polls: int = 2  # status checks answered pending, then working, before the job ends
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)  # by issue id
    refused: dict[str, dict[str, str]] = field(default_factory=dict)  # summary -> the import's errors
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._tokens: set[str] = set()
        self._issued = 0
        self._next_id = 10231
        self._next_key = 123
        self._next_job = 0

    @property
    def settings(self) -> dict[str, Any]:
        return {
            "kind": "xray-cloud",
            "client_id": self.client_id,
            "jira_project_key": self.project_key,
            "api_url": self.url,
        }

    @property
    def secrets(self) -> dict[str, str]:
        return {"client_secret": self.client_secret}

    # --- test-only -----------------------------------------------------------------------------

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def edit_test(self, issue_id: str, **changes: Any) -> None:
        """Someone edits the test in Jira: its content changes and `lastModified` moves."""
        with self._lock:
            self.tests[issue_id].update(changes)
            self.tests[issue_id]["lastModified"] = self._stamp().isoformat()

    def refuse(self, summary: str, errors: dict[str, str]) -> None:
        """A test with this summary is not imported: the job reports these errors for it."""
        self.refused[summary] = errors

    def by_label(self, label: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for t in self.tests.values() if label in t["labels"]]

    # --- the server -------------------------------------------------------------------------------

    def _error(self, status: int, message: str) -> Any:
        return {"error": message}

    def _authorize(self, request: Request) -> None:
        if request.path == "/api/v2/authenticate":
            return
        token = request.authorization.removeprefix("Bearer ")
        if not request.authorization.startswith("Bearer ") or token not in self._tokens:
            raise Refusal(401, {"error": "Authentication failed. Invalid or expired token."})

    def _answer(self, request: Request) -> tuple[int, Any]:
        path, method = request.path, request.method
        if path == "/api/v2/authenticate" and method == "POST":
            return 200, self._authenticate(request.body)
        if path == "/api/v2/import/test/bulk" and method == "POST":
            return 200, self._import(request.body)
        job = re.fullmatch(r"/api/v2/import/test/bulk/([0-9a-f]+)/status", path)
        if job and method == "GET":
            return 200, self._status(job.group(1))
        if path == "/api/v2/graphql" and method == "POST":
            return 200, self._graphql(request.body or {})
        raise Refusal(404, {"error": f"No endpoint {method} {path}"})

    def _authenticate(self, body: Any) -> str:
        given = body if isinstance(body, dict) else {}
        if given.get("client_id") != self.client_id or given.get("client_secret") != self.client_secret:
            raise Refusal(401, {"error": "Authentication failed. Invalid client credentials!"})
        self._issued += 1
        token = f"eyJhbGciOiJIUzI1NiJ9.eyJ0ZW5hbnQiOiJzaG9wIiwibiI6{self._issued}fQ.sig{self._issued:04d}"
        self._tokens.add(token)
        return token

    def _import(self, body: Any) -> dict[str, str]:
        if not isinstance(body, list) or not body:
            raise Refusal(400, {"error": "The import must be a non-empty array of tests."})
        if len(body) > 1000:
            raise Refusal(400, {"error": "A maximum of 1000 tests can be imported at once."})
        if any(job["status"] in ("pending", "working") for job in self.jobs.values()):
            raise Refusal(400, {"error": "There is already an import job running for this user."})
        self._next_job += 1
        job_id = f"{self._next_job:032x}"
        self.jobs[job_id] = {"status": "pending", "polls": 0, "tests": body, "result": None}
        return {"jobId": job_id}

    def _status(self, job_id: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None:
            raise Refusal(404, {"error": "job not found."})
        if job["status"] in ("pending", "working"):
            job["polls"] += 1
            if job["polls"] <= self.job_polls:
                job["status"] = "pending" if job["polls"] == 1 else "working"
                return {"status": job["status"], "progress": [f"Importing {len(job['tests'])} test(s)."]}
            job["result"] = self._run(job["tests"])
            errors, issues = job["result"]["errors"], job["result"]["issues"]
            job["status"] = (
                "successful" if not errors else "partially_successful" if issues else "unsuccessful"
            )
        return {"jobId": job_id, "status": job["status"], "result": job["result"]}

    def _run(self, tests: list[Any]) -> dict[str, Any]:
        errors, issues = [], []
        for n, element in enumerate(tests):
            problems = self._problems(element)
            if problems:
                errors.append({"elementNumber": n, "errors": problems})
                continue
            issue_id, key = str(self._next_id), f"{self.project_key}-{self._next_key}"
            self._next_id += 1
            self._next_key += 1
            fields = element["fields"]
            links = [link["add"] for link in (element.get("update") or {}).get("issuelinks", [])]
            self.tests[issue_id] = {
                "issueId": issue_id,
                "key": key,
                "summary": fields["summary"],
                "description": fields.get("description"),
                "labels": list(fields.get("labels") or []),
                "testType": element["testtype"],
                "gherkin": element.get("gherkin_def"),
                "steps": [dict(s) for s in element.get("steps") or []],
                "folder": element.get("xray_test_repository_folder"),
                "links": [(link["type"]["name"], link["outwardIssue"]["key"]) for link in links],
                "lastModified": self._stamp().isoformat(),
            }
            issues.append(
                {
                    "elementNumber": n,
                    "id": issue_id,
                    "key": key,
                    "self": f"{self.site}/rest/api/2/issue/{issue_id}",
                }
            )
        return {"errors": errors, "issues": issues, "warnings": []}

    def _problems(self, element: Any) -> dict[str, str]:
        if not isinstance(element, dict):
            return {"test": "A test must be an object."}
        fields = element.get("fields") or {}
        problems = dict(self.refused.get(str(fields.get("summary")), {}))
        if element.get("testtype") not in TEST_TYPES:
            problems["testtype"] = f"Test Type {element.get('testtype')!r} does not exist in the project."
        if not str(fields.get("summary") or "").strip():
            problems["summary"] = "You must specify a summary of the issue."
        if (fields.get("project") or {}).get("key") != self.project_key:
            problems["project"] = "project is required"
        if any(" " in label for label in fields.get("labels") or []):
            problems["labels"] = "The label contains spaces which is invalid."
        if element.get("testtype") == "Cucumber" and not element.get("gherkin_def"):
            problems["gherkin_def"] = "A Cucumber test needs a Gherkin definition."
        for link in (element.get("update") or {}).get("issuelinks", []):
            add = link.get("add") or {}
            if (add.get("type") or {}).get("name") != "Test":
                problems["issuelinks"] = f"No issue link type named {(add.get('type') or {}).get('name')!r}."
            elif (add.get("outwardIssue") or {}).get("key") not in self.stories:
                problems["issuelinks"] = f"Issue {(add.get('outwardIssue') or {}).get('key')} does not exist."
        return problems

    def _graphql(self, body: dict[str, Any]) -> dict[str, Any]:
        query, variables = str(body.get("query") or ""), body.get("variables") or {}
        operation = re.search(r"\{\s*(\w+)\s*\(", query)
        name = operation.group(1) if operation else ""
        handler = getattr(self, f"_gql_{name}", None)
        if handler is None:
            return {"errors": [{"message": f'Cannot query field "{name}" on type "Query".'}]}
        try:
            return {"data": {name: handler(variables)}}
        except LookupError as missing:
            return {"errors": [{"message": str(missing.args[0])}], "data": {name: None}}

    def _view(self, test: dict[str, Any]) -> dict[str, Any]:
        return {
            "issueId": test["issueId"],
            "lastModified": test["lastModified"],
            "jira": {"key": test["key"]},
            "testType": {"name": test["testType"]},
            "gherkin": test["gherkin"],
            "steps": test["steps"],
            "folder": {"path": test["folder"]},
        }

    def _test(self, variables: dict[str, Any]) -> dict[str, Any]:
        test = self.tests.get(str(variables.get("id")))
        if test is None:
            raise LookupError(f"Test with id {variables.get('id')} not found.")
        return test

    def _touch(self, test: dict[str, Any]) -> dict[str, Any]:
        test["lastModified"] = self._stamp().isoformat()
        return {"issueId": test["issueId"]}

    def _gql_getTests(self, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            terms = jql_terms(str(variables.get("jql") or ""))
        except ValueError as bad:
            raise LookupError(f"Error in the JQL Query: {bad}") from bad
        found = [
            t
            for t in self.tests.values()
            if ("project" not in terms or t["key"].startswith(terms["project"] + "-"))
            and ("labels" not in terms or terms["labels"] in t["labels"])
        ]
        return {"total": len(found), "start": 0, "limit": 10, "results": [self._view(t) for t in found[:10]]}

    def _gql_getTest(self, variables: dict[str, Any]) -> dict[str, Any] | None:
        test = self.tests.get(str(variables.get("id")))
        return self._view(test) if test else None

    def _gql_updateTestType(self, variables: dict[str, Any]) -> dict[str, Any]:
        test = self._test(variables)
        name = (variables.get("type") or {}).get("name")
        if name not in TEST_TYPES:
            raise LookupError(f"Test Type {name!r} not found.")
        test["testType"] = name
        return self._touch(test)

    def _gql_updateGherkinTestDefinition(self, variables: dict[str, Any]) -> dict[str, Any]:
        test = self._test(variables)
        if test["testType"] != "Cucumber":
            raise LookupError("The test is not of a Gherkin test type.")
        test["gherkin"] = variables.get("gherkin")
        return self._touch(test)

    def _gql_removeAllTestSteps(self, variables: dict[str, Any]) -> str:
        test = self._test(variables)
        test["steps"] = []
        self._touch(test)
        return "All steps removed."

    def _gql_addTestStep(self, variables: dict[str, Any]) -> dict[str, Any]:
        test = self._test(variables)
        if test["testType"] != "Manual":
            raise LookupError("The test is not of a Steps test type.")
        test["steps"].append(dict(variables.get("step") or {}))
        self._touch(test)
        return {"id": f"step-{len(test['steps'])}"}

    def _gql_deleteTest(self, variables: dict[str, Any]) -> str:
        test = self._test(variables)
        del self.tests[test["issueId"]]
        return f"Test {test['key']} deleted."


# --- Xray Data Center -------------------------------------------------------------------------------

DC_FIELDS: list[dict[str, Any]] = [
    {"id": "summary", "name": "Summary", "custom": False},
    {"id": "labels", "name": "Labels", "custom": False},
    {"id": "customfield_10010", "name": "Story Points", "custom": True},
    {"id": "customfield_10201", "name": "Test Type", "custom": True},
    {"id": "customfield_10202", "name": "Cucumber Test Type", "custom": True},
    {"id": "customfield_10203", "name": "Cucumber Scenario", "custom": True},
    {"id": "customfield_10204", "name": "Manual Test Steps", "custom": True},
]
TEST_TYPE, CUCUMBER_TYPE, SCENARIO, STEPS = (str(f["id"]) for f in DC_FIELDS[3:])
XRAY_FIELDS = frozenset({TEST_TYPE, CUCUMBER_TYPE, SCENARIO, STEPS})


@dataclass
class FakeXrayDataCenter(ToolServer):
    pat: str = "NjI3OTk0MzU2Njc3OkX7s3cr3tPatValue0123"
    project_key: str = "SHOP"
    project_name: str = "Shop"
    xray_installed: bool = True
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)  # by key
    links: list[tuple[str, str, str]] = field(default_factory=list)  # (type, inward, outward)
    refused: dict[str, dict[str, str]] = field(default_factory=dict)  # summary -> Jira's field errors
    # The Test Repository: folder id -> {id, name, parent (-1: the root), tests (keys)}
    folders: dict[int, dict[str, Any]] = field(default_factory=dict)
    refuse_filing: str | None = None  # refuse to put tests in a folder, with this message

    def __post_init__(self) -> None:
        super().__post_init__()
        self._next_id = 10231
        self._next_key = 123
        self._next_folder = 6
        for key in ("SHOP-1", "SHOP-2"):  # stories a test may cover
            self.issues[key] = self._issue(key, {"summary": f"Story {key}", "issuetype": {"name": "Story"}})

    @property
    def settings(self) -> dict[str, Any]:
        return {"kind": "xray-dc", "url": self.url, "jira_project_key": self.project_key}

    @property
    def secrets(self) -> dict[str, str]:
        return {"token": self.pat}

    def edit_issue(self, key: str, **fields: Any) -> None:
        with self._lock:
            self.issues[key]["fields"].update(fields)
            self.issues[key]["fields"]["updated"] = self._jira_time()

    def refuse(self, summary: str, errors: dict[str, str]) -> None:
        self.refused[summary] = errors

    def tests(self) -> list[dict[str, Any]]:
        with self._lock:
            return [i for i in self.issues.values() if i["fields"]["issuetype"]["name"] == "Test"]

    def add_folder(self, name: str, parent: int = -1) -> int:
        """A Test Repository folder made in Xray (by hand, or by an earlier push); its id."""
        with self._lock:
            folder_id = self._next_folder
            self._next_folder += 1
            self.folders[folder_id] = {"id": folder_id, "name": name, "parent": parent, "tests": []}
            return folder_id

    def folder_of(self, test_key: str) -> str | None:
        """The Test Repository path of the folder holding the test (None: the root)."""
        with self._lock:
            found = next((f for f in self.folders.values() if test_key in f["tests"]), None)
            return self._path(found["id"]) if found else None

    def _path(self, folder_id: int) -> str:
        folder = self.folders[folder_id]
        parent = "" if folder["parent"] == -1 else self._path(folder["parent"])
        return f"{parent}/{folder['name']}"

    def _tree(self, parent: int) -> list[dict[str, Any]]:
        return [
            {
                "id": f["id"],
                "rank": rank,
                "name": f["name"],
                "testRepositoryPath": self._path(f["id"]),
                "folders": self._tree(f["id"]),
                "testCount": len(f["tests"]),
            }
            for rank, f in enumerate((f for f in self.folders.values() if f["parent"] == parent), start=1)
        ]

    def _jira_time(self) -> str:
        return self._stamp().strftime("%Y-%m-%dT%H:%M:%S.000+0000")

    def _issue(self, key: str, fields: dict[str, Any]) -> dict[str, Any]:
        issue_id = str(self._next_id)
        self._next_id += 1
        return {
            "id": issue_id,
            "key": key,
            "fields": {
                "project": {"key": self.project_key},
                "labels": [],
                **fields,
                "updated": self._jira_time(),
            },
        }

    # --- the server -------------------------------------------------------------------------------

    def _error(self, status: int, message: str) -> Any:
        return {"errorMessages": [message], "errors": {}}

    def _authorize(self, request: Request) -> None:
        if request.authorization != f"Bearer {self.pat}":
            raise Refusal(
                401,
                self._error(
                    401, "You are not authenticated. Authentication required to perform this operation."
                ),
            )

    def _answer(self, request: Request) -> tuple[int, Any]:
        path, method = request.path, request.method
        project = re.fullmatch(r"/rest/api/2/project/([^/]+)", path)
        if project and method == "GET":
            if project.group(1) != self.project_key:
                raise Refusal(
                    404, self._error(404, f"No project could be found with key '{project.group(1)}'.")
                )
            return 200, {"id": "10000", "key": self.project_key, "name": self.project_name}
        if path == "/rest/api/2/field" and method == "GET":
            return 200, [dict(f) for f in DC_FIELDS if self.xray_installed or f["id"] not in XRAY_FIELDS]
        if path == "/rest/api/2/search" and method == "GET":
            return 200, self._search(request.query)
        if path == "/rest/api/2/issue" and method == "POST":
            return 201, self._create((request.body or {}).get("fields") or {})
        if path == "/rest/api/2/issueLink" and method == "POST":
            self._link(request.body or {})
            return 201, None
        repository = re.fullmatch(
            r"/rest/raven/1\.0/api/testrepository/([^/]+)/folders(?:/(-?[0-9]+))?(/tests)?", path
        )
        if repository:
            return self._repository(repository.group(1), repository.group(2), repository.group(3), request)
        issue = re.fullmatch(r"/rest/api/2/issue/([^/]+)", path)
        if issue:
            key = issue.group(1)
            if key not in self.issues:
                raise Refusal(404, self._error(404, "Issue Does Not Exist"))
            if method == "GET":
                return 200, self._view(self.issues[key], request.query.get("fields"))
            if method == "PUT":
                self._edit(key, (request.body or {}).get("fields") or {})
                return 204, None
            if method == "DELETE":
                del self.issues[key]
                return 204, None
        raise Refusal(404, self._error(404, f"No endpoint {method} {path}"))

    def _repository(
        self, project_key: str, folder: str | None, tests: str | None, request: Request
    ) -> tuple[int, Any]:
        """The Test Repository: its folders (GET), a folder made in another (POST …/folders/{id},
        -1 the root), tests put in a folder (PUT …/folders/{id}/tests {add, remove}; a test is in one
        folder)."""
        method, body = request.method, request.body or {}
        if project_key != self.project_key:
            raise Refusal(400, self._error(400, f"Project with key {project_key} does not exist"))
        if folder is None:
            if method == "GET":
                return 200, {"folders": self._tree(-1)}
            raise Refusal(405, self._error(405, f"{method} is not allowed"))
        folder_id = int(folder)
        if folder_id != -1 and folder_id not in self.folders:
            raise Refusal(404, self._error(404, f"Folder with id {folder_id} does not exist"))
        if tests is None and method == "POST":
            name = str(body.get("name") or "").strip()
            if not name or "/" in name:
                raise Refusal(400, self._error(400, "The folder name is not valid"))
            if any(f["parent"] == folder_id and f["name"] == name for f in self.folders.values()):
                raise Refusal(400, self._error(400, f"A folder named '{name}' already exists"))
            made = {"id": self._next_folder, "name": name, "parent": folder_id, "tests": []}
            self._next_folder += 1
            self.folders[made["id"]] = made
            return 200, {"id": made["id"], "name": name, "testRepositoryPath": self._path(made["id"])}
        if tests is not None and method == "PUT" and folder_id != -1:
            if self.refuse_filing:
                raise Refusal(400, self._error(400, self.refuse_filing))
            add, remove = body.get("add") or [], body.get("remove") or []
            for key in [*add, *remove]:
                issue = self.issues.get(key)
                if issue is None or issue["fields"]["issuetype"]["name"] != "Test":
                    raise Refusal(400, self._error(400, f"Issue with key {key} is not a Test"))
            for key in add:
                for other in self.folders.values():
                    if key in other["tests"]:
                        other["tests"].remove(key)
                self.folders[folder_id]["tests"].append(key)
            for key in remove:
                if key in self.folders[folder_id]["tests"]:
                    self.folders[folder_id]["tests"].remove(key)
            return 200, None
        raise Refusal(405, self._error(405, f"{method} is not allowed"))

    def _view(self, issue: dict[str, Any], fields: str | None) -> dict[str, Any]:
        wanted = set(fields.split(",")) if fields else None
        chosen = {k: v for k, v in issue["fields"].items() if wanted is None or k in wanted}
        return {
            "id": issue["id"],
            "key": issue["key"],
            "self": f"{self.url}/rest/api/2/issue/{issue['id']}",
            "fields": chosen,
        }

    def _search(self, query: dict[str, str]) -> dict[str, Any]:
        try:
            terms = jql_terms(query.get("jql", ""))
        except ValueError as bad:
            raise Refusal(400, self._error(400, f"Error in the JQL Query: {bad}")) from bad
        found = [
            i
            for i in self.issues.values()
            if ("project" not in terms or i["fields"]["project"]["key"] == terms["project"])
            and ("labels" not in terms or terms["labels"] in i["fields"]["labels"])
        ]
        size = min(int(query.get("maxResults") or 50), 1000)
        return {
            "startAt": 0,
            "maxResults": size,
            "total": len(found),
            "issues": [self._view(i, query.get("fields")) for i in found[:size]],
        }

    def _check(self, fields: dict[str, Any], creating: bool) -> None:
        errors = dict(self.refused.get(str(fields.get("summary")), {}))
        if (creating or "summary" in fields) and not str(fields.get("summary") or "").strip():
            errors["summary"] = "You must specify a summary of the issue."
        if creating:
            if (fields.get("project") or {}).get("key") != self.project_key:
                errors["project"] = "valid project is required"
            if (fields.get("issuetype") or {}).get("name") != "Test":
                errors["issuetype"] = "valid issue type is required"
        for label in fields.get("labels") or []:
            if " " in label:
                errors["labels"] = f"The label '{label}' contains spaces which is invalid."
        known = {f["id"] for f in DC_FIELDS if self.xray_installed or f["id"] not in XRAY_FIELDS}
        for name in fields:
            if name.startswith("customfield_") and name not in known:
                errors[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                )
        if TEST_TYPE in fields and (fields[TEST_TYPE] or {}).get("value") not in TEST_TYPES:
            errors[TEST_TYPE] = f"Option value '{(fields[TEST_TYPE] or {}).get('value')}' is not valid"
        if STEPS in fields:
            steps = (fields[STEPS] or {}).get("steps")
            if not isinstance(steps, list) or not all(
                isinstance(s, dict) and isinstance(s.get("fields"), dict) and "action" in s["fields"]
                for s in steps
            ):
                errors[STEPS] = "The steps are not in a valid format."
        if errors:
            raise Refusal(400, {"errorMessages": [], "errors": errors})

    def _create(self, fields: dict[str, Any]) -> dict[str, Any]:
        self._check(fields, creating=True)
        key = f"{self.project_key}-{self._next_key}"
        self._next_key += 1
        issue = self._issue(key, dict(fields))
        self.issues[key] = issue
        return {"id": issue["id"], "key": key, "self": f"{self.url}/rest/api/2/issue/{issue['id']}"}

    def _edit(self, key: str, fields: dict[str, Any]) -> None:
        self._check(fields, creating=False)
        self.issues[key]["fields"].update(fields)
        self.issues[key]["fields"]["updated"] = self._jira_time()

    def _link(self, body: dict[str, Any]) -> None:
        kind = (body.get("type") or {}).get("name")
        if kind not in ("Tests", "Blocks", "Relates"):
            raise Refusal(404, self._error(404, f"No issue link type with name '{kind}' found."))
        inward, outward = (
            (body.get("inwardIssue") or {}).get("key"),
            (body.get("outwardIssue") or {}).get("key"),
        )
        if inward not in self.issues or outward not in self.issues:
            raise Refusal(
                404, self._error(404, f"Issue Does Not Exist: {outward if inward in self.issues else inward}")
            )
        self.links.append((kind, inward, outward))
        for key in (inward, outward):
            self.issues[key]["fields"]["updated"] = self._jira_time()
