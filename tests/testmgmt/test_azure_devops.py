"""The Azure DevOps connector through its real HTTP client against the fake Azure DevOps on 127.0.0.1."""

from __future__ import annotations

import base64
import html
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any
from xml.etree import ElementTree

import pytest

from testgen.data.models import UserStory
from testgen.domain.connections import ConnectionKind
from testgen.domain.test_cases import Scenario
from testgen.testmgmt.base import Connector, StoryRef, ToolAuthError, ToolRefused
from testgen.testmgmt.documents import story_ref
from testgen.testmgmt.factory import HttpOptions, connect
from testgen.testmgmt.sync import Outcome, SyncOptions, push_cases
from tests.support.echoes import assert_no_echo
from tests.support.fake_azure_devops import FakeAzureDevOps
from tests.testmgmt.test_xray import FAST, LOOSE, SPANISH, Memory, Sleeps, doc, no_progress

NAME = "QA Azure"
FROM_ADO = StoryRef(id="US-7", title="Checkout", language="en", work_item_id=4001)
Connect = Callable[..., Connector]


@pytest.fixture
def fake() -> Iterator[FakeAzureDevOps]:
    with FakeAzureDevOps() as server:
        yield server


@pytest.fixture
async def connector(fake: FakeAzureDevOps) -> AsyncIterator[Connect]:
    made: list[Connector] = []

    def make(per_minute: int = FAST, sleep: Sleeps | None = None, **settings: Any) -> Connector:
        secrets = settings.pop("secrets", fake.secrets)
        options = HttpOptions(timeout_s=10, sleep=sleep or Sleeps())
        values = {**fake.settings, "requests_per_minute": per_minute, **settings}
        made.append(connect(ConnectionKind.azure_devops, values, secrets, NAME, options))
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


def steps_of(xml: str) -> list[tuple[str, str, str]]:
    """(type, action, expected) per step, the HTML inside each string read back as text."""

    def text(node: ElementTree.Element) -> str:
        markup = node.text or ""
        inner = markup.removeprefix("<DIV><P>").removesuffix("</P></DIV>")
        return html.unescape(inner.replace("<br>", "\n"))

    root = ElementTree.fromstring(xml)
    assert root.tag == "steps" and root.get("last") == str(len(root))
    return [
        (step.get("type") or "", text(step[0]), text(step[1]))
        for step in root
        if [child.tag for child in step] == ["parameterizedString", "parameterizedString", "description"]
    ]


async def test_check_names_the_project(fake: FakeAzureDevOps, connector: Connect) -> None:
    assert await connector().check() == "Azure DevOps project 'Shop Web'"
    request = fake.requests[0]
    assert request.path == "/contoso/_apis/projects/Shop%20Web" and request.query == {"api-version": "7.1"}
    assert request.authorization == "Basic " + base64.b64encode(f":{fake.pat}".encode()).decode()
    with pytest.raises(ToolRefused, match="TF200016: The following project does not exist: Nope"):
        await connector(project="Nope").check()


async def test_create_a_test_case_that_tests_the_story(fake: FakeAzureDevOps, connector: Connect) -> None:
    tricky = doc(
        1, description="Reset <b>fast</b> & safe\nfor everyone", preconditions=["A user", "Mail <on>"]
    )
    remote = await connector().create(FROM_ADO, tricky)

    item = fake.items[int(remote.id)]
    assert (remote.id, remote.key, remote.version) == ("4101", "4101", "1")
    assert remote.url == f"{fake.organization_url}/Shop%20Web/_workitems/edit/4101"
    post = next(r for r in fake.requests if r.method == "POST" and "workitems" in r.path)
    assert post.path == "/contoso/Shop%20Web/_apis/wit/workitems/$Test%20Case"
    assert post.content_type.startswith("application/json-patch+json")
    assert {op["op"] for op in post.body} == {"add"}

    fields = item["fields"]
    assert fields["System.WorkItemType"] == "Test Case" and fields["System.Title"] == "Reset link 1"
    assert fields["System.Tags"] == "functional; testgen-1"  # Azure keeps tags sorted
    assert fields["Microsoft.VSTS.Common.Priority"] == 2
    assert fields["System.Description"] == (
        "<p>Reset &lt;b&gt;fast&lt;/b&gt; &amp; safe<br>for everyone</p>"
        "<p>Preconditions:</p><ul><li>A user</li><li>Mail &lt;on&gt;</li></ul>"
    )
    assert steps_of(fields["Microsoft.VSTS.TCM.Steps"]) == [
        (
            "ValidateStep",
            "Link is emailed\nGiven a registered user\nAnd the reset page\nWhen the user asks for a link",
            "Then a link is emailed",
        ),
        ("ValidateStep", "Unknown email\nGiven no account\nWhen a link is asked", "Then no mail"),
    ]
    assert item["relations"] == [
        {
            "rel": "Microsoft.VSTS.Common.TestedBy-Reverse",
            "url": f"{fake.organization_url}/Shop%20Web/_apis/wit/workItems/4001",
            "attributes": {"isLocked": False},
        }
    ]


