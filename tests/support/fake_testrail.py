"""A fake TestRail (API v2) on 127.0.0.1, from a stdlib threaded HTTP/1.1 server (keep-alive).

It speaks the documented contract: `index.php?/api/v2/{method}/{id}&filter=...` routing, GET reads and
POST writes with JSON bodies, Basic auth (user + API key), 400 `{"error": "Field :x ..."}` answers,
paged `get_sections`/`get_cases` (`offset`, `limit` ≤ 250, `size`, `_links.next` relative and without
`index.php?`), and `updated_on` in epoch seconds, moved forward by every update. Template, case type,
priority, section and case ids start at odd numbers, as on a real instance, so a client must read them.

It can misbehave like a real server: a per-minute limit (a token bucket refilling `per_minute`/60 a
second and holding `burst`, a second's worth by default) answered with 429 and `Retry-After`; 429 or
503 to the next N requests; a delay before each answer; a case refused for a required custom field;
an edit made "in the tool" (a conflict for the pusher); credentials echoed in the 401 text. Every
request is recorded (method, route, filters, body, status).
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

API_PREFIX = "/index.php?/api/v2/"
MAX_LIMIT = 250
AUTH_FAILED = "Authentication failed: invalid or missing user/password or session cookie."
TEMPLATES = ["Test Case (Text)", "Test Case (Steps)", "Exploratory Session", "Behaviour Driven Development"]
CASE_TYPES = [
    "Acceptance",
    "Accessibility",
    "Automated",
    "Compatibility",
    "Destructive",
    "Functional",
    "Other",
    "Performance",
    "Regression",
    "Security",
    "Smoke & Sanity",
    "Usability",
]
PRIORITIES = ["Low", "Medium", "High", "Critical"]
CASE_FIELDS = (
    "title",
    "template_id",
    "type_id",
    "priority_id",
    "estimate",
    "milestone_id",
    "refs",
    "custom_preconds",
    "custom_steps",
    "custom_expected",
    "custom_steps_separated",
)


class Refusal(Exception):
    """An answer other than 200, as TestRail writes it."""

    def __init__(self, status: int, error: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.headers = headers or {}


@dataclass
class Request:
    method: str  # GET or POST
    api: str  # the API method, e.g. "add_case"
    args: list[str]  # the path arguments after it, e.g. ["12"]
    filters: dict[str, str]
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival
    status: int = 0  # the status answered


@dataclass
class FakeTestRail:
    user: str = "qa@example.com"
    api_key: str = "tr-key-S3cr3tValue-0123456789"
    project_id: int = 7
    project_name: str = "Shop"
    suite_mode: int = 1  # 1: a single suite; 3: several (suite_id is then required)
    suite_id: int = 31
    suite_name: str = "Master"
    per_minute: int = 0  # 0: no limit
    burst: int | None = None  # the bucket's size; None: a second's worth of per_minute
    delay_s: float = 0.0  # before each answer
    throttle_next: int = 0  # answer 429 to this many requests
    unavailable_next: int = 0  # answer 503 to this many requests
    retry_after: int = 1  # seconds, on the injected 429 and 503
    echo_credentials: bool = False  # quote the Authorization header received in the 401 text
    requests: list[Request] = field(default_factory=list)
    sections: dict[int, dict[str, Any]] = field(default_factory=dict)
    cases: dict[int, dict[str, Any]] = field(default_factory=dict)
    required_for: dict[str, str] = field(default_factory=dict)  # case title -> a required custom field

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.templates = [
            {"id": 11 + i, "name": name, "is_default": i == 0} for i, name in enumerate(TEMPLATES)
        ]
        self.case_types = [
            {"id": 21 + i, "name": name, "is_default": name == "Other"} for i, name in enumerate(CASE_TYPES)
        ]
        self.priorities = [
            {
                "id": 41 + i,
                "name": name,
                "short_name": name,
                "priority": i + 1,
                "is_default": name == "Medium",
            }
            for i, name in enumerate(PRIORITIES)
        ]
        self._next_section = 301
        self._next_case = 5001
        self._tokens = 0.0
        self._filled_at = time.monotonic()
        self._last_update = 0

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeTestRail:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no delayed-ACK stall

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._tokens = float(self.bucket_size)
        self._filled_at = time.monotonic()
        ThreadingHTTPServer.request_queue_size = 128
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeTestRail:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def bucket_size(self) -> int:
        return self.burst if self.burst is not None else max(1, self.per_minute // 60)

    def settings(self, **overrides: Any) -> dict[str, Any]:
        """A connection's settings pointing at this fake."""
        values: dict[str, Any] = {
            "kind": "testrail",
            "url": self.url,
            "username": self.user,
            "testrail_project_id": self.project_id,
        }
        if self.suite_mode == 3:
            values["suite_id"] = self.suite_id
        return {**values, **overrides}

    @property
    def secrets(self) -> dict[str, str]:
        return {"api_key": self.api_key}

    # --- test-only changes "in the tool" and what the tests read -----------------------------------

    def edit_case(self, case_id: int, **changes: Any) -> None:
        """Someone edits the case in TestRail: its fields change and `updated_on` moves."""
        with self._lock:
            self.cases[case_id].update(changes)
            self.cases[case_id]["updated_on"] = self._stamp()

    def require_field(self, title: str, field_name: str = "custom_component") -> None:
        """A case with this title is refused on add and update: a required custom field is missing."""
        self.required_for[title] = field_name

    def count(self, api: str, status: int | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.api == api and (status is None or r.status == status))

    def statuses(self) -> Counter[int]:
        with self._lock:
            return Counter(r.status for r in self.requests)

    def duplicates(self) -> dict[str, int]:
        """refs (or titles) held by more than one case: what a re-push must never make."""
        with self._lock:
            seen = Counter((c["section_id"], c.get("refs") or c["title"]) for c in self.cases.values())
        return {f"{section}: {key}": n for (section, key), n in seen.items() if n > 1}

    def cases_in(self, section_id: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self.cases.values() if c["section_id"] == section_id]

    def add_sections(self, names: list[str]) -> list[int]:
        """Sections made by someone else."""
        with self._lock:
            return [self._new_section(name, self.suite_id)["id"] for name in names]

    def add_cases(self, section_id: int, count: int, refs: str = "") -> list[int]:
        """Cases made by someone else (to fill a section past a page)."""
        with self._lock:
            return [
                self._new_case(section_id, {"title": f"Manual case {i}", "refs": refs or None})["id"]
                for i in range(count)
            ]

    # --- the server ---------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        api, args, filters = _route(handler.path)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        request = Request(
            method, api, args, filters, body if isinstance(body, dict) else {}, time.monotonic()
        )
        with self._lock:
            self.requests.append(request)
        if self.delay_s:
            time.sleep(self.delay_s)
        try:
            if body is None or not isinstance(body, dict):
                raise Refusal(400, "Content-Type must be application/json and the body a JSON object.")
            answer = self._answer(handler, request)
            status, headers = 200, {}
        except Refusal as refusal:
            answer = {"error": refusal.error}
            status, headers = refusal.status, refusal.headers
        request.status = status
        self._reply(handler, status, answer, headers)

    def _answer(self, handler: BaseHTTPRequestHandler, request: Request) -> Any:
        with self._lock:
            if self.unavailable_next > 0:
                self.unavailable_next -= 1
                raise Refusal(503, "TestRail is under maintenance.", {"Retry-After": str(self.retry_after)})
        authorization = handler.headers.get("Authorization", "")
        if authorization != "Basic " + base64.b64encode(f"{self.user}:{self.api_key}".encode()).decode():
            echo = f" (received: {authorization})" if self.echo_credentials else ""
            raise Refusal(401, AUTH_FAILED + echo)
        with self._lock:
            self._take_token()
            if not handler.path.startswith(API_PREFIX):
                raise Refusal(404, f"Unknown URL {handler.path.split('?')[0]}")
            return self._dispatch(request)

    def _take_token(self) -> None:
        limited = self.throttle_next > 0
        if limited:
            self.throttle_next -= 1
            wait = self.retry_after
        elif self.per_minute:
            now = time.monotonic()
            rate = self.per_minute / 60.0
            self._tokens = min(float(self.bucket_size), self._tokens + (now - self._filled_at) * rate)
            self._filled_at = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            limited = True
            wait = max(1, math.ceil((1.0 - self._tokens) / rate))
        if limited:
            raise Refusal(
                429,
                f"API Rate Limit Exceeded - {self.per_minute} per minute maximum allowed. "
                f"Retry after {wait} seconds.",
                {"Retry-After": str(wait)},
            )

    def _dispatch(self, request: Request) -> Any:
        writes = {"add_section", "add_case", "update_case", "delete_case"}
        reads = {
            "get_project",
            "get_suite",
            "get_suites",
            "get_templates",
            "get_case_types",
            "get_priorities",
            "get_sections",
            "get_cases",
            "get_case",
        }
        if request.api not in writes | reads:
            raise Refusal(400, f"Unknown method '{request.api}'")
        wanted = "POST" if request.api in writes else "GET"
        if request.method != wanted:
            raise Refusal(400, f"This method requires {wanted} requests.")
        arg = _number(request.args[0]) if request.args else None
        handler = getattr(self, f"_api_{request.api}")
        return handler(arg, request)

    def _project(self, arg: int | None) -> None:
        if arg != self.project_id:
            raise Refusal(400, "Field :project_id is not a valid or accessible project.")

    def _suite(self, filters: dict[str, str], body: dict[str, Any] | None = None) -> int:
        given = (body or {}).get("suite_id") or filters.get("suite_id")
        if given is None:
            if self.suite_mode == 3:
                raise Refusal(400, "Field :suite_id is a required field.")
            return self.suite_id
        if _number(str(given)) != self.suite_id:
            raise Refusal(400, "Field :suite_id is not a valid test suite.")
        return self.suite_id

    def _api_get_project(self, arg: int | None, request: Request) -> Any:
        self._project(arg)
        return {
            "id": self.project_id,
            "name": self.project_name,
            "suite_mode": self.suite_mode,
            "is_completed": False,
            "url": f"{self.url}/index.php?/projects/overview/{self.project_id}",
        }

    def _suite_json(self) -> dict[str, Any]:
        return {"id": self.suite_id, "name": self.suite_name, "project_id": self.project_id}

    def _api_get_suite(self, arg: int | None, request: Request) -> Any:
        if arg != self.suite_id:
            raise Refusal(400, "Field :suite_id is not a valid test suite.")
        return self._suite_json()

    def _api_get_suites(self, arg: int | None, request: Request) -> Any:
        self._project(arg)
        return [self._suite_json()]

    def _api_get_templates(self, arg: int | None, request: Request) -> Any:
        self._project(arg)
        return self.templates

    def _api_get_case_types(self, arg: int | None, request: Request) -> Any:
        return self.case_types

    def _api_get_priorities(self, arg: int | None, request: Request) -> Any:
        return self.priorities

    def _api_get_sections(self, arg: int | None, request: Request) -> Any:
        self._project(arg)
        suite = self._suite(request.filters)
        rows = [s for s in self.sections.values() if s["suite_id"] == suite]
        return self._page("get_sections", arg, request.filters, rows, "sections")

    def _api_add_section(self, arg: int | None, request: Request) -> Any:
        self._project(arg)
        body = request.body
        if not str(body.get("name") or "").strip():
            raise Refusal(400, "Field :name is a required field.")
        suite = self._suite({}, body)
        parent = body.get("parent_id")
        if parent is not None and (not isinstance(parent, int) or parent not in self.sections):
            raise Refusal(400, "Field :parent_id is not a valid section.")
        return self._new_section(str(body["name"]), suite, parent, body.get("description"))

    def _api_get_cases(self, arg: int | None, request: Request) -> Any:
        self._project(arg)
        suite = self._suite(request.filters)
        rows = [c for c in self.cases.values() if c["suite_id"] == suite]
        if "section_id" in request.filters:
            section = _number(request.filters["section_id"])
            rows = [c for c in rows if c["section_id"] == section]
        return self._page("get_cases", arg, request.filters, rows, "cases")

    def _case(self, arg: int | None) -> dict[str, Any]:
        if arg is None or arg not in self.cases:
            raise Refusal(400, "Field :case_id is not a valid test case.")
        return self.cases[arg]

    def _api_get_case(self, arg: int | None, request: Request) -> Any:
        return self._case(arg)

    def _api_add_case(self, arg: int | None, request: Request) -> Any:
        if arg is None or arg not in self.sections:
            raise Refusal(400, "Field :section_id is not a valid section.")
        body = request.body
        if not str(body.get("title") or "").strip():
            raise Refusal(400, "Field :title is a required field.")
        self._check_fields(body)
        return self._new_case(arg, body)

    def _api_update_case(self, arg: int | None, request: Request) -> Any:
        case = self._case(arg)
        body = request.body
        if "title" in body and not str(body.get("title") or "").strip():
            raise Refusal(400, "Field :title cannot be empty.")
        self._check_fields({**case, **body})
        case.update({k: v for k, v in body.items() if k in CASE_FIELDS})
        case["updated_on"] = self._stamp()
        return case

    def _api_delete_case(self, arg: int | None, request: Request) -> Any:
        self._case(arg)
        del self.cases[arg]  # type: ignore[arg-type]
        return None

    def _check_fields(self, body: dict[str, Any]) -> None:
        for name, known in (
            ("template_id", self.templates),
            ("type_id", self.case_types),
            ("priority_id", self.priorities),
        ):
            if body.get(name) is not None and body[name] not in {k["id"] for k in known}:
                raise Refusal(400, f"Field :{name} is not a valid ID.")
        steps = body.get("custom_steps_separated")
        if steps is not None and (
            not isinstance(steps, list) or not all(isinstance(s, dict) and "content" in s for s in steps)
        ):
            raise Refusal(400, "Field :custom_steps_separated is not in a valid format.")
        required = self.required_for.get(str(body.get("title")))
        if required and not body.get(required):
            raise Refusal(400, f"Field :{required} is a required field.")

    def _new_section(
        self, name: str, suite_id: int, parent_id: int | None = None, description: str | None = None
    ) -> dict[str, Any]:
        section: dict[str, Any] = {
            "id": self._next_section,
            "suite_id": suite_id,
            "name": name,
            "description": description,
            "parent_id": parent_id,
            "display_order": len(self.sections) + 1,
            "depth": 0 if parent_id is None else self.sections[parent_id]["depth"] + 1,
        }
        self.sections[self._next_section] = section
        self._next_section += 1
        return section

    def _new_case(self, section_id: int, body: dict[str, Any]) -> dict[str, Any]:
        now = self._stamp()
        default_type = next(t["id"] for t in self.case_types if t["is_default"])
        default_priority = next(p["id"] for p in self.priorities if p["is_default"])
        case: dict[str, Any] = {
            "id": self._next_case,
            "section_id": section_id,
            "suite_id": self.sections[section_id]["suite_id"],
            "template_id": next(t["id"] for t in self.templates if t["is_default"]),
            "type_id": default_type,
            "priority_id": default_priority,
            "refs": None,
            "created_by": 1,
            "created_on": now,
            "updated_by": 1,
            "updated_on": now,
        }
        case.update({k: v for k, v in body.items() if k in CASE_FIELDS and v is not None})
        self._next_case += 1
        self.cases[case["id"]] = case
        return case

    def _page(
        self, api: str, arg: int | None, filters: dict[str, str], rows: list[dict[str, Any]], key: str
    ) -> dict[str, Any]:
        offset = max(0, _number(filters.get("offset", "0")) or 0)
        limit = min(MAX_LIMIT, max(1, _number(filters.get("limit", str(MAX_LIMIT))) or MAX_LIMIT))
        chosen = rows[offset : offset + limit]
        kept = "".join(f"&{k}={v}" for k, v in filters.items() if k not in ("offset", "limit"))

        def link(at: int) -> str:
            return f"/api/v2/{api}/{arg}{kept}&limit={limit}&offset={at}"

        return {
            "offset": offset,
            "limit": limit,
            "size": len(chosen),
            "_links": {
                "next": link(offset + limit) if offset + limit < len(rows) else None,
                "prev": link(max(0, offset - limit)) if offset > 0 else None,
            },
            key: [dict(r) for r in chosen],
        }

    def _stamp(self) -> int:
        """Epoch seconds, moved forward by at least one from the last stamp (an update is always seen)."""
        self._last_update = max(int(time.time()), self._last_update + 1)
        return self._last_update

    def _reply(
        self, handler: BaseHTTPRequestHandler, status: int, payload: Any, headers: dict[str, str]
    ) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def _route(path: str) -> tuple[str, list[str], dict[str, str]]:
    """`/index.php?/api/v2/get_cases/7&section_id=3` → ("get_cases", ["7"], {"section_id": "3"})."""
    _, _, query = path.partition("?")
    route, _, rest = query.partition("&")
    parts = [p for p in route.removeprefix("/api/v2/").split("/") if p]
    filters = dict(parse_qsl(rest, keep_blank_values=True))
    return (parts[0] if parts else ""), parts[1:], filters


def _number(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None
