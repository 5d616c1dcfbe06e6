"""Azure DevOps Test Plans: each case a "Test Case" work item, tagged with the case's marker.

- Work items are written as JSON Patch documents (`application/json-patch+json`); the description is
  HTML and the steps are Azure's steps XML, whose strings hold HTML (escaped once as HTML for the text,
  once more as XML for the document).
- A story imported from this connection's Azure DevOps project (its work item id known) is linked: the
  test case "Tests" it.
- find() asks WIQL for test cases whose tags contain the marker, then reads their tags, since CONTAINS
  is not an exact match; version() is the work item's `rev`; update() replaces the pushed fields and
  keeps the tags added in Azure DevOps.
- As a story source (the import): `POST …/_apis/wit/wiql {query}` gives the ids a WIQL query finds,
  read 200 at a time with `POST …/_apis/wit/workitemsbatch {ids, fields}`.
- A personal access token goes as Basic with an empty user. Azure answers refused credentials with
  401, or with 203 and its sign-in page: both are a refusal of the credentials.
"""

from __future__ import annotations

import asyncio
import base64
import html
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape as xml_escape

import httpx

from testgen.core.languages import gherkin_keywords
from testgen.domain.connections import AzureDevOpsSettings, ConnectionKind, requests_per_minute
from testgen.domain.gherkin_text import one_line
from testgen.domain.gherkin_text import steps as gherkin_steps
from testgen.testmgmt.base import CaseDoc, Connector, Remote, StoryRef, ToolAuthError, ToolRefused
from testgen.testmgmt.factory import HttpOptions
from testgen.testmgmt.http import ToolHttp

API = {"api-version": "7.1"}
PATCH_JSON = {"Content-Type": "application/json-patch+json"}
TITLE_CHARS = 255
PRIORITIES = {"critical": 1, "high": 2, "medium": 3, "low": 4}
TESTS_REL = "Microsoft.VSTS.Common.TestedBy-Reverse"  # this test case tests the linked work item
BATCH = 200  # work items a read may name
STORY_FIELDS = (
    "System.Title",
    "System.WorkItemType",
    "System.Description",
    "Microsoft.VSTS.Common.AcceptanceCriteria",
    "Microsoft.VSTS.Common.Priority",
)


@dataclass(frozen=True)
class WorkItemPage:
    number: int  # 1-based
    items: list[dict[str, Any]]
    total: int  # work items the query found (up to the import's limit)


def connect(
    kind: ConnectionKind, settings: dict[str, Any], secrets: dict[str, str], name: str, options: HttpOptions
) -> Connector:
    return AzureDevOps(AzureDevOpsSettings.model_validate(settings), secrets["token"], name, options)


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


def steps_xml(pairs: Sequence[tuple[str, str]]) -> str:
    """Azure's steps document: each step's action and expected result as HTML inside XML."""

    def text(value: str) -> str:
        markup = xml_escape(f"<DIV><P>{as_html(value)}</P></DIV>")
        return f'<parameterizedString isformatted="true">{markup}</parameterizedString>'

    parts = [f'<steps id="0" last="{len(pairs)}">']
    for n, (action, expected) in enumerate(pairs, start=1):
        kind = "ValidateStep" if expected.strip() else "ActionStep"
        parts.append(f'<step id="{n}" type="{kind}">{text(action)}{text(expected)}<description/></step>')
    parts.append("</steps>")
    return "".join(parts)


def description(story: StoryRef, case: CaseDoc) -> str:
    parts = [f"<p>{as_html(case.description)}</p>"] if case.description.strip() else []
    if case.preconditions:
        items = "".join(f"<li>{html.escape(one_line(p))}</li>" for p in case.preconditions)
        parts.append(f"<p>Preconditions:</p><ul>{items}</ul>")
    if story.jira_url:
        url = html.escape(story.jira_url, quote=True)
        parts.append(f'<p>Story: <a href="{url}">{html.escape(story.jira_key or story.id)}</a></p>')
    return "".join(parts)


def tags(case: CaseDoc, kept: Sequence[str] = ()) -> str:
    ours = [case.marker, one_line(case.test_type)]
    return "; ".join([*ours, *(t for t in kept if t.lower() not in {o.lower() for o in ours})])


def tags_of(item: dict[str, Any]) -> list[str]:
    value = str((item.get("fields") or {}).get("System.Tags") or "")
    return [t.strip() for t in value.split(";") if t.strip()]


def has_tag(item: dict[str, Any], tag: str) -> bool:
    return tag.lower() in (t.lower() for t in tags_of(item))