async def test_steps_in_the_story_dialect_and_markup_kept_as_text(
    fake: FakeAzureDevOps, connector: Connect
) -> None:
    tool = connector()
    spanish = await tool.create(
        SPANISH, doc(1, scenarios=[Scenario(title="Uno", given=["a"], when=["b"], then=["c"])])
    )
    own = await tool.create(LOOSE, doc(2, steps=[("Type <script>&", ""), ("Check", "It is <i>shown</i>")]))
    assert steps_of(fake.items[int(spanish.id)]["fields"]["Microsoft.VSTS.TCM.Steps"]) == [
        ("ValidateStep", "Uno\nDado a\nCuando b", "Entonces c")
    ]
    assert steps_of(fake.items[int(own.id)]["fields"]["Microsoft.VSTS.TCM.Steps"]) == [
        ("ActionStep", "Type <script>&", ""),
        ("ValidateStep", "Check", "It is <i>shown</i>"),
    ]
    assert fake.items[int(own.id)]["relations"] == []  # not from Azure DevOps: nothing to link


async def test_find_checks_the_whole_tag_across_batches(fake: FakeAzureDevOps, connector: Connect) -> None:
    fake.add_test_cases(205, "testgen-10; regression")  # CONTAINS 'testgen-1' matches these too
    remote = await connector().create(LOOSE, doc(1))

    found = await connector().find(LOOSE, doc(1))
    assert found is not None and (found.id, found.version, found.url) == (
        remote.id,
        remote.version,
        remote.url,
    )
    assert await connector().find(LOOSE, doc(3)) is None
    batches = [
        len(r.query["ids"].split(",")) for r in fake.requests if r.path.endswith("/_apis/wit/workitems")
    ]
    assert batches == [200, 6]  # 206 candidates, read 200 at a time
    wiql = next(r for r in fake.requests if r.path.endswith("/wiql"))
    assert "[System.Tags] CONTAINS 'testgen-1'" in wiql.body["query"]


async def test_version_update_delete(fake: FakeAzureDevOps, connector: Connect) -> None:
    tool = connector()
    remote = await tool.create(FROM_ADO, doc(1))
    assert await tool.version(remote) == "1"

    fake.edit_item(int(remote.id), **{"System.Tags": "functional; smoke; testgen-1"})  # a tag added there
    updated = await tool.update(remote, FROM_ADO, doc(1, title="Reset link, reworded", priority="critical"))
    assert (updated.id, updated.version) == (remote.id, "3")
    patch = next(r for r in fake.requests if r.method == "PATCH")
    assert {op["op"] for op in patch.body} == {"replace"}
    fields = fake.items[int(remote.id)]["fields"]
    assert fields["System.Title"] == "Reset link, reworded" and fields["Microsoft.VSTS.Common.Priority"] == 1
    assert fields["System.Tags"] == "functional; smoke; testgen-1"
    assert len(fake.items[int(remote.id)]["relations"]) == 1  # the link stays

    fake.edit_item(int(remote.id), **{"System.Title": "Edited in Azure"})
    assert await tool.version(updated) == "4"  # the pusher sees a conflict

    await tool.delete(remote)
    assert int(remote.id) not in fake.items and int(remote.id) in fake.recycle_bin
    assert await tool.version(remote) is None
    await tool.delete(remote)  # already gone: nothing to do


async def test_refused_credentials_name_the_connection_never_the_token(
    fake: FakeAzureDevOps, connector: Connect
) -> None:
    wrong = {"token": "WrongPat-0123456789abcdef0123"}
    with pytest.raises(ToolAuthError) as refused:
        await connector(secrets=wrong).check()
    assert refused.value.status == 401
    assert refused.value.message.startswith(f"Azure DevOps connection '{NAME}' refused the credentials")
    assert_no_echo(wrong["token"], refused.value.message, str(refused.value))

    fake.signin_page = True  # Azure may answer its sign-in page instead
    with pytest.raises(ToolAuthError) as page:
        await connector(secrets=wrong).find(LOOSE, doc(1))
    assert page.value.status == 203 and "sign-in page" in page.value.message
    assert_no_echo(wrong["token"], page.value.message)
    assert fake.statuses() == {401: 1, 203: 1}  # neither retried


