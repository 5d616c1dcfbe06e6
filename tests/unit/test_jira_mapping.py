"""Jira rich text to plain text (ADF and wiki markup) and an issue mapped to a story."""

from __future__ import annotations

from typing import Any

import pytest

from testgen.domain.stories import Priority
from testgen.jira import adf as adf_text
from testgen.jira import wiki
from testgen.jira.mapping import Unmappable, map_issue
from tests.support.fake_jira import adf, bullets, heading, issue, ordered, paragraph, text

BASE = "https://shop.atlassian.net"

# One document with every node type the import must read, and one it does not know.
EVERY_NODE = adf(
    heading("Context", 1),
    paragraph(
        "As a ",
        {"type": "text", "text": "shopper", "marks": [{"type": "strong"}]},
        " I want to pay, said ",
        {"type": "mention", "attrs": {"id": "5b10a", "text": "@Alice Example"}},
        " ",
        {"type": "emoji", "attrs": {"shortName": ":smile:", "text": "😄"}},
        {"type": "hardBreak"},
        "See ",
        text("the spec", href="https://wiki/spec"),
        " and ",
        {"type": "inlineCard", "attrs": {"url": "https://shop.atlassian.net/browse/SHOP-9"}},
        " ",
        {"type": "emoji", "attrs": {"shortName": ":thumbsup:"}},
    ),
    bullets("Card", ["Wallet", ordered("Apple Pay", "Google Pay")]),
    ordered("First", "Second", order=3),
    {
        "type": "table",
        "content": [
            {
                "type": "tableRow",
                "content": [
                    {"type": "tableHeader", "content": [paragraph("Method")]},
                    {"type": "tableHeader", "content": [paragraph("Fee")]},
                ],
            },
            {
                "type": "tableRow",
                "content": [
                    {"type": "tableCell", "content": [paragraph("Card")]},
                    {"type": "tableCell", "content": [paragraph("1%")]},
                ],
            },
        ],
    },
    {"type": "codeBlock", "attrs": {"language": "json"}, "content": [text('{"amount": 10}\n{"ok": true}')]},
    {"type": "panel", "attrs": {"panelType": "warning"}, "content": [paragraph("Mind the limits")]},
    {"type": "blockquote", "content": [paragraph("Quoted words")]},
    {"type": "rule"},
    {"type": "someFutureNode", "content": [paragraph("Still readable")]},
    {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "x"}}]},
)

EXPECTED = """Context

As a shopper I want to pay, said @Alice Example 😄
See the spec (https://wiki/spec) and https://shop.atlassian.net/browse/SHOP-9 :thumbsup:

- Card
- Wallet
  1. Apple Pay
  2. Google Pay

3. First
4. Second

Method | Fee
Card | 1%

    {"amount": 10}
    {"ok": true}

Warning: Mind the limits

> Quoted words

---

Still readable"""


def test_adf_every_node_type_becomes_readable_text() -> None:
    assert adf_text.to_text(EVERY_NODE) == EXPECTED


@pytest.mark.parametrize(
    "hostile",
    [None, [], "doc", {"type": "doc", "content": "nope"}, {"type": "doc", "content": [1, None, {"x": 1}]}],
)
def test_adf_hostile_shapes_do_not_raise(hostile: object) -> None:
    assert adf_text.to_text(hostile) == ""


def test_adf_too_deep_is_cut_not_crashing() -> None:
    node: dict[str, Any] = paragraph("bottom")
    for _ in range(500):
        node = {"type": "blockquote", "content": [node]}
    assert "bottom" not in adf_text.to_text(adf(node))


WIKI = """h1. Checkout
As a *shopper* I want to _pay_ with [the wallet|https://wiki/w], ask [~bob].\\\\Second line
* Card
** Visa
* Wallet
{code:java}
pay(10);
{code}
||Method||Fee||
|Card|1%|
{panel:title=Heads up}
Mind the limits
{panel}
bq. Quoted
h2. Acceptance criteria
# The total is shown
# The card is charged once
h2. Notes
Nothing else."""


