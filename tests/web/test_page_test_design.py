"""Test design in Chromium: techniques chosen at Generate and counted in the coverage grid; the review
dialog's Examples editor (add and remove rows and columns) and pairwise from typed parameters, saved
as a Scenario Outline."""

from __future__ import annotations

import re

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, expect

from testgen.worker.resources import WorkerResources
from tests.support.helpers import make_story
from tests.web.test_page import CHROMIUM, api_keys, browser, page, settings, shot
from tests.worker.test_drafts import Recording, run

__all__ = ["api_keys", "browser", "page", "settings"]  # fixtures

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (see tests/web/test_page.py)"),
]


async def test_techniques_examples_editor_and_pairwise(
    page: Page, http: AsyncClient, resources: WorkerResources
) -> None:
    await make_story(http, "US-902", criteria=2)
    await page.goto("/")
    row = page.locator('tr[data-story="US-902"]')
    await row.locator(".technique-picker summary").click()
    await row.locator('.technique-picker input[data-technique="boundary_values"]').check()
    await row.locator('.technique-picker input[data-technique="error_guessing"]').check()
    async with page.expect_request(lambda r: r.url.endswith("/generate-test-cases/US-902/queue")) as sent:
        await row.locator("button.generate").click()
    body = (await sent.value).post_data_json
    assert body["techniques"] == ["boundary_values", "error_guessing"]
    response = await (await sent.value).response()
    assert response is not None
    task_id = (await response.json())["task_id"]
    assert (await http.post(f"/generate-test-cases/{task_id}/cancel")).status_code == 202

    # A draft written with two techniques: the grid counts each criterion's scenarios per technique.
    options = {
        "num_test_cases": 2,
        "scenarios_per_test_case": 1,
        "techniques": ["happy_path", "error_guessing"],
    }
    await run(http, resources, Recording(), "US-902", **options)
    await page.reload()
    await page.locator('tr[data-story="US-902"] .badge').click()
    dialog = page.locator("#review")
    await expect(dialog.locator("#coverage-grid td.techniques")).to_have_text(
        ["happy path 1", "error guessing 1"]
    )

    # The Examples editor: a table started, a column and rows added, one removed.
    first = dialog.locator(".case").first
    scenario = first.locator(".scenario").first
    await scenario.locator(".examples-add").click()
    await scenario.locator(".examples-add-column").click()
    await scenario.locator(".examples-add-row").click()
    await scenario.locator(".examples-add-row").click()
    await expect(scenario.locator(".examples-row")).to_have_count(3)
    await scenario.locator(".examples-drop-row").nth(2).click()
    await expect(scenario.locator(".examples-row")).to_have_count(2)
    await scenario.locator(".examples-drop-column").nth(1).click()
    await expect(scenario.locator(".examples-column")).to_have_count(1)

    # Pairwise from typed parameters fills the table; the steps name the columns.
    await first.locator(".parameters-text").fill(
        "os: iOS, Android\nbrowser: Chrome, Firefox, Safari\nlang: en, es"
    )
    await scenario.locator(".examples-pairwise").click()
    await expect(scenario.locator(".pairwise-summary").last).to_have_text(
        "6 rows cover every pair of 2x3x2 = 12 combinations"
    )
    await expect(scenario.locator(".examples-row")).to_have_count(6)
    await scenario.locator(".scenario-steps").fill(
        "Given <os> with <browser> in <lang>\nWhen I pay\nThen it works"
    )
    await shot(page, "web-review-examples")
    await dialog.locator("#review-save").click()
    await expect(dialog.locator("#review-status")).to_contain_text("Saved 2 test cases")
    saved = (await http.get("/user-stories/US-902/test-cases")).json()
    outline = saved[0]["scenarios"][0]
    assert (
        outline["examples"]["header"] == ["os", "browser", "lang"] and len(outline["examples"]["rows"]) == 6
    )
    assert outline["technique"] == "happy_path"


async def test_the_story_view_shows_the_check_before_generate(
    page: Page, http: AsyncClient, worker: object
) -> None:
    await make_story(http, "US-903", criteria=1)
    criteria = ["The page loads fast", "The list shows 20", "A total in euros is shown"]
    assert (
        await http.patch("/user-stories/US-903", json={"acceptance_criteria": criteria})
    ).status_code == 200
    await page.goto("/")
    await page.locator('tr[data-story="US-903"] a.story-link').click()
    check = page.locator("#story-view #story-check")
    await expect(check.locator("h3")).to_have_text("Before generating: 2 criteria are unclear")
    findings = check.locator(".check-findings li")
    await expect(findings.first).to_have_text("Criterion 1: How fast? Give a time in seconds.")
    await expect(check.locator('li[data-kind="number_without_unit"]')).to_contain_text("20 what?")
    await expect(page.locator("#story-view button.generate")).to_be_visible()
    await check.locator("button.deep-check").click()
    await expect(check.locator(".deep-check-box [role=status]")).to_have_text(
        "The model asked 3 further questions",
        timeout=30_000,  # a job run by the worker
    )
    asked = check.locator('.deep-check-box li[data-kind="model_question"]')
    await expect(asked).to_have_count(3)
    await expect(asked.first).to_contain_text('What should happen when "The page loads fast" does not hold?')
    await shot(page, "web-story-check")


async def test_the_review_dialog_regenerates_with_an_instruction_and_adds_test_cases(
    page: Page, http: AsyncClient, worker: object
) -> None:
    await make_story(http, "US-904", criteria=1)
    criteria = ["The password has at least 12 characters", "A wrong password shows an error"]
    assert (
        await http.patch("/user-stories/US-904", json={"acceptance_criteria": criteria})
    ).status_code == 200
    r = await http.post(
        "/generate-test-cases/US-904/queue", json={"num_test_cases": 2, "scenarios_per_test_case": 3}
    )
    job = r.json()
    await page.goto("/")
    badge = page.locator('tr[data-story="US-904"] .badge')
    await expect(badge).to_contain_text("Ready", timeout=30_000)
    await badge.click()
    dialog = page.locator("#review")
    await expect(dialog.locator(".case")).to_have_count(2)
    await dialog.locator("#refine-instruction").fill("add boundary cases for the password length")
    await dialog.locator(".case-regenerate").nth(1).click()
    await expect(dialog.locator(".case").nth(1).locator(".scenario-steps").first).to_have_value(
        re.compile("with 11"), timeout=30_000
    )
    await dialog.locator("#extend-count").fill("2")
    await dialog.locator("#extend-draft").click()
    await expect(dialog.locator(".case")).to_have_count(4, timeout=30_000)
    await shot(page, "web-review-refine")
    draft = (await http.get(job["status_url"])).json()["result"]["test_cases"]
    assert len(draft) == 4


async def test_a_projects_default_techniques_are_set_on_the_page(page: Page, http: AsyncClient) -> None:
    story = await make_story(http, "US-905", criteria=1)
    await page.goto("/")
    await page.locator("#projects-card summary").click()
    await page.locator("button.project-tools").first.click()
    tools = page.locator("#project-tools")
    await tools.locator("#default-techniques summary").click()
    await tools.locator('#default-techniques input[data-technique="state_transition"]').check()
    await tools.locator("#instructions-save").click()
    await expect(tools.locator("[role=status]")).to_have_text("Saved")
    project = (await http.get(f"/projects/{story['project_id']}")).json()
    assert project["default_techniques"] == ["state_transition"]