async def test_429_waits_its_retry_after_and_the_minute_turns(
    fake: FakeAzureDevOps, connector: Connect
) -> None:
    sleeps = Sleeps()
    fake.throttle_next, fake.retry_after = 2, 7
    assert await connector(sleep=sleeps).check() == "Azure DevOps project 'Shop Web'"
    assert sleeps.longer_than(1) == [7, 7]

    minute = Sleeps()
    fake.per_minute, fake.clock = 2, minute.clock
    tool = connector(sleep=minute)
    for _ in range(3):
        await tool.check()
    assert minute.longer_than(1) == [60]
    assert fake.statuses() == {429: 3, 200: 4}


async def test_a_refused_case_fails_alone_with_azures_message(
    fake: FakeAzureDevOps, connector: Connect
) -> None:
    fake.refuse("Needs an area", "TF401320: Rule Error for field Area Path. Error code: Required.")
    tool = connector()
    with pytest.raises(ToolRefused) as refused:
        await tool.create(LOOSE, doc(1, title="Needs an area"))
    assert refused.value.status == 400
    assert refused.value.message == (
        f"Azure DevOps connection '{NAME}' refused the request "
        "(400: TF401320: Rule Error for field Area Path. Error code: Required.)"
    )
    gone = StoryRef(id="US-8", title="Gone", language="en", work_item_id=999)
    with pytest.raises(ToolRefused, match="TF201035"):
        await tool.create(gone, doc(2))
    await tool.create(LOOSE, doc(3))
    assert [i["fields"]["System.Title"] for i in fake.test_cases()] == ["Reset link 3"]


async def test_push_edit_push_holds_each_case_once_with_the_edit(
    fake: FakeAzureDevOps, connector: Connect
) -> None:
    memory = Memory()
    first = await push_cases(connector(), [(FROM_ADO, [doc(1), doc(2)])], memory, SyncOptions(), no_progress)
    assert [c.outcome for c in first.cases] == [Outcome.created, Outcome.created]

    edited = doc(1, title="Edited title", steps=[("Edited step", "Edited result")])
    second = await push_cases(connector(), [(FROM_ADO, [edited, doc(2)])], memory, SyncOptions(), no_progress)
    assert [c.outcome for c in second.cases] == [Outcome.updated, Outcome.unchanged]
    assert len(fake.test_cases()) == 2
    (one,) = fake.tagged("testgen-1")
    assert one["fields"]["System.Title"] == "Edited title"
    assert steps_of(one["fields"]["Microsoft.VSTS.TCM.Steps"]) == [
        ("ValidateStep", "Edited step", "Edited result")
    ]
    assert len(fake.tagged("testgen-2")) == 1


async def test_a_story_imported_from_this_project_is_linked_one_from_elsewhere_is_not(
    fake: FakeAzureDevOps, connector: Connect
) -> None:
    ours = StoryRef(
        id="Shop-Web-4001",
        title="Checkout",
        language="en",
        work_item_id=4001,
        source_url=f"{fake.organization_url}/Shop%20Web/_workitems/edit/4001",
    )
    elsewhere = StoryRef(
        id="Other-4001",
        title="Checkout elsewhere",
        language="en",
        work_item_id=4001,
        source_url="https://dev.azure.com/fabrikam/Other/_workitems/edit/4001",
    )
    tool = connector()
    linked = fake.items[int((await tool.create(ours, doc(1))).id)]
    loose = fake.items[int((await tool.create(elsewhere, doc(2))).id)]
    assert [r["url"].rsplit("/", 1)[-1] for r in linked["relations"]] == ["4001"]
    assert loose["relations"] == []


def test_a_stored_storys_work_item_is_read_from_its_page() -> None:
    row = UserStory(
        id="Shop-Web-4102",
        title="Receipts",
        source_url="https://dev.azure.com/contoso/Shop%20Web/_workitems/edit/4102",
    )
    assert story_ref(row, "en").work_item_id == 4102
    row.source_url = "https://github.com/acme/shop/issues/4102"
    assert story_ref(row, "en").work_item_id is None
