"""Links back to Jira: a story imported from Jira gets a remote link to each of its pushed test cases.

`POST /rest/api/3/issue/{key}/remotelink` (Data Center: `/rest/api/2/…`) with a `globalId` per
connection and test case, `testgen:<connection id>:<test case id>`: Jira updates the link that has
it (200) instead of adding one (201), so a push run again keeps one link per case. A case a push
leaves unchanged is linked only if its story lacks the link (`GET …/remotelink`, read once a story).
The credentials are the project's `jira` connection's, else the server's JIRA_* settings.

A `jira` connection is no tool that test cases are pushed into: its connector only checks the
credentials; the rest of the connector contract refuses.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any
from urllib.parse import quote

import httpx

from testgen.core.config import Settings
from testgen.core.redaction import Scrubber
from testgen.domain.connections import (
    DEFAULT_REQUESTS_PER_MINUTE,
    ConnectionKind,
    JiraSettings,
    requests_per_minute,
)
from testgen.testmgmt.base import CaseDoc, Remote, StoryRef, ToolAuthError, ToolError, ToolRefused
from testgen.testmgmt.factory import HttpOptions
from testgen.testmgmt.http import ToolHttp

MAX_TITLE = 255
NOT_A_TOOL = (
    "a Jira connection links pushed test cases to their stories; push to a TestRail, Xray, Zephyr Scale "
    "or Azure DevOps connection"
)


class JiraHttp:
    """The HTTP side of one set of Jira credentials: the paced client, the API version, the scrubber."""

    def __init__(
        self,
        url: str,
        deployment: str,
        authorization: str,
        secrets: list[str],
        what: str,
        per_minute: int,
        options: HttpOptions,
    ) -> None:
        self.base_url = url.rstrip("/")
        self.api = "3" if deployment == "cloud" else "2"
        self.scrub = Scrubber(*secrets, authorization.partition(" ")[2])
        client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": authorization, "Accept": "application/json"},
            timeout=options.timeout_s,
            transport=options.transport,
            follow_redirects=False,  # never carry the credentials to another host
        )
        self.http = ToolHttp(client, what, per_minute, sleep=options.sleep or asyncio.sleep)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer; a ToolError whose message no longer holds any echo of the credentials."""
        try:
            return await self.http.request(method, path, **kwargs)
        except ToolError as exc:
            raise type(exc)(self.scrub(exc.message), exc.status) from None

    async def aclose(self) -> None:
        await self.http.aclose()


def _authorization(deployment: str, email: str | None, token: str) -> str:
    if deployment == "cloud":
        return "Basic " + base64.b64encode(f"{email or ''}:{token}".encode()).decode()
    return f"Bearer {token}"


class JiraLinker:
    """Upserts the remote links of one push (`connection_id`: the connection pushed to)."""

    def __init__(self, jira: JiraHttp, connection_id: int, *, owned: bool = False) -> None:
        self.jira = jira
        self.connection_id = connection_id
        self.owned = owned  # closes the client with it (the server's settings' linker)
        self.refused: str | None = None  # Jira refused the credentials: no further link is tried
        # Per story: the globalIds of its remote links, read once a push (or why they could not be)
        self._global_ids: dict[str, set[str] | ToolError] = {}
        self._issue_ids: dict[str, int | None] = {}  # per story: its Jira issue's numeric id
        self._locks: dict[str, asyncio.Lock] = {}

    def _global_id(self, case: CaseDoc) -> str:
        return f"testgen:{self.connection_id}:{case.test_case_id}"

    def _path(self, story_key: str) -> str:
        return f"/rest/api/{self.jira.api}/issue/{quote(story_key, safe='')}/remotelink"

    async def link(self, story_key: str, case: CaseDoc, remote: Remote, tool_name: str) -> None:
        if self.refused is not None:
            raise ToolAuthError(self.refused)
        if not remote.url:
            raise ToolRefused("the tool gave no address of the case, so Jira cannot link to it")
        name = remote.key or remote.id
        title = f"{tool_name} {name}: {case.title}" if tool_name else f"{name}: {case.title}"
        body = {
            "globalId": self._global_id(case),
            "relationship": "tested by",
            "object": {"url": remote.url, "title": title[:MAX_TITLE]},
        }
        try:
            await self.jira.request("POST", self._path(story_key), json=body)
        except ToolAuthError as exc:
            self.refused = exc.message
            raise
        known = self._global_ids.get(story_key)
        if isinstance(known, set):
            known.add(self._global_id(case))

    async def issue_id(self, story_key: str) -> int | None:
        """The numeric id of the story's Jira issue (`GET …/issue/{key}`, once a story per push); None
        when Jira cannot say (the issue is gone, or Jira did not answer)."""
        async with self._locks.setdefault(f"id:{story_key}", asyncio.Lock()):
            if story_key not in self._issue_ids:
                self._issue_ids[story_key] = await self._read_issue_id(story_key)
        return self._issue_ids[story_key]

    async def _read_issue_id(self, story_key: str) -> int | None:
        if self.refused is not None:
            return None
        path = f"/rest/api/{self.jira.api}/issue/{quote(story_key, safe='')}"
        try:
            answer = (await self.jira.request("GET", path, params={"fields": "summary"})).json()
        except ToolAuthError as exc:
            self.refused = exc.message
            return None
        except (ToolError, ValueError):
            return None
        found = answer.get("id") if isinstance(answer, dict) else None
        return int(found) if isinstance(found, str | int) and str(found).isdigit() else None

    async def has_link(self, story_key: str, case: CaseDoc) -> bool:
        """Whether the story has the case's link, from its remote links (`GET …/remotelink`, once a
        story per push; a failure to read them is kept, so the story's other cases fail at once)."""
        if self.refused is not None:
            raise ToolAuthError(self.refused)
        async with self._locks.setdefault(story_key, asyncio.Lock()):
            if story_key not in self._global_ids:
                self._global_ids[story_key] = await self._read_global_ids(story_key)
        known = self._global_ids[story_key]
        if isinstance(known, ToolError):
            raise type(known)(known.message, known.status)
        return self._global_id(case) in known

    async def _read_global_ids(self, story_key: str) -> set[str] | ToolError:
        try:
            answer = (await self.jira.request("GET", self._path(story_key))).json()
        except ToolAuthError as exc:
            self.refused = exc.message
            raise
        except ToolError as exc:
            return exc
        except ValueError:
            return ToolRefused(f"{self.jira.http.what} answered the links of {story_key} with no JSON")
        links = answer if isinstance(answer, list) else []
        return {str(link["globalId"]) for link in links if isinstance(link, dict) and link.get("globalId")}

    async def aclose(self) -> None:
        if self.owned:
            await self.jira.aclose()


