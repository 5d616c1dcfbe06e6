"""A fake Jira for tests: issue search of Cloud (`POST /rest/api/3/search/jql`, `nextPageToken`) or
Data Center (`POST /rest/api/2/search`, `startAt`/`total`) on 127.0.0.1, from a stdlib threaded server;
and remote links (`POST /rest/api/{3|2}/issue/{key}/remotelink`), kept per issue by `globalId` as Jira
does: a new one is added (201), one whose `globalId` the issue has already is replaced (200); `GET` on
the same path lists them. `GET /rest/api/{3|2}/issue/{key}` answers the issue's numeric id, and
`GET /rest/api/{3|2}/myself` the user of the credentials.
Attachment content (`GET /rest/api/{3|2}/attachment/content/{id}`): Cloud answers 303 to a signed
URL on its media host (`localhost` on a second port), which refuses a request that carries credentials;
Data Center answers the bytes itself.

It checks the credentials (basic e-mail:token for Cloud, bearer PAT for Data Center) and can misbehave
like real servers: answer 429 with Retry-After a few times, refuse a JQL with a 400, hold a page until
released (to cancel an import mid-way), serve pages smaller than asked for, and echo the credential
it received inside its error messages (`echo_credentials`), which the client must never pass on:
the Authorization header as received, or (`echo_style`, tests/support/echoes.py) the header and the
credential in it altered: cut short, lower- or upper-cased, spaced out, percent-encoded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.echoes import altered

CLOUD_PATH = "/rest/api/3/search/jql"
DATACENTER_PATH = "/rest/api/2/search"
ATTACHMENT_CONTENT = re.compile(r"^/rest/api/[23]/attachment/content/(?P<id>[^/?]+)$")
REMOTE_LINK = re.compile(r"^/rest/api/(?P<version>[23])/issue/(?P<key>[A-Z][A-Z0-9_]*-[0-9]+)/remotelink$")
MYSELF = re.compile(r"^/rest/api/(?P<version>[23])/myself$")
ISSUE = re.compile(r"^/rest/api/(?P<version>[23])/issue/(?P<key>[A-Z][A-Z0-9_]*-[0-9]+)(\?.*)?$")


@dataclass
class Request:
    path: str
    body: dict[str, Any]
    authorization: str
    at: float


@dataclass
class FakeJira:
    deployment: str = "cloud"
    email: str = "qa@example.com"
    token: str = "cloud-token-s3cr3t-123456"
    pat: str = "dc-pat-s3cr3t-abcdef"
    issues: list[dict[str, Any]] = field(default_factory=list)
    page_cap: int = 100  # the server returns at most this many per page, whatever maxResults says
    rate_limited: int = 0  # answer 429 to this many requests first
    retry_after: str = "1"
    echo_credentials: bool = True  # put the Authorization header it received into error messages
    echo_style: str = "exact"  # how it quotes them (tests/support/echoes.py)
    hold_page: int | None = None  # block the request for this page (1-based) until `release()`
    requests: list[Request] = field(default_factory=list)
    # issue key -> globalId -> the link as last posted (with its Jira id)
    remote_links: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    missing_issues: set[str] = field(default_factory=set)  # answer 404 to links of these issues
    issue_ids: dict[str, int] = field(default_factory=dict)  # issue key -> its numeric id, once read
    files: dict[str, bytes] = field(default_factory=dict)  # attachment id -> its content
    # (path, Authorization) of each download: Jira's content URL, then (Cloud) the media host's
    downloads: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.holding = threading.Event()  # set while a held page waits
        self._server: ThreadingHTTPServer | None = None
        self._media_server: ThreadingHTTPServer | None = None

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeJira:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                if ATTACHMENT_CONTENT.match(self.path):
                    fake._attachment(self)
                    return
                if REMOTE_LINK.match(self.path):
                    fake._remote_links_of(self)
                    return
                if ISSUE.match(self.path):
                    fake._issue(self)
                    return
                if MYSELF.match(self.path):
                    fake._myself(self)
                    return
                fake._reply(self, 405, {"errorMessages": ["use POST"]})

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.request_queue_size = 64
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()

        class Media(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._media(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._media_server = ThreadingHTTPServer(("127.0.0.1", 0), Media)
        self._media_server.daemon_threads = True
        threading.Thread(target=self._media_server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._media_server is not None:
            self._media_server.shutdown()
            self._media_server.server_close()

    def __enter__(self) -> FakeJira:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def release(self) -> None:
        self._released.set()

    # --- behaviour ----------------------------------------------------------------------------------

    @property
    def expected_authorization(self) -> str:
        if self.deployment == "cloud":
            return "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        return f"Bearer {self.pat}"

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            self.requests.append(Request(handler.path, body, authorization, time.monotonic()))
            limited = self.rate_limited > 0
            if limited:
                self.rate_limited -= 1
        echo = f" (received: {self._echoed(authorization)})" if self.echo_credentials else ""
        link = REMOTE_LINK.match(handler.path)
        if link is not None and link["version"] == ("3" if self.deployment == "cloud" else "2"):
            if authorization != self.expected_authorization:
                self._reply(handler, 401, {"errorMessages": [f"You are not authenticated{echo}"]})
                return
            self._remote_link(handler, link["key"], body)
            return
        path = CLOUD_PATH if self.deployment == "cloud" else DATACENTER_PATH
        if handler.path.split("?")[0] != path:
            self._reply(handler, 404, {"errorMessages": [f"No endpoint {handler.path}"]})
            return
        if authorization != self.expected_authorization:
            self._reply(handler, 401, {"errorMessages": [f"You are not authenticated{echo}"]})
            return
        if limited:
            self._reply(
                handler,
                429,
                {"errorMessages": [f"Rate limit exceeded{echo}"]},
                {"Retry-After": self.retry_after},
            )
            return
        jql = str(body.get("jql", ""))
        if "BAD" in jql:
            message = (
                f"Error in the JQL Query: The character '%' is a reserved JQL character. You must enclose it "
                f"in a string or use the escape '\\u0025' instead. (line 1, character 9){echo}"
            )
            self._reply(handler, 400, {"errorMessages": [message], "errors": {}})
            return
        asked = int(body.get("maxResults") or 50)
        size = max(1, min(asked, self.page_cap))
        if self.deployment == "cloud":
            start = int(body["nextPageToken"].removeprefix("tok-")) if body.get("nextPageToken") else 0
        else:
            start = int(body.get("startAt") or 0)
        page_number = start // size + 1
        if self.hold_page is not None and page_number == self.hold_page:
            self.holding.set()
            self._released.wait(timeout=30)
        fields = set(body.get("fields") or [])
        chosen = [
            {**issue, "fields": {k: v for k, v in issue["fields"].items() if k in fields}}
            for issue in self.issues[start : start + size]
        ]
        end = start + len(chosen)
        if self.deployment == "cloud":
            answer: dict[str, Any] = {"issues": chosen, "isLast": end >= len(self.issues)}
            if end < len(self.issues):
                answer["nextPageToken"] = f"tok-{end}"
        else:
            answer = {"startAt": start, "maxResults": size, "total": len(self.issues), "issues": chosen}
        self._reply(handler, 200, answer)

    def _attachment(self, handler: BaseHTTPRequestHandler) -> None:
        """`GET /rest/api/{3|2}/attachment/content/{id}`: Cloud answers 303 to a signed URL on its media
        host (here `localhost` on another port, where a request carrying credentials is refused); Data
        Center answers the bytes."""
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            self.downloads.append((handler.path, authorization))
        if authorization != self.expected_authorization:
            self._reply(handler, 401, {"errorMessages": ["You are not authenticated"]})
            return
        match = ATTACHMENT_CONTENT.match(handler.path)
        assert match is not None
        file_id = match["id"]
        if file_id not in self.files:
            self._reply(
                handler, 404, {"errorMessages": [f"The attachment with id '{file_id}' does not exist"]}
            )
            return
        if self.deployment != "cloud":
            self._bytes(handler, self.files[file_id])
            return
        assert self._media_server is not None
        port = self._media_server.server_address[1]
        location = f"http://localhost:{port}/file/{file_id}?token=signed-{file_id}"
        handler.send_response(303)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _media(self, handler: BaseHTTPRequestHandler) -> None:
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            self.downloads.append((handler.path, authorization))
        file_id = handler.path.split("?")[0].rsplit("/", 1)[-1]
        if authorization:
            self._reply(handler, 400, {"error": "Only one auth mechanism allowed; the token is in the URL"})
            return
        if file_id not in self.files or f"token=signed-{file_id}" not in handler.path:
            self._reply(handler, 403, {"error": "signature does not match"})
            return
        self._bytes(handler, self.files[file_id])

    def _bytes(self, handler: BaseHTTPRequestHandler, data: bytes) -> None:
        try:
            handler.send_response(200)
            handler.send_header("Content-Type", "application/octet-stream")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _remote_link(self, handler: BaseHTTPRequestHandler, key: str, body: dict[str, Any]) -> None:
        if key in self.missing_issues:
            self._reply(
                handler,
                404,
                {"errorMessages": ["Issue does not exist or you do not have permission to see it."]},
            )
            return
        obj = body.get("object")
        if not isinstance(obj, dict) or not obj.get("url") or not obj.get("title"):
            self._reply(
                handler, 400, {"errorMessages": [], "errors": {"object": "url and title are required"}}
            )
            return
        global_id = str(body.get("globalId") or "")
        with self._lock:
            links = self.remote_links.setdefault(key, {})
            known = links.get(global_id) if global_id else None
            ident = (
                known["id"] if known is not None else sum(len(v) for v in self.remote_links.values()) + 10000
            )
            links[global_id or f"no-global-id-{ident}"] = {**body, "id": ident}
        status = 200 if known is not None else 201
        self._reply(
            handler, status, {"id": ident, "self": f"{self.url}/rest/api/3/issue/{key}/remotelink/{ident}"}
        )

    def _myself(self, handler: BaseHTTPRequestHandler) -> None:
        """`GET …/myself`: the user the credentials belong to."""
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            self.requests.append(Request(handler.path, {}, authorization, time.monotonic()))
        found = MYSELF.match(handler.path)
        assert found is not None
        echo = f" (received: {self._echoed(authorization)})" if self.echo_credentials else ""
        if found["version"] != ("3" if self.deployment == "cloud" else "2"):
            self._reply(handler, 404, {"errorMessages": [f"No endpoint {handler.path}"]})
        elif authorization != self.expected_authorization:
            self._reply(handler, 401, {"errorMessages": [f"You are not authenticated{echo}"]})
        elif self.deployment == "cloud":
            self._reply(handler, 200, {"accountId": "5b10a2844c20165700ede21g", "displayName": "QA Person"})
        else:
            self._reply(handler, 200, {"name": "qa", "displayName": "QA Person"})

    def _issue(self, handler: BaseHTTPRequestHandler) -> None:
        """`GET …/issue/{key}`: the issue's numeric id (as a string, as Jira gives it) and key."""
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            self.requests.append(Request(handler.path, {}, authorization, time.monotonic()))
        found = ISSUE.match(handler.path)
        assert found is not None
        key = found["key"]
        if found["version"] != ("3" if self.deployment == "cloud" else "2"):
            self._reply(handler, 404, {"errorMessages": [f"No endpoint {handler.path}"]})
        elif authorization != self.expected_authorization:
            self._reply(handler, 401, {"errorMessages": ["You are not authenticated"]})
        elif key in self.missing_issues:
            self._reply(
                handler,
                404,
                {"errorMessages": ["Issue does not exist or you do not have permission to see it."]},
            )
        else:
            with self._lock:
                ident = self.issue_ids.setdefault(key, 20001 + len(self.issue_ids))
            self._reply(handler, 200, {"id": str(ident), "key": key, "fields": {"summary": f"Story {key}"}})

    def _remote_links_of(self, handler: BaseHTTPRequestHandler) -> None:
        """`GET …/issue/{key}/remotelink`: the issue's remote links, a JSON array (Jira's answer)."""
        authorization = handler.headers.get("Authorization", "")
        with self._lock:
            self.requests.append(Request(handler.path, {}, authorization, time.monotonic()))
        link = REMOTE_LINK.match(handler.path)
        assert link is not None
        if link["version"] != ("3" if self.deployment == "cloud" else "2"):
            self._reply(handler, 404, {"errorMessages": [f"No endpoint {handler.path}"]})
            return
        if authorization != self.expected_authorization:
            self._reply(handler, 401, {"errorMessages": ["You are not authenticated"]})
            return
        if link["key"] in self.missing_issues:
            self._reply(
                handler,
                404,
                {"errorMessages": ["Issue does not exist or you do not have permission to see it."]},
            )
            return
        base = f"{self.url}/rest/api/{link['version']}/issue/{link['key']}/remotelink"
        with self._lock:
            stored = self.remote_links.get(link["key"], {}).values()
            links = [{**one, "self": f"{base}/{one['id']}"} for one in stored]
        data = json.dumps(links).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def links_of(self, key: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.remote_links.get(key, {}).values())

    def _echoed(self, authorization: str) -> str:
        """The header as received, or (`echo_style`) altered, with the credential in it altered too."""
        if self.echo_style == "exact":
            return authorization
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):
                credential = base64.b64decode(credential).decode()  # e-mail:token
        return f"{altered(authorization, self.echo_style)}; credential {altered(credential, self.echo_style)}"

    def _reply(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass


def adf(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "doc", "version": 1, "content": list(blocks)}


def text(value: str, **link: str) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "text", "text": value}
    if link:
        node["marks"] = [{"type": "link", "attrs": {"href": link["href"]}}]
    return node


