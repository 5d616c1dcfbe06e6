"""TestRail (API v2): a section per story, a "Test Case (Steps)" case per test case.

Requests go to `{url}/index.php?/api/v2/{method}` with Basic auth (user + API key), paced by ToolHttp.
A case's `refs` hold the story's reference and the case's marker ("US-1, testgen-42"), so `find()` sees
a case a run created but did not record. The instance's template, case type and priority ids, its
sections and the cases listed per section are read once per connector.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from testgen.core.languages import gherkin_keywords
from testgen.core.redaction import Scrubber
from testgen.domain.connections import ConnectionKind, TestRailSettings, requests_per_minute
from testgen.domain.test_cases import Scenario
from testgen.testmgmt.base import CaseDoc, Remote, StoryRef, ToolError, ToolRefused
from testgen.testmgmt.factory import HttpOptions
from testgen.testmgmt.http import ToolHttp

PAGE_LIMIT = 250  # the most get_sections and get_cases answer per page
MAX_NAME = 250  # TestRail's limit on a section's name and a case's title
STEPS_TEMPLATE = "test case (steps)"
# A test type → the case type of TestRail's standard list it means (else the instance's default).
CASE_TYPES = {
    "functional": "functional",
    "security": "security",
    "usability": "usability",
    "performance": "performance",
    "negative": "other",
    "boundary": "other",
    "edge": "other",
}


@dataclass(frozen=True)
class _Ids:
    """The instance's ids, by lower-case name."""

    template_id: int | None
    types: dict[str, int]
    default_type: int | None
    priorities: dict[str, int]
    default_priority: int | None


def connect(
    kind: ConnectionKind,
    settings: dict[str, Any],
    secrets: dict[str, str],
    name: str,
    options: HttpOptions,
) -> TestRailConnector:
    config = TestRailSettings.model_validate(settings)
    api_key = secrets["api_key"]
    client = httpx.AsyncClient(
        auth=httpx.BasicAuth(config.username, api_key),
        timeout=options.timeout_s,
        transport=options.transport,
        follow_redirects=False,  # never carry the credentials to another host
        headers={"Accept": "application/json"},
    )
    what = f"TestRail connection '{name}'"
    per_minute = requests_per_minute(config, kind)
    http = ToolHttp(client, what, per_minute, sleep=options.sleep or asyncio.sleep)
    basic = base64.b64encode(f"{config.username}:{api_key}".encode()).decode()
    return TestRailConnector(config, http, Scrubber(api_key, basic))


