"""The checks a proposed step body passes before it goes into a playwright-bdd steps file, and the
answer's shape (automation/fill.py)."""

from __future__ import annotations

import pytest

from testgen.automation.fill import BadFillAnswer, check_body, parse_answer
from testgen.domain.automation import http_url


@pytest.mark.parametrize(
    "body",
    [
        'await page.goto("https://shop.example/");',
        'await page.getByText("fetch the process module").click();',  # words inside a string are text
        "await expect(page.getByRole('heading', { name: text })).toBeVisible();",
        "// open it\nawait page.getByLabel(`Email`).fill(email);\nawait page.keyboard.press('Enter');",
    ],
)
def test_a_plain_playwright_body_is_kept(body: str) -> None:
    assert check_body(body) is None


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("", "no body proposed"),
        ('require("fs").rmSync("/");', "uses require"),
        ("await fetch(url);", "uses fetch"),
        ("process.exit(1); page.close();", "uses process"),
        ("await page.goto(`${globalThis.x}`);", "template literal substitutions"),
        ("await page.goto('x'));", "unbalanced brackets or an unterminated string"),
        ("await page.goto('x);", "unbalanced brackets or an unterminated string"),
        ("});\nconsole.log(page", "unbalanced brackets or an unterminated string"),
        ("const x = 1;", "uses neither page nor expect"),
        ("await page.waitForTimeout(1);\n" * 41, "longer than 2000 characters or 40 lines"),
        ("await page.goto('\u2028');", "control characters"),
    ],
)
def test_a_body_that_could_escape_or_break_the_file_is_refused(body: str, why: str) -> None:
    assert check_body(body) == why


def test_an_answer_gives_a_body_or_a_reason_per_step() -> None:
    answer = {"bodies": [{"index": 1, "body": "await page.reload();\n"}, {"index": 7, "body": "x"}]}
    assert parse_answer(answer, 2) == [
        (None, "the answer left this step out"),
        ("await page.reload();", None),
    ]
    with pytest.raises(BadFillAnswer):
        parse_answer({"test_cases": []}, 2)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/", "https://shop.example/app?x=1#top", "http://[::1]:3000"]
)
def test_an_http_url_is_a_base_url(url: str) -> None:
    assert http_url(url) == url


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "https://a:b@shop.example/", "http:/x", "https://shop.example/\t"]
)
def test_other_urls_are_not(url: str) -> None:
    with pytest.raises(ValueError):
        http_url(url)
