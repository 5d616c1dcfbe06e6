"""Xray, on Jira Cloud (Xray's own API) and on Jira Data Center (Jira's REST API and Xray's fields).

A case becomes one Test issue: "Cucumber" with its scenarios' steps in the story's Gherkin dialect
(a comment naming each scenario when there are several), or "Manual" with one step per scenario when
the case has no Gherkin. It carries the case's marker as a label, which find() looks up, and covers the
story's Jira issue when the story came from Jira.

Cloud: `POST /api/v2/authenticate` answers a bare JSON string, the bearer token (a 401 later gets one
new token and one retry). A test is created by the bulk test import (one test a job, polled until it
ends; Xray runs one import job a user at a time, so the connector's creates take turns), in the Test
Repository folder "/<story id>", linked to the story by an issue link of type
"Test". Xray documents that import for new tests only, so update() changes the test's definition
through GraphQL (test type, then its Gherkin or its steps); the summary, description and labels are
Jira fields that Xray's API does not change, so they keep what the first push wrote. find() and
version() are GraphQL's getTests (by label) and getTest (`lastModified`); delete() is its deleteTest.

Data Center: a personal access token (bearer) on Jira's REST API. Xray's fields (Test Type, Cucumber
Test Type, Cucumber Scenario, Manual Test Steps) have ids of their own on each instance, read once
from `GET /rest/api/2/field`. The link to the story ("Tests") is made right after the test, then the
test is put in the Test Repository folder "/<story id>" (Xray's REST API
`/rest/raven/1.0/api/testrepository/{project}/folders`: the folders listed once, the story's made at
the root when missing); if Jira refuses either, the new test is deleted again (a test left by a
failed delete is adopted by the next push) and the case fails with Jira's answer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import httpx

from testgen.core.languages import gherkin_keywords
from testgen.domain.connections import (
    ConnectionKind,
    XrayCloudSettings,
    XrayDataCenterSettings,
    requests_per_minute,
)
from testgen.domain.gherkin_text import one_line
from testgen.domain.gherkin_text import steps as gherkin_steps
from testgen.testmgmt.base import (
    CaseDoc,
    Connector,
    Remote,
    StoryRef,
    ToolAuthError,
    ToolError,
    ToolRefused,
    ToolUnavailable,
)
from testgen.testmgmt.factory import HttpOptions
from testgen.testmgmt.http import ToolHttp

CUCUMBER = "Cucumber"
MANUAL = "Manual"
CLOUD_LINK_TYPE = "Test"  # Xray Cloud's issue link type: the test "tests" the story
DC_LINK_TYPE = "Tests"  # Xray Data Center's
SUMMARY_CHARS = 255  # Jira's limit
POLL_FIRST_S = 0.5
POLL_MAX_S = 5.0
POLL_LIMIT = 60  # status checks of one import job before giving up (about five minutes)
DC_FIELDS = ("Test Type", "Cucumber Test Type", "Cucumber Scenario", "Manual Test Steps")
DC_REPOSITORY = "/rest/raven/1.0/api/testrepository"  # Xray Data Center's Test Repository
DC_ROOT_FOLDER = -1

TEST_FIELDS = 'issueId lastModified jira(fields: ["key"])'
GET_TEST = f"query($id: String!) {{ getTest(issueId: $id) {{ {TEST_FIELDS} testType {{ name }} }} }}"
GET_TESTS = (
    f"query($jql: String!) {{ getTests(jql: $jql, limit: 10) {{ total results {{ {TEST_FIELDS} }} }} }}"
)
COUNT_TESTS = "query($jql: String!) { getTests(jql: $jql, limit: 1) { total } }"
UPDATE_TYPE = (
    "mutation($id: String!, $type: UpdateTestTypeInput!) "
    "{ updateTestType(issueId: $id, testType: $type) { issueId } }"
)
UPDATE_GHERKIN = (
    "mutation($id: String!, $gherkin: String!) "
    "{ updateGherkinTestDefinition(issueId: $id, gherkin: $gherkin) { issueId } }"
)
REMOVE_STEPS = "mutation($id: String!) { removeAllTestSteps(issueId: $id) }"
ADD_STEP = "mutation($id: String!, $step: CreateStepInput!) { addTestStep(issueId: $id, step: $step) { id } }"
DELETE_TEST = "mutation($id: String!) { deleteTest(issueId: $id) }"


def connect(
    kind: ConnectionKind, settings: dict[str, Any], secrets: dict[str, str], name: str, options: HttpOptions
) -> Connector:
    if kind is ConnectionKind.xray_cloud:
        return XrayCloud(XrayCloudSettings.model_validate(settings), secrets["client_secret"], name, options)
    return XrayDataCenter(XrayDataCenterSettings.model_validate(settings), secrets["token"], name, options)


def _tool_http(base_url: str, what: str, per_minute: int, options: HttpOptions, **headers: str) -> ToolHttp:
    client = httpx.AsyncClient(
        base_url=base_url.rstrip("/"), timeout=options.timeout_s, transport=options.transport, headers=headers
    )
    return ToolHttp(client, what, per_minute, sleep=options.sleep or asyncio.sleep)


# --- what a test holds ------------------------------------------------------------------------------


def xray_test_type(case: CaseDoc) -> str:
    return CUCUMBER if case.gherkin.strip() else MANUAL


def gherkin_def(story: StoryRef, case: CaseDoc) -> str:
    """The case's scenarios as the steps of one Cucumber test, in the story's dialect."""
    words = gherkin_keywords(story.language)
    lines: list[str] = []
    for scenario in case.scenarios:
        if len(case.scenarios) > 1:
            lines.append(f"# {one_line(scenario.title)}")
        lines += gherkin_steps(words, scenario)
    return "\n".join(lines)


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


def summary(case: CaseDoc) -> str:
    return one_line(case.title)[:SUMMARY_CHARS]


def description(story: StoryRef, case: CaseDoc) -> str:
    parts = [case.description.strip()] if case.description.strip() else []
    if case.preconditions:
        parts.append("Preconditions:\n" + "\n".join(f"- {one_line(p)}" for p in case.preconditions))
    if story.jira_url:
        parts.append(f"Story: {story.jira_url}")
    return "\n\n".join(parts)


def labels(case: CaseDoc) -> list[str]:
    return [case.marker, one_line(case.test_type).replace(" ", "-"), f"priority-{case.priority}"]


def folder(story: StoryRef) -> str:
    return "/" + one_line(story.id).replace("/", "-")


def marker_jql(project_key: str, case: CaseDoc) -> str:
    return f'project = "{project_key}" AND labels = "{case.marker}"'


# --- Xray Cloud -------------------------------------------------------------------------------------


class XrayCloud:
    kind = ConnectionKind.xray_cloud

    def __init__(
        self, settings: XrayCloudSettings, client_secret: str, name: str, options: HttpOptions
    ) -> None:
        self.settings = settings
        self._secret = client_secret
        self.what = f"Xray Cloud connection '{name}'"
        per_minute = requests_per_minute(settings, self.kind)
        self.http = _tool_http(settings.api_url, self.what, per_minute, options)
        self._token: str | None = None
        self._auth_lock = asyncio.Lock()
        self._import_lock = asyncio.Lock()  # Xray runs one import job a user at a time (400 otherwise)

    async def _authenticate(self, stale: str | None = None) -> str:
        """A token: the one another call got meanwhile, or a new one (concurrent calls ask once)."""
        async with self._auth_lock:
            if self._token is not None and self._token != stale:
                return self._token
            response = await self.http.request(
                "POST",
                "/api/v2/authenticate",
                json={"client_id": self.settings.client_id, "client_secret": self._secret},
            )
            token = response.json()
            if not isinstance(token, str) or not token:
                raise ToolAuthError(f"{self.what} answered no token to its client id and secret")
            self._token = token
            return token

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A request with the token; a token the API no longer takes (401) is renewed once."""
        token = self._token or await self._authenticate()
        try:
            return await self.http.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs
            )
        except ToolAuthError as exc:
            if exc.status != 401:
                raise
        token = await self._authenticate(stale=token)
        return await self.http.request(method, path, headers={"Authorization": f"Bearer {token}"}, **kwargs)

    async def _graphql(self, query: str, **variables: Any) -> dict[str, Any]:
        body = (
            await self._call("POST", "/api/v2/graphql", json={"query": query, "variables": variables})
        ).json()
        if body.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in body["errors"])
            raise ToolRefused(f"{self.what} refused the request ({messages[:300]})")
        data: dict[str, Any] = body.get("data") or {}
        return data

    def _url(self, key: str | None, jira_self: str | None = None) -> str | None:
        site = self.settings.jira_url or (
            jira_self.split("/rest/")[0] if jira_self and "/rest/" in jira_self else None
        )
        return f"{site.rstrip('/')}/browse/{key}" if site and key else None

    def _remote(self, test: dict[str, Any], known: Remote | None = None) -> Remote:
        key = (test.get("jira") or {}).get("key")
        url = self._url(key) or (known.url if known else None)
        return Remote(id=str(test["issueId"]), key=key, url=url, version=test.get("lastModified"))

    async def check(self) -> str:
        await self._authenticate(stale=self._token)
        key = self.settings.jira_project_key
        data = await self._graphql(COUNT_TESTS, jql=f'project = "{key}"')
        total = (data.get("getTests") or {}).get("total", 0)
        return f"Xray Cloud project {key} ({total} tests)"

    async def find(self, story: StoryRef, case: CaseDoc) -> Remote | None:
        data = await self._graphql(GET_TESTS, jql=marker_jql(self.settings.jira_project_key, case))
        results = (data.get("getTests") or {}).get("results") or []
        tests = sorted(results, key=lambda t: int(t["issueId"]))
        return self._remote(tests[0]) if tests else None

    def _test(self, story: StoryRef, case: CaseDoc) -> dict[str, Any]:
        kind = xray_test_type(case)
        test: dict[str, Any] = {
            "testtype": kind,
            "fields": {
                "summary": summary(case),
                "project": {"key": self.settings.jira_project_key},
                "description": description(story, case),
                "labels": labels(case),
            },
            "xray_test_repository_folder": folder(story),
        }
        if kind == CUCUMBER:
            test["gherkin_def"] = gherkin_def(story, case)
        else:
            test["steps"] = [{"action": a, "data": "", "result": e} for a, e in steps(story, case)]
        if story.jira_key:
            link = {"type": {"name": CLOUD_LINK_TYPE}, "outwardIssue": {"key": story.jira_key}}
            test["update"] = {"issuelinks": [{"add": link}]}
        return test

    async def create(self, story: StoryRef, case: CaseDoc) -> Remote:
        async with self._import_lock:
            job = (
                await self._call("POST", "/api/v2/import/test/bulk", json=[self._test(story, case)])
            ).json()
            result = await self._wait(str(job["jobId"]))
        issues = result.get("issues") or []
        if not issues:
            raise ToolRefused(f"{self.what} refused the test ({_import_errors(result)})")
        issue = issues[0]
        test = await self._get_test(str(issue["id"]))
        version = test.get("lastModified") if test else None
        url = self._url(issue.get("key"), issue.get("self"))
        return Remote(id=str(issue["id"]), key=issue.get("key"), url=url, version=version)

    async def _wait(self, job_id: str) -> dict[str, Any]:
        """The import job's result once it ends (bounded: a job still running is reported, not awaited)."""
        pause = POLL_FIRST_S
        for _ in range(POLL_LIMIT):
            body = (await self._call("GET", f"/api/v2/import/test/bulk/{job_id}/status")).json()
            status = body.get("status")
            if status not in ("pending", "working"):
                result: dict[str, Any] = body.get("result") or {}
                if status == "failed" and not result.get("errors"):
                    raise ToolRefused(
                        f"{self.what} failed the import job {job_id} ({body.get('message', status)})"
                    )
                return result
            await self.http.sleep(pause)
            pause = min(POLL_MAX_S, pause * 2)
        raise ToolUnavailable(
            f"{self.what} had not finished the import job {job_id}: the next push finds the test if it "
            "was made"
        )

    async def _get_test(self, issue_id: str) -> dict[str, Any] | None:
        test: dict[str, Any] | None = (await self._graphql(GET_TEST, id=issue_id)).get("getTest")
        return test

    async def version(self, remote: Remote) -> str | None:
        test = await self._get_test(remote.id)
        return str(test.get("lastModified")) if test else None

    async def update(self, remote: Remote, story: StoryRef, case: CaseDoc) -> Remote:
        current = await self._get_test(remote.id)
        if current is None:
            raise ToolRefused(f"{self.what} has no test {remote.key or remote.id} any more", 404)
        kind = xray_test_type(case)
        if (current.get("testType") or {}).get("name") != kind:
            await self._graphql(UPDATE_TYPE, id=remote.id, type={"name": kind})
        if kind == CUCUMBER:
            await self._graphql(UPDATE_GHERKIN, id=remote.id, gherkin=gherkin_def(story, case))
        else:
            await self._graphql(REMOVE_STEPS, id=remote.id)
            for action, expected in steps(story, case):
                await self._graphql(
                    ADD_STEP, id=remote.id, step={"action": action, "data": "", "result": expected}
                )
        after = await self._get_test(remote.id)
        return self._remote(after, remote) if after else remote

    async def delete(self, remote: Remote) -> None:
        try:
            await self._graphql(DELETE_TEST, id=remote.id)
        except ToolRefused:
            if await self._get_test(remote.id) is not None:
                raise  # refused, not already gone

    async def aclose(self) -> None:
        await self.http.aclose()