def paragraph(*nodes: dict[str, Any] | str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [text(n) if isinstance(n, str) else n for n in nodes]}


def heading(value: str, level: int = 2) -> dict[str, Any]:
    return {"type": "heading", "attrs": {"level": level}, "content": [text(value)]}


def bullets(*items: str | list[Any]) -> dict[str, Any]:
    return {"type": "bulletList", "content": [_item(i) for i in items]}


def ordered(*items: str | list[Any], order: int = 1) -> dict[str, Any]:
    return {"type": "orderedList", "attrs": {"order": order}, "content": [_item(i) for i in items]}


def _item(item: str | list[Any]) -> dict[str, Any]:
    parts = [item] if isinstance(item, str) else item
    return {"type": "listItem", "content": [paragraph(p) if isinstance(p, str) else p for p in parts]}


def issue(
    key: str, summary: str, description: object = None, priority: str | None = "Medium", **extra: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {"summary": summary, "description": description, **extra}
    if priority is not None:
        fields["priority"] = {"name": priority, "id": "3"}
    return {
        "id": str(abs(hash(key)) % 100000),
        "key": key,
        "self": f"https://jira/rest/api/3/issue/{key}",
        "fields": fields,
    }


def comments(*texts: tuple[str, str]) -> dict[str, Any]:
    """The `comment` field as Jira's search answers it: (created, text) pairs, oldest first, each body
    in ADF."""
    found = [
        {
            "id": str(10000 + n),
            "author": {"accountId": f"5b10a{n}", "displayName": f"Reviewer {n}"},
            "body": adf(paragraph(body)),
            "created": created,
            "updated": created,
        }
        for n, (created, body) in enumerate(texts)
    ]
    return {"comments": found, "maxResults": len(found), "total": len(found), "startAt": 0}


def issue_link(
    name: str, inward: str, outward: str, key: str, summary: str, *, outgoing: bool
) -> dict[str, Any]:
    """One entry of `issuelinks`: this issue `outward`s `key` when `outgoing`, else `key` `outward`s it."""
    other = {
        "id": str(abs(hash(key)) % 100000),
        "key": key,
        "fields": {"summary": summary, "status": {"name": "To Do"}},
    }
    return {
        "id": str(abs(hash((name, key))) % 100000),
        "type": {"id": "10000", "name": name, "inward": inward, "outward": outward},
        "outwardIssue" if outgoing else "inwardIssue": other,
    }


def subtask(key: str, summary: str) -> dict[str, Any]:
    return {
        "id": str(abs(hash(key)) % 100000),
        "key": key,
        "fields": {"summary": summary, "status": {"name": "To Do"}, "issuetype": {"name": "Sub-task"}},
    }


def attachment_entry(
    file_id: str, filename: str, content: bytes, mime_type: str = "text/plain"
) -> dict[str, Any]:
    """One entry of the `attachment` field, as the search answers it."""
    return {
        "id": file_id,
        "filename": filename,
        "author": {"displayName": "Reviewer 0"},
        "created": "2026-03-02T09:00:00.000+0000",
        "size": len(content),
        "mimeType": mime_type,
        "content": f"https://jira/rest/api/3/attachment/content/{file_id}",
    }
