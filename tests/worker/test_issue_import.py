"""GitHub issues and Azure DevOps work items imported end to end: the API queues the import, a real
worker reads the fake GitHub or Azure DevOps on 127.0.0.1 through the project's connection, the
progress streams over SSE, a re-import updates in place, and a failure never shows the token."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from httpx import AsyncClient

from testgen.cli.main import main
from tests.support.echoes import assert_no_echo
from tests.support.fake_azure_devops import FakeAzureDevOps
from tests.support.fake_github import FakeGitHub, issue
from tests.support.helpers import Event, read_events
from tests.worker.test_jira_import import new_project, stories_of

FAST = 100_000  # requests a minute: pacing out of the way

TASKS = "As a shopper I pay.\n\n- [ ] Card payments are accepted\n- [x] A receipt is mailed\n"
HEADING = (
    "<!-- issue template: describe the story -->\nContext first.\n\n## Acceptance criteria\n"
    "- [ ] Totals include VAT\n- [ ] Discounts apply before VAT\n\n## Notes\n- not a criterion\n"
)
GHERKIN = "Given a basket with two items\nWhen I check out\nThen I pay the total\n"


def github_issues() -> list[dict[str, Any]]:
    return [
        issue(1, "Pay by card", TASKS, labels=("story", "priority: high")),
        issue(2, "VAT on totals", HEADING, labels=("story", "P0")),
        issue(3, "Checkout", GHERKIN, labels=("story",)),
        issue(4, "Vague", "Make it nicer", labels=("story",)),
        issue(5, "Add the VAT", "- [ ] x", labels=("story",), pull=True),
        issue(6, "A bug", "- [ ] not a story", labels=("bug",)),
    ]


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with FakeGitHub(issues=github_issues(), per_page_cap=2) as fake:
        yield fake


@pytest.fixture
def azure() -> Iterator[FakeAzureDevOps]:
    with FakeAzureDevOps() as fake:
        yield fake


async def connect(http: AsyncClient, project: int, body: dict[str, Any]) -> None:
    r = await http.post(
        f"/projects/{project}/connections", json={**body, "name": "Source", "requests_per_minute": FAST}
    )
    assert r.status_code == 201, r.text


async def run(http: AsyncClient, project: int, source: str, body: dict[str, Any]) -> list[Event]:
    r = await http.post(f"/projects/{project}/imports/{source}", json=body)
    assert r.status_code == 202, r.text
    return await read_events(http, r.json()["events_url"])


async def test_github_issues_become_stories_and_a_reimport_updates_them_in_place(
    github: FakeGitHub, http: AsyncClient, worker: object
) -> None:
    project = await new_project(http)
    await connect(http, project, {**github.settings, "token": github.token})
    events = await run(http, project, "github", {"labels": ["story"]})
    final = events[-1]
    assert final.event == "completed", final.data
    result = final.data["result"]
    assert result["source"] == "github" and result["query"] == "acme/shop state=open labels=story"
    assert result["counts"] == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 1}
    assert result["skipped"][0]["key"] == "4" and "no acceptance criteria" in result["skipped"][0]["reason"]
    assert result["pages"] == 3  # 2 a page; the pull request is not counted
    progress = [e.data["message"] for e in events if e.data["message"].startswith("Fetched page")]
    assert progress == [
        "Fetched page 1: 1 issues processed",
        "Fetched page 2: 3 issues processed",
        "Fetched page 3: 4 issues processed",
    ]
    assert final.data["kind"] == "import_jira" and final.data["options"]["source"] == "github"

    stories = await stories_of(http, project)
    assert sorted(stories) == ["shop-1", "shop-2", "shop-3"]
    assert stories["shop-1"]["acceptance_criteria"] == ["Card payments are accepted", "A receipt is mailed"]
    assert stories["shop-1"]["priority"] == "high"
    assert stories["shop-1"]["source_url"] == "https://github.com/acme/shop/issues/1"
    assert stories["shop-1"]["jira_url"] is None
    assert stories["shop-2"]["acceptance_criteria"] == ["Totals include VAT", "Discounts apply before VAT"]
    assert stories["shop-2"]["priority"] == "critical"
    assert "issue template" not in stories["shop-2"]["description"]
    assert stories["shop-3"]["acceptance_criteria"] == [
        "Given a basket with two items When I check out Then I pay the total"
    ]
    assert {r.authorization for r in github.requests} == {f"Bearer {github.token}"}

    github.issues[0]["title"] = "Pay by card or wallet"
    events = await run(http, project, "github", {"labels": ["story"]})
    counts = events[-1].data["result"]["counts"]
    assert counts == {"created": 0, "updated": 1, "unchanged": 2, "skipped": 1}
    assert (await stories_of(http, project))["shop-1"]["title"] == "Pay by card or wallet"


async def test_azure_devops_work_items_of_a_wiql_query_become_stories(
    azure: FakeAzureDevOps, http: AsyncClient, worker: object
) -> None:
    criteria = "<div><ul><li>Totals include <b>VAT</b></li><li>Discounts apply first</li></ul></div>"
    first = azure.add_story(
        "VAT on totals",
        **{
            "System.Description": "<p>As a shopper &amp; payer</p>",
            "Microsoft.VSTS.Common.AcceptanceCriteria": criteria,
            "Microsoft.VSTS.Common.Priority": 1,
        },
    )
    second = azure.add_story(
        "Receipts",
        **{
            "System.Description": "<p>Receipts by mail.</p>"
            "<ol><li>One is mailed</li><li>It has the total</li></ol>"
        },
    )
    project = await new_project(http)
    await connect(http, project, {**azure.settings, "token": azure.pat})
    wiql = "SELECT [System.Id] FROM WorkItems WHERE [System.WorkItemType] = 'User Story' ORDER BY [System.Id]"
    events = await run(http, project, "azure-devops", {"wiql": wiql})
    final = events[-1]
    assert final.event == "completed", final.data
    result = final.data["result"]
    assert result["source"] == "azure-devops" and result["query"] == wiql
    # The fake's own "Checkout" story (4001) has no criteria: skipped with the reason.
    assert result["counts"] == {"created": 2, "updated": 0, "unchanged": 0, "skipped": 1}
    assert result["skipped"][0]["key"] == "4001"
    stories = await stories_of(http, project)
    vat, receipts = stories[f"Shop-Web-{first}"], stories[f"Shop-Web-{second}"]
    assert vat["acceptance_criteria"] == ["Totals include VAT", "Discounts apply first"]
    assert vat["priority"] == "critical" and vat["description"] == "As a shopper & payer"
    assert vat["source_url"] == f"{azure.organization_url}/Shop%20Web/_workitems/edit/{first}"
    assert receipts["acceptance_criteria"] == ["One is mailed", "It has the total"]
    assert azure.count("POST", r".*/_apis/wit/workitemsbatch") == 1

    events = await run(http, project, "azure-devops", {"wiql": wiql})
    assert events[-1].data["result"]["counts"] == {"created": 0, "updated": 0, "unchanged": 2, "skipped": 1}


async def test_a_refused_token_fails_the_import_without_showing_it(
    github: FakeGitHub, http: AsyncClient, worker: object
) -> None:
    project = await new_project(http)
    wrong = "github_pat_11WRONGWRONGWRONG0000000000000000"
    await connect(http, project, {**github.settings, "token": wrong})
    events = await run(http, project, "github", {})
    final = events[-1]
    assert final.event == "failed", final.data
    assert final.data["error"]["type"] == "auth"
    assert "Bad credentials" in final.data["error"]["message"]
    assert_no_echo(wrong, str(final.data))


async def test_bad_wiql_fails_with_azures_message(
    azure: FakeAzureDevOps, http: AsyncClient, worker: object
) -> None:
    project = await new_project(http)
    await connect(http, project, {**azure.settings, "token": azure.pat})
    events = await run(http, project, "azure-devops", {"wiql": "SELEC nonsense"})
    assert events[-1].event == "failed"
    assert events[-1].data["error"]["type"] == "invalid_request"
    assert "TF51005" in events[-1].data["error"]["message"]


async def test_an_import_needs_the_projects_connection(client: AsyncClient) -> None:
    r = await client.post("/projects", json={"name": "Shop"})
    project = r.json()["id"]
    refused = await client.post(f"/projects/{project}/imports/github", json={})
    assert refused.status_code == 409, refused.text
    assert "no GitHub connection" in refused.text
    refused = await client.post(
        f"/projects/{project}/imports/azure-devops", json={"wiql": "SELECT [System.Id] FROM WorkItems"}
    )
    assert refused.status_code == 409 and "no Azure DevOps connection" in refused.text


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("github", {"state": "merged"}),
        ("github", {"labels": ["a,b"]}),
        ("github", {"milestone": "latest"}),
        ("github", {"labels": ["x"] * 21}),
        ("github", {"jql": "project = SHOP"}),
        ("azure-devops", {}),
        ("azure-devops", {"wiql": "   "}),
    ],
)
async def test_import_requests_are_checked(client: AsyncClient, source: str, body: dict[str, Any]) -> None:
    r = await client.post("/projects", json={"name": "Shop"})
    refused = await client.post(f"/projects/{r.json()['id']}/imports/{source}", json=body)
    assert refused.status_code == 422, refused.text


async def test_cli_github_import_follows_and_prints_the_summary(
    github: FakeGitHub,
    server: str,
    http: AsyncClient,
    worker: object,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("TESTGEN_API_KEY", raising=False)
    project = await new_project(http)
    await connect(http, project, {**github.settings, "token": github.token})
    argv = ["stories", "import", "--github", "--label", "story", "--project", str(project), "--follow"]
    assert await asyncio.to_thread(main, [*argv, "--api", server]) == 0
    out, err = capsys.readouterr()
    assert "Queued GitHub import" in out and "Fetched page 3: 4 issues processed" in err
    assert "Skipped 4: no acceptance criteria found" in out
    assert "GitHub import: 3 created, 0 updated, 0 unchanged, 1 skipped (4 issues in 3 pages)" in out
    assert github.issue_requests()[0].query["labels"] == "story"
    both = ["stories", "import", "--github", "--jira", "x", "--project", str(project), "--api", server]
    assert await asyncio.to_thread(main, both) == 2
    assert "give one of FILE" in capsys.readouterr().err


async def test_trying_a_github_connection_reads_its_repository(
    github: FakeGitHub, client: AsyncClient
) -> None:
    project = (await client.post("/projects", json={"name": "Shop"})).json()["id"]
    body = {**github.settings, "token": github.token, "name": "Issues"}
    created = await client.post(f"/projects/{project}/connections", json=body)
    assert created.status_code == 201, created.text
    tried = await client.post(f"/projects/{project}/connections/{created.json()['id']}/test")
    assert tried.json() == {"ok": True, "detail": "GitHub repository acme/shop", "error": None}
    body["token"] = "github_pat_wrong"
    other = await client.post(f"/projects/{project}/connections", json={**body, "name": "Wrong"})
    tried = await client.post(f"/projects/{project}/connections/{other.json()['id']}/test")
    assert tried.json()["ok"] is False and tried.json()["error"] == "auth"
    assert "github_pat_wrong" not in tried.text
    pushed = await client.post(f"/projects/{project}/push", json={"connection_id": created.json()["id"]})
    assert pushed.status_code == 409 and "imports stories from" in pushed.text
