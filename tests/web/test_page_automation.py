"""The automation skeleton menus in Chromium: a story's (in its view, beside the export) and a
project's (beside the project export), each downloading the zip under the server's name, in English
and in Spanish."""

from __future__ import annotations

import asyncio
import zipfile
from pathlib import Path

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, expect

from testgen.core.config import Settings
from tests.support.helpers import make_story
from tests.web.test_page import CHROMIUM, api_keys, browser, page, settings
from tests.web.test_page_daily_work import save_draft

__all__ = ["api_keys", "browser", "page", "settings"]  # fixtures

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (see tests/web/test_page.py)"),
]


async def names_in(path: Path | str) -> list[str]:
    def read() -> list[str]:
        with zipfile.ZipFile(path) as archive:
            return sorted(archive.namelist())

    return await asyncio.to_thread(read)


async def test_a_story_and_a_project_download_their_automation_skeletons(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    story = await make_story(http, "US-1")
    await save_draft(http, "US-1", settings, num_test_cases=2, scenarios_per_test_case=1)

    await page.goto("/?story=US-1")
    view = page.locator("#story-view")
    menu = view.locator("select.view-automation-framework")
    await expect(menu).to_have_attribute("aria-label", "Automation framework for US-1")
    assert await menu.locator("option").all_text_contents() == [
        "pytest-bdd (Python)",
        "behave (Python)",
        "playwright-bdd (TypeScript)",
    ]
    await menu.select_option("behave")
    async with page.expect_download() as info:
        await view.locator("button.view-automation").click()
    download = await info.value
    assert download.suggested_filename == "US-1-behave.zip"
    assert await names_in(await download.path()) == ["features/US-1.feature", "features/steps/steps.py"]

    await page.goto("/")
    await expect(page.locator("#export-project option")).to_have_text(["Shop"])  # the projects are in
    await page.locator("#automation-project-framework").select_option("playwright-bdd")
    async with page.expect_download() as info:
        await page.locator("#automation-project-button").click()
    download = await info.value
    assert download.suggested_filename == "Shop-playwright-bdd.zip"
    assert "steps/steps.ts" in await names_in(await download.path())
    assert story["project_id"]


async def test_the_menus_speak_spanish(page: Page, http: AsyncClient, server: str) -> None:
    await make_story(http, "US-1")
    await page.context.add_cookies([{"name": "testgen_language", "value": "es", "url": server}])
    await page.goto("/?story=US-1")
    await expect(page.locator("button.view-automation")).to_have_text("Descargar esqueleto de automatización")
    await expect(page.locator("select.view-automation-framework")).to_have_attribute(
        "aria-label", "Marco de automatización de US-1"
    )
    await expect(page.locator("#automation-project-button")).to_have_text(
        "Descargar esqueleto de automatización"
    )
