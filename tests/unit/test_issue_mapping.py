"""A GitHub issue or an Azure DevOps work item as a story: ids, criteria, priorities, and rich text,
whatever the source sends."""

from __future__ import annotations

from typing import Any

import pytest

from testgen.domain.imported_stories import story_id
from testgen.domain.stories import Priority
from testgen.domain.text_fields import MAX_STORY_ID
from testgen.jira.mapping import Unmappable
from testgen.worker.issue_mapping import (
    html_criteria,
    html_to_text,
    label_priority,
    map_github_issue,
    map_work_item,
    markdown_criteria,
)


@pytest.mark.parametrize(
    ("prefix", "number", "expected"),
    [
        ("shop", 42, "shop-42"),
        (".github", 7, "github-7"),
        ("Shop Web", 4102, "Shop-Web-4102"),
        ("§§§", 1, "item-1"),
        ("x" * 100, 123456, "x" * (MAX_STORY_ID - 7) + "-123456"),
    ],
)
def test_story_ids_fit_what_an_id_may_hold(prefix: str, number: int, expected: str) -> None:
    assert story_id(prefix, number) == expected
    assert len(expected) <= MAX_STORY_ID


def test_markdown_criteria_prefer_the_heading_then_the_task_list_then_gherkin() -> None:
    body = "Intro\n\n**Acceptance criteria**\n- [x] One\n- [ ] Two\n\nOther\n- [ ] Not this"
    assert markdown_criteria(body) == ["One", "Two"]
    assert markdown_criteria("Text\n* [ ] Alpha\n+ [X] Beta\n- plain item") == ["Alpha", "Beta"]
    assert markdown_criteria("Given a cart\nWhen I pay\nThen it is paid") == [
        "Given a cart When I pay Then it is paid"
    ]
    assert markdown_criteria("Nothing to see") == []


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ([{"name": "bug"}, {"name": "Priority: High"}], Priority.high),
        ([{"name": "P3"}, {"name": "p0"}], Priority.critical),
        ([{"name": "priority/low"}], Priority.low),
        ([], Priority.medium),
        ("not a list", Priority.medium),
        ([None, 3, {"name": None}], Priority.medium),
    ],
)
def test_label_priorities(labels: Any, expected: Priority) -> None:
    assert label_priority(labels) == expected


def test_html_is_read_as_text_without_its_scripts() -> None:
    html = "<div>Pay <b>now</b><script>alert(1)</script></div><ul><li>One</li><li>Two &amp; three</li></ul>"
    assert html_to_text(html) == "Pay now\n\n- One\n- Two & three"
    assert html_criteria(html) == ["One", "Two & three"]
    assert html_to_text(None) == "" and html_to_text("<p></p>") == ""
    assert html_to_text("<p>unclosed <b>tags" + "<i>" * 1000) == "unclosed tags"


@pytest.mark.parametrize(
    "issue",
    [None, [], {"number": "1", "title": "t"}, {"number": True, "title": "t"}, {"number": 1, "title": " "}],
)
def test_a_malformed_github_issue_is_unmappable(issue: Any) -> None:
    with pytest.raises(Unmappable):
        map_github_issue(issue, "acme/shop")


def test_a_github_issue_keeps_its_page_only_when_it_is_a_web_address() -> None:
    issue = {"number": 3, "title": "T", "body": "- [ ] c", "html_url": "javascript:alert(1)"}
    assert map_github_issue(issue, "acme/shop").source_url is None
    issue["html_url"] = "https://github.com/acme/shop/issues/3"
    story = map_github_issue(issue, "acme/shop")
    assert story.id == "shop-3" and story.source_url == issue["html_url"]


@pytest.mark.parametrize(
    "item",
    [None, {"id": "4"}, {"id": 4, "fields": []}, {"id": 4, "fields": {"System.Title": ""}}],
)
def test_a_malformed_work_item_is_unmappable(item: Any) -> None:
    with pytest.raises(Unmappable):
        map_work_item(item, "Shop", "https://dev.azure.com/acme/Shop/_workitems/edit/4")


def test_a_work_item_falls_back_to_the_descriptions_first_list() -> None:
    item = {
        "id": 9,
        "fields": {
            "System.Title": "Receipts",
            "System.Description": "<p>Intro</p><ol><li>One</li><li>Two</li></ol>"
            "<p>Later</p><ul><li>No</li></ul>",
            "Microsoft.VSTS.Common.Priority": 9,
        },
    }
    story = map_work_item(item, "Shop", "https://dev.azure.com/acme/Shop/_workitems/edit/9")
    assert story.acceptance_criteria == ["One", "Two"] and story.priority == Priority.medium