class JiraConnection:
    """The connector of a `jira` connection: checks its credentials, makes linkers."""

    kind = ConnectionKind.jira

    def __init__(self, jira: JiraHttp) -> None:
        self.jira = jira

    def linker(self, connection_id: int) -> JiraLinker:
        return JiraLinker(self.jira, connection_id)

    async def check(self) -> str:
        answer = (await self.jira.request("GET", f"/rest/api/{self.jira.api}/myself")).json()
        who = answer.get("displayName") or answer.get("name") if isinstance(answer, dict) else None
        return f"Jira at {self.jira.base_url} as {who}" if who else f"Jira at {self.jira.base_url}"

    async def find(self, story: StoryRef, case: CaseDoc) -> Remote | None:
        raise ToolRefused(NOT_A_TOOL)

    async def create(self, story: StoryRef, case: CaseDoc) -> Remote:
        raise ToolRefused(NOT_A_TOOL)

    async def version(self, remote: Remote) -> str | None:
        raise ToolRefused(NOT_A_TOOL)

    async def update(self, remote: Remote, story: StoryRef, case: CaseDoc) -> Remote:
        raise ToolRefused(NOT_A_TOOL)

    async def delete(self, remote: Remote) -> None:
        raise ToolRefused(NOT_A_TOOL)

    async def aclose(self) -> None:
        await self.jira.aclose()


def connect(
    kind: ConnectionKind, settings: dict[str, Any], secrets: dict[str, str], name: str, options: HttpOptions
) -> JiraConnection:
    parsed = JiraSettings.model_validate(settings)
    token = secrets["api_token"]
    authorization = _authorization(parsed.deployment, parsed.email, token)
    jira = JiraHttp(
        parsed.url,
        parsed.deployment,
        authorization,
        [token],
        f"Jira connection '{name}'",
        requests_per_minute(parsed, kind),
        options,
    )
    return JiraConnection(jira)


def server_linker(settings: Settings, connection_id: int, options: HttpOptions) -> JiraLinker | None:
    """A linker with the server's JIRA_* settings; None when they do not name a Jira and its
    credentials."""
    url = settings.jira_base_url
    if not url or not url.startswith(("http://", "https://")):
        return None
    if settings.jira_deployment == "cloud":
        if not (settings.jira_email and settings.jira_api_token):
            return None
        token = settings.jira_api_token.get_secret_value()
    else:
        if not settings.jira_pat:
            return None
        token = settings.jira_pat.get_secret_value()
    authorization = _authorization(settings.jira_deployment, settings.jira_email, token)
    per_minute = DEFAULT_REQUESTS_PER_MINUTE[ConnectionKind.jira]
    what = "Jira (JIRA_BASE_URL)"
    jira = JiraHttp(url, settings.jira_deployment, authorization, [token], what, per_minute, options)
    return JiraLinker(jira, connection_id, owned=True)
