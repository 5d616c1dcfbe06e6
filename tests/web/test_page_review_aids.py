"""Review aids in Chromium: a project's instructions and usage chart, the review
dialog's coverage grid and "repeats saved test …" flags (kept or skipped on save), stale tests and
"update tests for the changes"."""

from __future__ import annotations

import json

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, Request, expect

from testgen.domain.test_cases import Scenario
from testgen.worker.resources import WorkerResources
from tests.support.helpers import make_story
from tests.web.test_page import CHROMIUM, api_keys, browser, page, settings, shot
from tests.worker.test_drafts import Recording, Repeater, run, save

__all__ = ["api_keys", "browser", "page", "settings"]  # fixtures

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (see tests/web/test_page.py)"),
]


async def test_instructions_usage_coverage_grid_repeats_and_stale_tests(
    page: Page, http: AsyncClient, resources: WorkerResources
) -> None:
    story = await make_story(http, "US-901", criteria=3)
    first = await run(http, resources, Recording(), "US-901", num_test_cases=2, scenarios_per_test_case=1)
    await save(http, str(first["task_id"]))
    saved = (await http.get("/user-stories/US-901/test-cases")).json()
    repeated = Scenario.model_validate(saved[0]["scenarios"][0])
    await run(
        http,
        resources,
        Repeater([repeated], covered=[0]),
        "US-901",
        num_test_cases=2,
        scenarios_per_test_case=1,
    )

    await page.goto("/")
    # The project's instructions and its usage chart.
    await page.locator("#projects-card summary").click()
    await page.locator("button.project-tools").first.click()
    tools = page.locator("#project-tools")
    await tools.locator("#instructions-text").fill("Use the word basket.\nName the shopper Alex.")
    await tools.locator("#instructions-save").click()
    await expect(tools.locator("[role=status]")).to_have_text("Saved")
    await expect(tools.locator("#usage .bar")).to_have_count(1)
    project = (await http.get(f"/projects/{story['project_id']}")).json()
    assert project["instructions"] == "Use the word basket.\nName the shopper Alex."
    await shot(page, "web-project-tools")
    await tools.locator("button[aria-label=Close]").click()

    # The review dialog: the grid, the uncovered criteria, the repeats of saved tests.
    await page.locator('tr[data-story="US-901"] .badge').click()
    dialog = page.locator("#review")
    await expect(dialog.locator("#coverage-grid tbody tr")).to_have_count(3)
    await expect(dialog.locator("#coverage-grid tbody tr.uncovered")).to_have_count(2)
    flags = dialog.locator(".repeat-flag")
    await expect(flags).to_have_count(2)
    await expect(flags.first).to_contain_text(f"repeats saved test #{saved[0]['id']}")
    await dialog.locator(".keep-repeat").nth(1).check()
    await shot(page, "web-review-repeats")
    await dialog.locator("#review-save").click()
    await expect(dialog.locator("#review-status")).to_have_text(
        "Saved 1 test case; skipped 1 repeated scenarios"
    )
    await dialog.locator("button[value=close]").click()
    assert len((await http.get("/user-stories/US-901/test-cases")).json()) == 3

    # A changed criterion: the row marks the stale tests and offers to update them.
    criteria = [story["acceptance_criteria"][0], story["acceptance_criteria"][1], "Criterion 3 changed"]
    await http.patch("/user-stories/US-901", json={"acceptance_criteria": criteria})
    await page.reload()
    row = page.locator('tr[data-story="US-901"]')
    await expect(row.locator(".stale-count")).to_have_text("1 stale")
    queued: list[Request] = []
    page.on("request", lambda r: queued.append(r) if r.url.endswith("/queue") else None)
    await row.locator("button.update-tests").click()
    await expect(row.locator(".badge")).not_to_have_text("Saved")
    assert json.loads(queued[0].post_data or "{}")["only_changed"] is True
    # The story view tags the stale test case among the saved ones.
    await page.goto("/?story=US-901")
    await expect(page.locator(".saved-case")).to_have_count(3)
    await expect(page.locator(".saved-case .stale-tag")).to_have_count(1)
    await expect(page.locator(".saved-case").nth(2)).not_to_contain_text("null")  # an empty description
    await shot(page, "web-story-stale")
