""" "Push to…" in Chromium: a story's saved test cases pushed from its view, then the project's from beside
the project export, each push followed to its result with a link per test case, against the fake
TestRail and a worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from tests.support.fake_testrail import FakeTestRail
from tests.support.harness import run_worker
from tests.support.pushing import add_cases, add_connection, add_project, add_story, use_secrets_key
from tests.web.test_page import CHROMIUM, browser, page, shot

__all__ = ["browser", "page"]  # fixtures

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (see tests/web/test_page.py)"),
]

FAST = 100_000  # requests a minute: pacing out of the way


@pytest.fixture
def settings(settings: Settings) -> Settings:
    use_secrets_key(settings)
    return settings


@pytest.fixture
def testrail() -> Iterator[FakeTestRail]:
    with FakeTestRail() as fake:
        yield fake


async def push_from(page: Page, menu: str, connection: str) -> None:
    """Open the "Push to…" menu `menu`, choose `connection`, start the push."""
    await page.locator(f"#{menu} summary").click()
    await page.locator(f"#{menu} button.push-to", has_text=connection).click()
    await page.locator("#push-dialog #push-start").click()


async def test_push_a_storys_then_the_projects_test_cases_from_the_page(
    page: Page,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    testrail: FakeTestRail,
) -> None:
    project = await add_project(sessionmaker)
    await add_story(sessionmaker, project, "US-1")
    await add_story(sessionmaker, project, "US-2")
    first = await add_cases(sessionmaker, "US-1", 3)
    second = await add_cases(sessionmaker, "US-2", 2)
    await add_connection(
        sessionmaker,
        settings,
        project,
        "testrail",
        testrail.settings(requests_per_minute=FAST),
        testrail.secrets,
    )

    async with run_worker(settings):
        await page.goto("/")
        # A story's test cases, from its view.
        await page.locator('tr[data-story="US-1"] a.story-link').click()
        await push_from(page, "view-push", "QA TestRail (TestRail)")
        dialog = page.locator("#push-dialog")
        await expect(dialog.locator("h2")).to_have_text("Push to QA TestRail")
        summary = dialog.locator("#push-summary")
        await expect(summary.locator(".push-counts")).to_contain_text("3 created", timeout=30_000)
        links = summary.locator(".push-created a.push-link")
        await expect(links).to_have_count(3)
        assert (await links.first.get_attribute("href") or "").startswith(testrail.url)
        assert (
            sorted(
                [
                    int(await item.get_attribute("data-test-case") or 0)
                    for item in await summary.locator(".push-created li").all()
                ]
            )
            == first
        )
        await shot(page, "web-push-story")
        await dialog.locator("button[aria-label=Close]").click()

        # The project's: the story pushed already is unchanged, the other one's cases are created.
        await page.locator("#story-view a.back").click()
        await page.locator("#export-project").select_option(str(project))
        await expect(page.locator("#push-project")).to_be_visible()
        await push_from(page, "push-project-menu", "QA TestRail (TestRail)")
        await expect(summary.locator(".push-counts")).to_contain_text("2 created", timeout=30_000)
        await expect(summary.locator(".push-counts")).to_contain_text("3 unchanged")
        created = summary.locator(".push-created li")
        assert sorted(
            [int(await item.get_attribute("data-test-case") or 0) for item in await created.all()]
        ) == (second)
    assert len(testrail.cases) == 5 and testrail.duplicates() == {}