def _import_errors(result: dict[str, Any]) -> str:
    messages = []
    for error in result.get("errors") or []:
        detail = error.get("errors")
        if isinstance(detail, dict):
            messages += [f"{field}: {text}" for field, text in detail.items()]
        elif detail:
            messages.append(str(detail))
    return "; ".join(messages)[:300] or "no test was imported"


# --- Xray Data Center -------------------------------------------------------------------------------


class XrayDataCenter:
    kind = ConnectionKind.xray_dc

    def __init__(self, settings: XrayDataCenterSettings, token: str, name: str, options: HttpOptions) -> None:
        self.settings = settings
        self.what = f"Xray Data Center connection '{name}'"
        self.base = settings.url.rstrip("/")
        per_minute = requests_per_minute(settings, self.kind)
        self.http = _tool_http(self.base, self.what, per_minute, options, Authorization=f"Bearer {token}")
        self._fields: dict[str, str] | None = None
        self._folders: dict[str, int] | None = None  # the Test Repository's root folders, by name
        self._folder_lock = asyncio.Lock()  # each story's folder made once

    def _remote(self, issue: dict[str, Any]) -> Remote:
        key = issue["key"]
        updated = (issue.get("fields") or {}).get("updated")
        return Remote(id=str(issue["id"]), key=key, url=f"{self.base}/browse/{key}", version=updated)

    async def check(self) -> str:
        key = self.settings.jira_project_key
        project = (await self.http.request("GET", f"/rest/api/2/project/{key}")).json()
        await self._xray_fields()
        return f"Jira project '{project.get('name', key)}' ({key}) with Xray"

    async def _xray_fields(self) -> dict[str, str]:
        """Xray's field ids on this instance, by name."""
        if self._fields is None:
            fields = (await self.http.request("GET", "/rest/api/2/field")).json()
            self._fields = {f["name"]: f["id"] for f in fields if f.get("name") in DC_FIELDS}
            if "Test Type" not in self._fields:
                raise ToolRefused(f"{self.what} has no 'Test Type' field: is Xray installed on this Jira?")
        return self._fields

    async def _content(self, story: StoryRef, case: CaseDoc) -> dict[str, Any]:
        ids = await self._xray_fields()
        kind = xray_test_type(case)
        fields: dict[str, Any] = {
            "summary": summary(case),
            "description": description(story, case),
            "labels": labels(case),
            ids["Test Type"]: {"value": kind},
        }
        if kind == CUCUMBER:
            if "Cucumber Scenario" not in ids:
                raise ToolRefused(f"{self.what} has no 'Cucumber Scenario' field for a Cucumber test")
            if "Cucumber Test Type" in ids:
                fields[ids["Cucumber Test Type"]] = {"value": "Scenario"}
            fields[ids["Cucumber Scenario"]] = gherkin_def(story, case)
        else:
            if "Manual Test Steps" not in ids:
                raise ToolRefused(f"{self.what} has no 'Manual Test Steps' field for a manual test")
            fields[ids["Manual Test Steps"]] = {"steps": _dc_steps(steps(story, case))}
        return fields

    async def find(self, story: StoryRef, case: CaseDoc) -> Remote | None:
        params = {
            "jql": marker_jql(self.settings.jira_project_key, case),
            "fields": "updated",
            "maxResults": 10,
        }
        issues = (await self.http.request("GET", "/rest/api/2/search", params=params)).json().get(
            "issues"
        ) or []
        issues.sort(key=lambda i: int(i["id"]))
        return self._remote(issues[0]) if issues else None

    async def create(self, story: StoryRef, case: CaseDoc) -> Remote:
        fields = await self._content(story, case)
        fields |= {"project": {"key": self.settings.jira_project_key}, "issuetype": {"name": "Test"}}
        issue = (await self.http.request("POST", "/rest/api/2/issue", json={"fields": fields})).json()
        if story.jira_key:
            await self._link(issue["key"], story.jira_key)
        await self._file(issue["key"], story)
        remote = Remote(id=str(issue["id"]), key=issue["key"], url=f"{self.base}/browse/{issue['key']}")
        return Remote(remote.id, remote.key, remote.url, await self.version(remote))

    async def _link(self, test_key: str, story_key: str) -> None:
        link = {
            "type": {"name": DC_LINK_TYPE},
            "inwardIssue": {"key": test_key},  # the test "tests" ...
            "outwardIssue": {"key": story_key},  # ... the story
        }
        try:
            await self.http.request("POST", "/rest/api/2/issueLink", json=link)
        except ToolRefused as exc:
            kept = await self._drop(test_key, "without the link")
            raise ToolRefused(
                f"{exc.message}: the test could not cover {story_key}, {kept}", exc.status
            ) from exc

    async def _file(self, test_key: str, story: StoryRef) -> None:
        """The new test in the story's Test Repository folder (deleted again if Xray refuses)."""
        path = folder(story)
        try:
            folder_id = await self._story_folder(path.lstrip("/"))
            await self.http.request(
                "PUT", f"{self._repository}/folders/{folder_id}/tests", json={"add": [test_key]}
            )
        except ToolRefused as exc:
            kept = await self._drop(test_key, "outside the folder")
            raise ToolRefused(
                f"{exc.message}: the test could not go in the folder {path}, {kept}", exc.status
            ) from exc

    @property
    def _repository(self) -> str:
        return f"{DC_REPOSITORY}/{quote(self.settings.jira_project_key, safe='')}"

    async def _story_folder(self, name: str) -> int:
        """The id of the root folder `name`, made when missing (the folders listed once)."""
        async with self._folder_lock:
            if self._folders is None:
                answer = (await self.http.request("GET", f"{self._repository}/folders")).json()
                rows = answer.get("folders") if isinstance(answer, dict) else answer
                self._folders = {
                    str(row["name"]): int(row["id"])
                    for row in rows or []
                    if isinstance(row, dict) and "name" in row and "id" in row
                }
            if name not in self._folders:
                made = (
                    await self.http.request(
                        "POST", f"{self._repository}/folders/{DC_ROOT_FOLDER}", json={"name": name}
                    )
                ).json()
                self._folders[name] = int(made["id"])
            return self._folders[name]

    async def _drop(self, test_key: str, left: str) -> str:
        """Delete a test just made that could not be completed; what became of it, in words."""
        try:
            await self.http.request("DELETE", f"/rest/api/2/issue/{test_key}")
        except ToolError:
            return f"{test_key} stays {left}"
        return "so it was not kept"

    async def version(self, remote: Remote) -> str | None:
        try:
            response = await self.http.request(
                "GET", f"/rest/api/2/issue/{remote.key or remote.id}", params={"fields": "updated"}
            )
        except ToolRefused as exc:
            if exc.status == 404:
                return None
            raise
        updated = (response.json().get("fields") or {}).get("updated")
        return str(updated) if updated is not None else None

    async def update(self, remote: Remote, story: StoryRef, case: CaseDoc) -> Remote:
        fields = await self._content(story, case)
        await self.http.request(
            "PUT", f"/rest/api/2/issue/{remote.key or remote.id}", json={"fields": fields}
        )
        return Remote(remote.id, remote.key, remote.url, await self.version(remote))

    async def delete(self, remote: Remote) -> None:
        try:
            await self.http.request("DELETE", f"/rest/api/2/issue/{remote.key or remote.id}")
        except ToolRefused as exc:
            if exc.status != 404:  # already gone
                raise

    async def aclose(self) -> None:
        await self.http.aclose()


def _dc_steps(pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"index": i, "fields": {"action": action, "data": "", "expected result": expected}}
        for i, (action, expected) in enumerate(pairs, start=1)
    ]