def test_wiki_markup_becomes_the_same_kind_of_text() -> None:
    assert wiki.to_text(WIKI) == (
        "Checkout\n\n"
        "As a shopper I want to pay with the wallet (https://wiki/w), ask @bob.\nSecond line\n"
        "- Card\n  - Visa\n- Wallet\n\n"
        "    pay(10);\n\n"
        "Method | Fee\nCard | 1%\n"
        "Heads up\nMind the limits\n"
        "> Quoted\n\n"
        "Acceptance criteria\n\n"
        "1. The total is shown\n2. The card is charged once\n\n"
        "Notes\n\nNothing else."
    )


def test_criteria_from_the_heading_in_wiki_markup() -> None:
    story = map_issue(issue("SHOP-1", "Pay", WIKI, "Highest"), BASE, None)
    assert story.acceptance_criteria == ["The total is shown", "The card is charged once"]
    assert story.priority is Priority.critical
    assert story.jira_url == f"{BASE}/browse/SHOP-1"


def test_criteria_from_a_custom_field_win_over_the_description() -> None:
    field = adf(bullets("Field criterion one", ["Field criterion two", bullets("detail")]))
    description = adf(heading("Acceptance criteria"), bullets("Heading criterion"))
    story = map_issue(
        issue("SHOP-2", "Pay", description, "High", customfield_10034=field), BASE, "customfield_10034"
    )
    assert story.acceptance_criteria == ["Field criterion one", "Field criterion two; detail"]
    assert story.priority is Priority.high
    text_field = map_issue(
        issue("SHOP-3", "Pay", None, "Low", customfield_1="* one\n* two"), BASE, "customfield_1"
    )
    assert text_field.acceptance_criteria == ["one", "two"]


def test_criteria_under_a_spanish_heading_stop_at_the_next_section() -> None:
    description = adf(
        paragraph("Intro"),
        heading("Criterios de aceptación", 3),
        ordered("El total se muestra", ["La tarjeta se cobra una vez", bullets("sin duplicados")]),
        heading("Notas", 3),
        bullets("not a criterion"),
    )
    story = map_issue(issue("SHOP-4", "Pagar", description, "Lowest"), BASE, None)
    assert story.acceptance_criteria == ["El total se muestra", "La tarjeta se cobra una vez; sin duplicados"]
    assert story.priority is Priority.low


def test_criteria_from_given_when_then_lines() -> None:
    description = adf(
        paragraph(
            "Given a basket",
            {"type": "hardBreak"},
            "When I pay",
            {"type": "hardBreak"},
            "Then I get a receipt",
        ),
        paragraph("Given an empty basket"),
        paragraph("When I pay"),
        paragraph("Then I am told it is empty"),
    )
    story = map_issue(issue("SHOP-5", "Pay", description, None), BASE, None)
    assert story.acceptance_criteria == [
        "Given a basket When I pay Then I get a receipt",
        "Given an empty basket When I pay Then I am told it is empty",
    ]
    assert story.priority is Priority.medium


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (issue("SHOP-6", "No criteria", adf(paragraph("Just words")), "Medium"), "no acceptance criteria"),
        (issue("SHOP-7", "   ", adf(), "Medium"), "no summary"),
        ({"key": "SHOP-8"}, "no fields"),
        (issue("bad key!", "Pay", "Given a\nThen b"), "id"),
        ("not an object", "not an issue"),
    ],
)
def test_unmappable_issues_say_why(raw: Any, reason: str) -> None:
    with pytest.raises(Unmappable, match=reason):
        map_issue(raw, BASE, None)


def test_long_fields_are_clipped_not_refused() -> None:
    story = map_issue(issue("SHOP-9", "x" * 500, "Given " + "y" * 5000 + "\nThen z"), BASE, None)
    assert len(story.title) == 200
    assert len(story.acceptance_criteria[0]) == 2000
