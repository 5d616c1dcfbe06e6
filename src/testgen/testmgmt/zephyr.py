"""Zephyr Scale Cloud: test cases in a folder per story (under the connection's folder, if it names
one), each labelled with the case's marker, which find() looks up in the story's folder.

- Text fields (objective, precondition, steps) are HTML in Zephyr: the case's text is escaped, with
  line breaks kept.
- A test case has no update time in the API, so its version is a digest of the fields a push writes
  (name, objective, precondition, priority, labels) as Zephyr answers them: an edit there shows.
- PUT replaces the whole test case (what it omits is cleared), so update() sends back what GET
  answered with the pushed fields changed (labels added in Zephyr kept), then overwrites the steps.
- Priorities map to Zephyr's default ones (Low, Normal, High); a project without the one a case needs
  gives the case its default priority.
- Zephyr links a test case to a Jira issue by the issue's numeric id, which a Zephyr token cannot read
  from Jira (and a story keeps only its key): the push gives the connector `jira_issue_id`, which asks
  the push's Jira for it, and a story imported from Jira gets an issue link ("Traceability"); without
  a Jira to ask, or when it cannot say, a web link to the story's page instead.
- The public API deletes no test case: delete() says so, and the case stays until deleted in Zephyr.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx

from testgen.core.languages import gherkin_keywords
from testgen.domain.connections import ConnectionKind, ZephyrScaleSettings, requests_per_minute
from testgen.domain.gherkin_text import one_line
from testgen.domain.gherkin_text import steps as gherkin_steps
from testgen.testmgmt.base import CaseDoc, Connector, Remote, StoryRef, ToolRefused
from testgen.testmgmt.factory import HttpOptions
from testgen.testmgmt.http import ToolHttp

PAGE = 100  # maxResults of a list page
MAX_PAGES = 500
STEPS_PER_CALL = 100  # Zephyr's limit
NAME_CHARS = 255
FOLDER_CHARS = 255
PRIORITY_NAMES = {"low": "Low", "medium": "Normal", "high": "High", "critical": "High"}
VERSIONED = ("name", "objective", "precondition", "priority", "labels")
NOT_PUT = ("links", "testScript")  # read-only parts of a test case, answered by GET but not taken by PUT
APP_PAGE = "com.atlassian.plugins.atlassian-connect-plugin:com.kanoah.test-manager__main-project-page"


def connect(
    kind: ConnectionKind, settings: dict[str, Any], secrets: dict[str, str], name: str, options: HttpOptions
) -> Connector:
    return ZephyrScale(ZephyrScaleSettings.model_validate(settings), secrets["token"], name, options)


def as_html(text: str) -> str:
    return "<br>".join(html.escape(line) for line in text.strip().splitlines())


def steps(story: StoryRef, case: CaseDoc) -> list[tuple[str, str]]:
    """(action, expected result) per step: the case's own, else one per scenario (its title, Given and
    When lines; its Then lines)."""
    if case.steps:
        return list(case.steps)
    words = gherkin_keywords(story.language)
    result = []
    for scenario in case.scenarios:
        lines = gherkin_steps(words, scenario)
        acting = len(scenario.given) + len(scenario.when)
        result.append(("\n".join([one_line(scenario.title), *lines[:acting]]), "\n".join(lines[acting:])))
    return result


def digest(test_case: dict[str, Any]) -> str:
    """The version of a test case as Zephyr answers it: a digest of the fields a push writes."""
    fields = {name: test_case.get(name) for name in VERSIONED}
    priority = fields["priority"]
    fields["priority"] = priority.get("id") if isinstance(priority, dict) else priority
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


class ZephyrScale:
    kind = ConnectionKind.zephyr_scale

    def __init__(self, settings: ZephyrScaleSettings, token: str, name: str, options: HttpOptions) -> None:
        self.settings = settings
        self.project = settings.jira_project_key
        self.what = f"Zephyr Scale connection '{name}'"
        client = httpx.AsyncClient(
            base_url=settings.api_url.rstrip("/"),
            timeout=options.timeout_s,
            transport=options.transport,
            headers={"Authorization": f"Bearer {token}"},
        )
        per_minute = requests_per_minute(settings, self.kind)
        self.http = ToolHttp(client, self.what, per_minute, sleep=options.sleep or asyncio.sleep)
        self._folders: dict[tuple[int | None, str], int] | None = None
        self._priorities: dict[str, int] | None = None
        self._folder_lock = asyncio.Lock()  # cases of several stories at once: each folder made once
        # The numeric id of a Jira issue, by its key (None: unknown), when the push has a Jira to ask.
        self.jira_issue_id: Callable[[str], Awaitable[int | None]] | None = None

    # --- reading ----------------------------------------------------------------------------------

    async def _pages(self, path: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        start = 0
        for _ in range(MAX_PAGES):
            page = (
                await self.http.request("GET", path, params={**params, "startAt": start, "maxResults": PAGE})
            ).json()
            values = page.get("values") or []
            for value in values:
                yield value
            if page.get("isLast", True) or not values:
                return
            start += len(values)

    def _url(self, key: str, story: StoryRef) -> str | None:
        """The test case's page in Jira: on the connection's `jira_url`, else on the site of the story's
        Jira page (…/browse/KEY)."""
        site = self.settings.jira_url
        if not site and story.jira_url and "/browse/" in story.jira_url:
            site = story.jira_url.split("/browse/", 1)[0]
        if not site:
            return None
        return f"{site.rstrip('/')}/projects/{self.project}?selectedItem={APP_PAGE}#!/v2/testCase/{key}"

    def _remote(self, test_case: dict[str, Any], story: StoryRef) -> Remote:
        key = str(test_case["key"])
        return Remote(id=str(test_case["id"]), key=key, url=self._url(key, story), version=digest(test_case))

    async def _get(self, key: str) -> dict[str, Any] | None:
        try:
            test_case: dict[str, Any] = (await self.http.request("GET", f"/testcases/{key}")).json()
        except ToolRefused as exc:
            if exc.status == 404:
                return None
            raise
        return test_case

    async def check(self) -> str:
        project = (await self.http.request("GET", f"/projects/{self.project}")).json()
        if project.get("enabled") is False:
            return (
                f"Zephyr Scale is not enabled in project {self.project}: enable it in the project's settings"
            )
        return f"Zephyr Scale project {project.get('key', self.project)}"

    # --- folders ----------------------------------------------------------------------------------

    async def _known_folders(self) -> dict[tuple[int | None, str], int]:
        if self._folders is None:
            self._folders = {}
            async for folder in self._pages("/folders", projectKey=self.project, folderType="TEST_CASE"):
                self._folders.setdefault((folder.get("parentId"), folder["name"]), int(folder["id"]))
        return self._folders

    async def _folder(self, parent: int | None, name: str, make: bool) -> int | None:
        folders = await self._known_folders()
        name = one_line(name)[:FOLDER_CHARS]
        if (parent, name) in folders or not make:
            return folders.get((parent, name))
        body = {"parentId": parent, "name": name, "projectKey": self.project, "folderType": "TEST_CASE"}
        created = (await self.http.request("POST", "/folders", json=body)).json()
        folders[(parent, name)] = int(created["id"])
        return folders[(parent, name)]

    async def _story_folder(self, story: StoryRef, make: bool) -> int | None:
        async with self._folder_lock:
            parent = None
            if self.settings.folder:
                parent = await self._folder(None, self.settings.folder, make)
                if parent is None:
                    return None
            return await self._folder(parent, story.id.replace("/", "-"), make)

    # --- writing ----------------------------------------------------------------------------------

    def _fields(self, case: CaseDoc) -> dict[str, Any]:
        return {
            "name": one_line(case.title)[:NAME_CHARS],
            "objective": as_html(case.description) or None,
            "precondition": "<br>".join(html.escape(one_line(p)) for p in case.preconditions) or None,
            "labels": [case.marker],
        }

    async def _write_steps(self, key: str, pairs: Sequence[tuple[str, str]]) -> None:
        items = [
            {"inline": {"description": as_html(action), "testData": "", "expectedResult": as_html(expected)}}
            for action, expected in pairs
        ]
        for n in range(0, max(len(items), 1), STEPS_PER_CALL):
            mode = "OVERWRITE" if n == 0 else "APPEND"  # calls one after the other, as Zephyr asks
            body = {"mode": mode, "items": items[n : n + STEPS_PER_CALL]}
            await self.http.request("POST", f"/testcases/{key}/teststeps", json=body)

    async def find(self, story: StoryRef, case: CaseDoc) -> Remote | None:
        folder = await self._story_folder(story, make=False)
        if folder is None:
            return None
        async for test_case in self._pages("/testcases", projectKey=self.project, folderId=folder):
            if case.marker in (test_case.get("labels") or []):
                return self._remote(test_case, story)
        return None

    async def create(self, story: StoryRef, case: CaseDoc) -> Remote:
        folder = await self._story_folder(story, make=True)
        body = {"projectKey": self.project, **self._fields(case), "folderId": folder}
        if await self._priority_id(case) is not None:  # else the project's default priority
            body["priorityName"] = PRIORITY_NAMES.get(case.priority, "Normal")
        created = (await self.http.request("POST", "/testcases", json=body)).json()
        key = str(created["key"])
        await self._write_steps(key, steps(story, case))
        issue_id = None
        if story.jira_key and self.jira_issue_id is not None:
            issue_id = await self.jira_issue_id(story.jira_key)
        if issue_id is not None:
            await self.http.request("POST", f"/testcases/{key}/links/issues", json={"issueId": issue_id})
        elif story.jira_url:
            link = {"url": story.jira_url, "description": f"Story {story.jira_key or story.id}"}
            await self.http.request("POST", f"/testcases/{key}/links/weblinks", json=link)
        test_case = await self._get(key)
        if test_case is None:
            return Remote(id=str(created["id"]), key=key, url=self._url(key, story))
        return self._remote(test_case, story)

    async def version(self, remote: Remote) -> str | None:
        test_case = await self._get(remote.key or remote.id)
        return digest(test_case) if test_case else None

    async def _priority_id(self, case: CaseDoc) -> int | None:
        """The id of the case's priority in the project (Low, Normal, High); None if it has none such."""
        async with self._folder_lock:
            if self._priorities is None:
                priorities: dict[str, int] = {}
                async for priority in self._pages("/priorities", projectKey=self.project):
                    priorities.setdefault(priority["name"], int(priority["id"]))
                self._priorities = priorities
        return self._priorities.get(PRIORITY_NAMES.get(case.priority, "Normal"))

    async def update(self, remote: Remote, story: StoryRef, case: CaseDoc) -> Remote:
        key = remote.key or remote.id
        current = await self._get(key)
        if current is None:
            raise ToolRefused(f"{self.what} has no test case {key} any more", 404)
        body = {name: value for name, value in current.items() if name not in NOT_PUT}
        body |= self._fields(case)
        kept = [label for label in current.get("labels") or [] if label != case.marker]
        body["labels"] = [case.marker, *kept]  # labels added in Zephyr stay
        priority = await self._priority_id(case)
        if priority is not None:
            body["priority"] = {"id": priority}
        await self.http.request("PUT", f"/testcases/{key}", json=body)
        await self._write_steps(key, steps(story, case))
        after = await self._get(key)
        return self._remote(after, story) if after else remote

    async def delete(self, remote: Remote) -> None:
        raise ToolRefused(
            f"{self.what} cannot delete test cases through its API: delete {remote.key or remote.id} in "
            "Zephyr Scale"
        )

    async def aclose(self) -> None:
        await self.http.aclose()