class TestRailConnector:
    __test__ = False  # not a pytest test class
    kind = ConnectionKind.testrail

    def __init__(self, settings: TestRailSettings, http: ToolHttp, scrub: Scrubber) -> None:
        self.settings = settings
        self.http = http
        self.scrub = scrub
        base = settings.url.rstrip("/")
        self.base = base.removesuffix("/index.php").rstrip("/")
        self.project_id = settings.testrail_project_id
        self._ids: _Ids | None = None
        self._sections: list[dict[str, Any]] | None = None  # the suite's sections, listed once
        self._story_sections: dict[str, int] = {}
        self._listed: dict[int, dict[str, Remote]] = {}  # per section: marker → case
        self._locks: dict[str, asyncio.Lock] = {}

    # --- the contract ---------------------------------------------------------------------------------

    async def check(self) -> str:
        project = await self._get(f"get_project/{self.project_id}")
        found = f"TestRail project '{project.get('name', self.project_id)}'"
        if self.settings.suite_id is not None:
            suite = await self._get(f"get_suite/{self.settings.suite_id}")
            if suite.get("project_id") not in (None, self.project_id):
                raise ToolRefused(
                    f"{self.http.what}: suite {self.settings.suite_id} belongs to another project; "
                    "set the suite of this project in the connection",
                    400,
                )
            return f"{found} (suite '{suite.get('name', self.settings.suite_id)}')"
        if project.get("suite_mode") == 3:
            raise ToolRefused(
                f"{self.http.what}: project '{project.get('name')}' has several suites; set suite_id in "
                "the connection",
                400,
            )
        return found

    async def find(self, story: StoryRef, case: CaseDoc) -> Remote | None:
        section_id = await self._section(story, create=False)
        if section_id is None:
            return None
        listed = await self._section_cases(section_id)
        return listed.get(case.marker)

    async def create(self, story: StoryRef, case: CaseDoc) -> Remote:
        section_id = await self._section(story, create=True)
        assert section_id is not None
        body = await self._case_body(story, case)
        made = await self._post(f"add_case/{section_id}", body)
        remote = self._remote(made)
        if section_id in self._listed:
            self._listed[section_id][case.marker] = remote
        return remote

    async def version(self, remote: Remote) -> str | None:
        try:
            found = await self._get(f"get_case/{int(remote.id)}")
        except ToolRefused as exc:
            if _gone(exc):
                return None
            raise
        return _version(found)

    async def update(self, remote: Remote, story: StoryRef, case: CaseDoc) -> Remote:
        body = await self._case_body(story, case)
        updated = await self._post(f"update_case/{int(remote.id)}", body)
        return self._remote(updated)

    async def delete(self, remote: Remote) -> None:
        try:
            await self._post(f"delete_case/{int(remote.id)}", {})
        except ToolRefused as exc:
            if not _gone(exc):
                raise
        for listed in self._listed.values():
            for marker, known in list(listed.items()):
                if known.id == remote.id:
                    del listed[marker]

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- sections and cases -----------------------------------------------------------------------

    async def _section(self, story: StoryRef, *, create: bool) -> int | None:
        """The story's section ("<story id> <title>", found by the id should the title change)."""
        if story.id in self._story_sections:
            return self._story_sections[story.id]
        async with self._lock(f"story:{story.id}"):
            if story.id in self._story_sections:
                return self._story_sections[story.id]
            sections = await self._all_sections()
            found = next((s for s in sections if _names_story(str(s.get("name", "")), story.id)), None)
            if found is None:
                if not create:
                    return None
                body: dict[str, Any] = {"name": _cut(f"{story.id} {story.title}")}
                if self.settings.suite_id is not None:
                    body["suite_id"] = self.settings.suite_id
                if story.jira_url:
                    body["description"] = story.jira_url
                found = await self._post(f"add_section/{self.project_id}", body)
                sections.append(found)
                self._listed[int(found["id"])] = {}  # new: no cases to list
            self._story_sections[story.id] = int(found["id"])
            return self._story_sections[story.id]

    async def _all_sections(self) -> list[dict[str, Any]]:
        async with self._lock("sections"):
            if self._sections is None:
                self._sections = [s async for s in self._pages(f"get_sections/{self.project_id}", "sections")]
            return self._sections

    async def _section_cases(self, section_id: int) -> dict[str, Remote]:
        async with self._lock(f"section:{section_id}"):
            if section_id not in self._listed:
                listed: dict[str, Remote] = {}
                method = f"get_cases/{self.project_id}&section_id={section_id}"
                async for found in self._pages(method, "cases"):
                    for ref in str(found.get("refs") or "").split(","):
                        if ref.strip().startswith("testgen-"):
                            listed.setdefault(ref.strip(), self._remote(found))
                self._listed[section_id] = listed
            return self._listed[section_id]

    async def _case_body(self, story: StoryRef, case: CaseDoc) -> dict[str, Any]:
        ids = await self._instance_ids()
        type_name = CASE_TYPES.get(case.test_type.lower(), case.test_type.lower())
        steps = _steps(story, case)
        body: dict[str, Any] = {
            "title": _cut(case.title),
            "type_id": ids.types.get(type_name, ids.default_type),
            "priority_id": ids.priorities.get(case.priority.lower(), ids.default_priority),
            "refs": f"{story.jira_key or story.id}, {case.marker}",
            "custom_preconds": _preconditions(case),
        }
        if ids.template_id is not None:
            body["template_id"] = ids.template_id
            body["custom_steps_separated"] = [{"content": c, "expected": e} for c, e in steps]
        else:  # the project has no steps template: the default one's text fields
            body["custom_steps"] = "\n\n".join(f"{n}. {c}" for n, (c, _) in enumerate(steps, 1))
            body["custom_expected"] = "\n\n".join(f"{n}. {e}" for n, (_, e) in enumerate(steps, 1))
        return {k: v for k, v in body.items() if v is not None}

    async def _instance_ids(self) -> _Ids:
        if self._ids is not None:
            return self._ids
        async with self._lock("ids"):
            if self._ids is None:
                templates = await self._get(f"get_templates/{self.project_id}")
                types = await self._get("get_case_types")
                priorities = await self._get("get_priorities")
                self._ids = _Ids(
                    template_id=_by_name(templates).get(STEPS_TEMPLATE),
                    types=_by_name(types),
                    default_type=_default(types),
                    priorities=_by_name(priorities),
                    default_priority=_default(priorities),
                )
            return self._ids

    def _remote(self, found: dict[str, Any]) -> Remote:
        case_id = int(found["id"])
        return Remote(
            id=str(case_id),
            key=f"C{case_id}",
            url=f"{self.base}/index.php?/cases/view/{case_id}",
            version=_version(found),
        )

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    # --- HTTP -------------------------------------------------------------------------------------

    def _url(self, method: str) -> str:
        return f"{self.base}/index.php?/api/v2/{method}"

    async def _get(self, method: str) -> Any:
        return await self._call("GET", self._url(method))

    async def _post(self, method: str, body: dict[str, Any]) -> Any:
        return await self._call("POST", self._url(method), json=body)

    async def _pages(self, method: str, key: str) -> AsyncIterator[dict[str, Any]]:
        """Every item of a paged list (`_links.next`); a server older than paging answers a bare list."""
        url: str | None = self._url(f"{method}&limit={PAGE_LIMIT}")
        if self.settings.suite_id is not None:
            url = f"{url}&suite_id={self.settings.suite_id}"
        while url is not None:
            page = await self._call("GET", url)
            if isinstance(page, list):
                for item in page:
                    yield item
                return
            for item in page.get(key) or []:
                yield item
            following = (page.get("_links") or {}).get("next")
            url = f"{self.base}/index.php?{following}" if following else None

    async def _call(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = await self.http.request(method, url, **kwargs)
        except ToolError as exc:
            _reraise_scrubbed(exc, self.scrub)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise ToolRefused(
                f"{self.http.what} answered something other than JSON ({response.status_code}): check the "
                "connection's URL",
                response.status_code,
            ) from exc


def _reraise_scrubbed(exc: ToolError, scrub: Scrubber) -> NoReturn:
    """The same error, its text (which may quote what the server received) without the API key."""
    clean = scrub(exc.message)
    if clean == exc.message:
        raise exc
    raise type(exc)(clean, exc.status) from None


def _gone(exc: ToolRefused) -> bool:
    """TestRail answers 400 "Field :case_id is not a valid test case." for a deleted case."""
    return exc.status in (400, 404) and ":case_id" in exc.message


def _version(found: dict[str, Any]) -> str | None:
    updated = found.get("updated_on")
    return None if updated is None else str(updated)


def _names_story(name: str, story_id: str) -> bool:
    return name == story_id or name.startswith(f"{story_id} ")


def _by_name(rows: Any) -> dict[str, int]:
    return {str(r["name"]).strip().lower(): int(r["id"]) for r in rows or [] if "id" in r and "name" in r}


def _default(rows: Any) -> int | None:
    return next((int(r["id"]) for r in rows or [] if r.get("is_default")), None)


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"


def _preconditions(case: CaseDoc) -> str | None:
    parts = [case.description.strip()] if case.description.strip() else []
    if case.preconditions:
        parts.append("\n".join(f"- {p}" for p in case.preconditions))
    return "\n\n".join(parts) or None


def _steps(story: StoryRef, case: CaseDoc) -> list[tuple[str, str]]:
    """One step per scenario: its title and Given/When lines, then its Then lines (the story's dialect)."""
    if case.steps:
        return list(case.steps)
    return [_scenario_step(story.language, s) for s in case.scenarios]


def _scenario_step(language: str, scenario: Scenario) -> tuple[str, str]:
    words = gherkin_keywords(language)

    def lines(first: str, steps: list[str]) -> list[str]:
        return [f"{first if i == 0 else words.and_}{step}" for i, step in enumerate(steps)]

    content = [scenario.title, *lines(words.given, scenario.given), *lines(words.when, scenario.when)]
    return "\n".join(content), "\n".join(lines(words.then, scenario.then))