class AzureDevOps:
    kind = ConnectionKind.azure_devops

    def __init__(self, settings: AzureDevOpsSettings, token: str, name: str, options: HttpOptions) -> None:
        self.settings = settings
        self.org = settings.organization_url.rstrip("/")
        self.project = quote(settings.project, safe="")
        self.what = f"Azure DevOps connection '{name}'"
        basic = base64.b64encode(f":{token}".encode()).decode()
        client = httpx.AsyncClient(
            base_url=self.org,
            timeout=options.timeout_s,
            transport=options.transport,
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        )
        per_minute = requests_per_minute(settings, self.kind)
        self.http = ToolHttp(client, self.what, per_minute, sleep=options.sleep or asyncio.sleep)

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, params={**API, **kwargs.pop("params", {})}, **kwargs)
        if response.status_code == 203 or "html" in response.headers.get("content-type", ""):
            raise ToolAuthError(
                f"{self.what} refused the credentials (it answered its sign-in page): check the token in the "
                "connection",
                response.status_code,
            )
        return response.json()

    def _holds(self, story: StoryRef) -> bool:
        """Whether the story's work item is in this connection's project (a story imported through
        another organization or project is not linked: its id means another item here)."""
        return story.source_url is None or story.source_url.startswith(
            f"{self.org}/{self.project}/_workitems/"
        )

    def _item_path(self, item_id: str | int) -> str:
        return f"/{self.project}/_apis/wit/workitems/{item_id}"

    def _remote(self, item: dict[str, Any]) -> Remote:
        item_id = str(item["id"])
        url = f"{self.org}/{self.project}/_workitems/edit/{item_id}"
        return Remote(id=item_id, key=item_id, url=url, version=str(item["rev"]))

    def _fields(self, story: StoryRef, case: CaseDoc) -> dict[str, Any]:
        return {
            "System.Title": one_line(case.title)[:TITLE_CHARS],
            "System.Description": description(story, case),
            "Microsoft.VSTS.TCM.Steps": steps_xml(steps(story, case)),
            "System.Tags": tags(case),
            "Microsoft.VSTS.Common.Priority": PRIORITIES.get(case.priority, 3),
        }

    async def check(self) -> str:
        project = await self._json("GET", f"/_apis/projects/{self.project}")
        return f"Azure DevOps project '{project.get('name', self.settings.project)}'"

    async def find(self, story: StoryRef, case: CaseDoc) -> Remote | None:
        query = (
            "SELECT [System.Id] FROM WorkItems WHERE [System.TeamProject] = @project "
            f"AND [System.WorkItemType] = 'Test Case' AND [System.Tags] CONTAINS '{case.marker}' "
            "ORDER BY [System.Id]"
        )
        found = await self._json("POST", f"/{self.project}/_apis/wit/wiql", json={"query": query})
        ids = [int(w["id"]) for w in found.get("workItems") or []]
        for n in range(0, len(ids), BATCH):
            params = {
                "ids": ",".join(map(str, ids[n : n + BATCH])),
                "fields": "System.Tags",
                "errorPolicy": "omit",
            }
            items = (await self._json("GET", f"/{self.project}/_apis/wit/workitems", params=params)).get(
                "value"
            )
            for item in items or []:
                if item and has_tag(item, case.marker):
                    return self._remote(item)
        return None

    async def create(self, story: StoryRef, case: CaseDoc) -> Remote:
        ops: list[dict[str, Any]] = [
            {"op": "add", "path": f"/fields/{name}", "value": value}
            for name, value in self._fields(story, case).items()
        ]
        if story.work_item_id is not None and self._holds(story):
            url = f"{self.org}/{self.project}/_apis/wit/workItems/{story.work_item_id}"
            ops.append({"op": "add", "path": "/relations/-", "value": {"rel": TESTS_REL, "url": url}})
        item = await self._json(
            "POST", f"/{self.project}/_apis/wit/workitems/$Test%20Case", json=ops, headers=PATCH_JSON
        )
        return self._remote(item)

    async def version(self, remote: Remote) -> str | None:
        try:
            item = await self._json("GET", self._item_path(remote.id))
        except ToolRefused as exc:
            if exc.status == 404:
                return None
            raise
        return str(item["rev"])

    async def update(self, remote: Remote, story: StoryRef, case: CaseDoc) -> Remote:
        current = await self._json("GET", self._item_path(remote.id), params={"fields": "System.Tags"})
        fields = self._fields(story, case) | {"System.Tags": tags(case, kept=tags_of(current))}
        ops = [{"op": "replace", "path": f"/fields/{name}", "value": value} for name, value in fields.items()]
        item = await self._json("PATCH", self._item_path(remote.id), json=ops, headers=PATCH_JSON)
        return self._remote(item)

    async def delete(self, remote: Remote) -> None:
        try:
            await self._json("DELETE", self._item_path(remote.id))
        except ToolRefused as exc:
            if exc.status != 404:  # already gone
                raise

    def item_page(self, item_id: int | str) -> str:
        """The work item's page in Azure DevOps."""
        return f"{self.org}/{self.project}/_workitems/edit/{item_id}"

    async def work_items(self, wiql: str, max_items: int) -> AsyncIterator[WorkItemPage]:
        """The work items `wiql` finds (up to `max_items`), in its order, 200 a page, with the fields a
        story is read from. Ids the query found but the batch no longer has (deleted meanwhile) are
        left out."""
        found = await self._json("POST", f"/{self.project}/_apis/wit/wiql", json={"query": wiql})
        rows = found.get("workItems") if isinstance(found, dict) else None
        if not isinstance(rows, list):
            raise ToolRefused(f"{self.what}: the WIQL answer has no work item list (is it a flat query?)")
        ids = [int(row["id"]) for row in rows if isinstance(row, dict) and isinstance(row.get("id"), int)]
        ids = list(dict.fromkeys(ids))[:max_items]
        for number, start in enumerate(range(0, len(ids), BATCH), start=1):
            body = {"ids": ids[start : start + BATCH], "fields": list(STORY_FIELDS), "errorPolicy": "omit"}
            answer = await self._json("POST", f"/{self.project}/_apis/wit/workitemsbatch", json=body)
            items = answer.get("value") if isinstance(answer, dict) else None
            if not isinstance(items, list):
                raise ToolRefused(f"{self.what}: the work items batch answer has no value list")
            yield WorkItemPage(number, [item for item in items if isinstance(item, dict)], len(ids))

    async def aclose(self) -> None:
        await self.http.aclose()
