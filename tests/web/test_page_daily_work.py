"""The page as a QA team's daily tool, in a real headless Chromium against a real uvicorn and worker:
the story view with its saved test cases, story and project management with server-side search,
filters and paging, cancel / retry / error details from the badge, accessibility (axe-core, keyboard
only, aria-live) and the "ready while away" notification. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, Request, expect
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.core.config import Settings
from testgen.data.models import UserStory, utcnow
from tests.support.harness import run_worker
from tests.support.helpers import is_status, make_story, queue, use_unreachable_gemini, wait_for_job
from tests.web import test_page as web

pytestmark = pytest.mark.slow

# The browser fixtures of tests/web/test_page.py (Chromium, the instrumented page, the server's settings).
api_keys = web.api_keys
settings = web.settings
browser = web.browser
page = web.page
shot = web.shot
badge = web.badge
SLOW = web.SLOW

DASH = "\u2013"  # the pager's en dash
AXE = Path(__file__).resolve().parents[1] / "support" / "vendor" / "axe-core"


def axe_source() -> str:
    """axe-core from npm, vendored: checked against its recorded sha256 before it is injected."""
    body = (AXE / "axe.min.js").read_bytes()
    expected = (AXE / "SHA256SUMS").read_text().split()[0]
    assert hashlib.sha256(body).hexdigest() == expected, "the vendored axe.min.js was changed"
    return body.decode()


async def axe_violations(page: Page, name: str) -> list[str]:
    """Run axe-core on the page as it is (evaluated through DevTools, so the page's CSP allows it)."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(axe_source())
    result: dict[str, Any] = await page.evaluate("axe.run(document, { resultTypes: ['violations'] })")
    await shot(page, f"a11y-{name}")
    return [
        f"{v['impact']} {v['id']}: {v['help']} — " + "; ".join(n["target"][0] for n in v["nodes"][:5])
        for v in result["violations"]
    ]


async def save_draft(
    http: AsyncClient, story_id: str, settings: Settings, **options: int
) -> list[dict[str, Any]]:
    """Generate a draft for the story with a real worker and save it; the saved test cases."""
    job = await queue(http, story_id, **options)
    settings.offline_llm_delay_s = 0.0
    async with run_worker(settings):
        await wait_for_job(http, job["status_url"], is_status("completed"), what=f"{story_id} to complete")
    saved = await http.post(f"/generate-test-cases/{job['task_id']}/save")
    assert saved.status_code == 201, saved.text
    cases: list[dict[str, Any]] = (await http.get(f"/user-stories/{story_id}/test-cases")).json()
    return cases


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def story_list_requests(page: Page) -> list[str]:
    seen: list[str] = []

    def on_request(request: Request) -> None:
        if urlparse(request.url).path == "/user-stories":
            seen.append(request.url)

    page.on("request", on_request)
    return seen


# --- 1. the story view ----------------------------------------------------------------------------


async def test_story_view_shows_saved_tests_editable_deletable_and_the_url_follows(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    await make_story(http, "US-501", criteria=2)
    await make_story(http, "US-502")
    cases = await save_draft(http, "US-501", settings, num_test_cases=3, scenarios_per_test_case=2)
    assert len(cases) == 3

    await page.goto("/")
    await page.locator('tr[data-story="US-501"] a.story-link').click()
    await expect(page).to_have_url(re.compile(r"/\?story=US-501$"))
    view = page.locator("#story-view")
    await expect(view.locator("#story-view-title")).to_have_text("US-501: Checkout US-501")
    await expect(view.locator(".story-description")).to_have_text("As a shopper I want to pay for my basket")
    await expect(view.locator(".story-criteria li")).to_have_text(
        ["Criterion 1 of US-501 holds", "Criterion 2 of US-501 holds"]
    )
    await expect(page.locator("#stories-card")).to_be_hidden()
    saved = view.locator(".saved-case")
    await expect(saved).to_have_count(3)
    first = saved.first
    await expect(first.locator(".saved-title")).to_have_text(f"#1 {cases[0]['title']}")
    await expect(first.locator(".saved-type")).to_have_text(cases[0]["test_type"])
    await expect(first.locator(".saved-priority")).to_have_text(cases[0]["priority"])
    scenario = cases[0]["scenarios"][0]
    gherkin = await first.locator("pre.gherkin").text_content()
    assert gherkin is not None
    assert gherkin.startswith(f"Scenario: {scenario['title']}\n  Given {scenario['given'][0]}\n")
    assert f"\n  When {scenario['when'][0]}\n" in gherkin and f"\n  Then {scenario['then'][0]}" in gherkin
    assert gherkin.count("Scenario: ") == 2
    await expect(view.locator("#saved-title")).to_have_text("Saved test cases (3)")
    await shot(page, "daily-story-view")

    # Edit a saved test case: its title, priority and steps (PATCH /test-cases/{id}).
    await first.locator(".saved-edit").click()
    await first.locator(".case-title").fill("Pay with a saved card")
    await first.locator(".case-priority").select_option("critical")
    await first.locator(".scenario-steps").first.fill(
        "Given a shopper with a saved card\nWhen she pays\n"
        "Then the order is confirmed\nAnd a receipt is emailed"
    )
    await shot(page, "daily-story-view-edit")
    await first.locator(".saved-save").click()
    await expect(first.locator(".saved-title")).to_have_text("#1 Pay with a saved card")
    await expect(first.locator("pre.gherkin")).to_contain_text("  And a receipt is emailed")
    stored = (await http.get(f"/test-cases/{cases[0]['id']}")).json()
    assert stored["title"] == "Pay with a saved card" and stored["priority"] == "critical"
    assert stored["scenarios"][0]["then"] == ["the order is confirmed", "a receipt is emailed"]
    assert stored["scenarios"][1] == cases[0]["scenarios"][1]

    # Delete one: the confirmation names it; "Keep it" keeps it, "Delete" deletes it.
    second = saved.nth(1)
    await second.locator(".saved-delete").click()
    confirm = page.locator("#confirm-dialog")
    await expect(confirm).to_be_visible()
    await expect(confirm.locator("#confirm-text")).to_contain_text(f"“{cases[1]['title']}”")
    await confirm.locator("#confirm-cancel").click()
    await expect(saved).to_have_count(3)
    await second.locator(".saved-delete").click()
    await confirm.locator("#confirm-ok").click()
    await expect(saved).to_have_count(2)
    assert (await http.get(f"/test-cases/{cases[1]['id']}")).status_code == 404

    # The export buttons of the story are in its view.
    await view.locator("select.view-export-format").select_option("gherkin")
    async with page.expect_download() as info:
        await view.locator("button.view-export").click()
    feature = await web.read_download((await info.value).path())
    assert "Pay with a saved card" in feature and cases[1]["title"] not in feature

    # The URL is the selection: reload, back and forward show the same thing.
    await page.reload()
    await expect(view.locator("#story-view-title")).to_have_text("US-501: Checkout US-501")
    await expect(saved).to_have_count(2)
    await page.go_back()
    await expect(page).to_have_url(re.compile(r"/$"))
    await expect(view).to_be_hidden()
    await expect(page.locator('tr[data-story="US-502"]')).to_be_visible()
    await page.go_forward()
    await expect(view.locator("#story-view-title")).to_have_text("US-501: Checkout US-501")
    await page.goto("/?story=US-502")  # a link to a story opens its view directly
    await expect(view.locator("#story-view-title")).to_have_text("US-502: Checkout US-502")
    await expect(view.locator("#saved-title")).to_have_text("Saved test cases (0)")


async def test_a_draft_saved_from_the_story_view_shows_up_in_it(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    await make_story(http, "US-511")
    await page.goto("/?story=US-511")
    view = page.locator("#story-view")
    await view.locator(".opt-cases").fill("2")
    await view.locator(".opt-scenarios").fill("1")
    await view.locator("button.generate").click()
    settings.offline_llm_delay_s = 0.0
    async with run_worker(settings):
        await view.locator('button.badge[data-state="completed"]').click(timeout=SLOW)
    await page.locator("#review-save").click()
    await expect(page.locator("#review-status")).to_have_text("Saved 2 test cases")
    await page.locator("#review button[value=close]").click()
    await expect(view.locator(".saved-case")).to_have_count(2)
    await expect(view.locator(".status")).to_have_text("Saved 2 test cases")


# --- 2. stories and projects ----------------------------------------------------------------------


async def test_projects_are_created_renamed_and_switched_stories_edited_and_deleted(
    page: Page, http: AsyncClient
) -> None:
    await make_story(http, "SHOP-1", project="Shop")
    await make_story(http, "SHOP-2", project="Shop")
    await make_story(http, "BANK-1", project="Bank")
    await page.goto("/")
    await page.locator("#projects-card summary").click()
    await page.locator("#project-form [name=name]").fill("Travel")
    await page.locator("#project-form button[type=submit]").click()
    await expect(page.locator("#projects tbody tr")).to_have_count(3)
    travel = next(p for p in (await http.get("/projects")).json() if p["name"] == "Travel")

    # Rename Bank in the projects table.
    bank_row = page.locator("#projects tbody tr").nth(1)
    await bank_row.locator("[name=name]").fill("Banking")
    await bank_row.get_by_role("button", name="Save").click()
    await expect(page.locator('tr[data-story="BANK-1"] td').nth(2)).to_have_text("Banking")
    assert [p["name"] for p in (await http.get("/projects")).json()] == ["Shop", "Banking", "Travel"]
    await shot(page, "daily-projects")

    # Switch projects: the list shows the chosen one's stories, asked of the server.
    requests = story_list_requests(page)
    filters = page.locator("#filters")
    await filters.locator("[name=project]").select_option(label="Banking")
    await expect(page.locator("tr[data-story]")).to_have_count(1)
    await expect(page).to_have_url(re.compile(r"project=2"))
    assert query_of(requests[-1])["project_id"] == ["2"]
    await filters.locator("[name=project]").select_option(label="Travel")
    await expect(page.locator("#no-match")).to_be_visible()
    assert query_of(requests[-1])["project_id"] == [str(travel["id"])]
    await filters.locator("[name=project]").select_option(label="All projects")
    await expect(page.locator("tr[data-story]")).to_have_count(3)

    # Edit a story from its view.
    await page.locator('tr[data-story="SHOP-2"] a.story-link').click()
    view = page.locator("#story-view")
    await view.locator(".edit-story").click()
    edit = view.locator(".story-edit-form")
    await edit.locator("[name=title]").fill("Pay by bank transfer")
    await edit.locator("[name=acceptance_criteria]").fill("The IBAN is checked\nThe order waits for payment")
    await edit.locator("[name=project_id]").select_option(label="Banking")
    await edit.locator("button[type=submit]").click()
    await expect(view.locator("#story-view-title")).to_have_text("SHOP-2: Pay by bank transfer")
    await expect(view.locator(".story-criteria li")).to_have_count(2)
    await expect(view.locator(".story-meta")).to_contain_text("Project Banking")
    stored = (await http.get("/user-stories/SHOP-2")).json()
    assert stored["title"] == "Pay by bank transfer" and stored["project_id"] == 2
    assert stored["acceptance_criteria"] == ["The IBAN is checked", "The order waits for payment"]

    # Delete it: the confirmation names the story; the list no longer has it.
    await view.locator(".delete-story").click()
    confirm = page.locator("#confirm-dialog")
    await expect(confirm.locator("#confirm-text")).to_contain_text(
        "SHOP-2 “Pay by bank transfer”, its 0 saved test cases"
    )
    await expect(confirm.locator("#confirm-ok")).to_have_text("Delete SHOP-2")
    await shot(page, "daily-delete-story")
    await confirm.locator("#confirm-ok").click()
    await expect(view).to_be_hidden()
    await expect(page.locator("tr[data-story]")).to_have_count(2)
    assert (await http.get("/user-stories/SHOP-2")).status_code == 404


async def test_search_filter_and_paging_are_served_by_the_api(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    for i in range(3):
        await make_story(http, f"FIND-{i}")
    use_unreachable_gemini(settings, "AIzaSy-daily-key")
    failing = await queue(http, "FIND-1")
    await make_story(http, "DONE-1")
    async with run_worker(settings):
        await wait_for_job(http, failing["status_url"], is_status("failed"), what="FIND-1 to fail")
    requests = story_list_requests(page)
    await page.goto("/?q=find")
    await expect(page.locator("tr[data-story]")).to_have_count(3)
    await expect(page.locator("#export-project-format")).to_have_value("gherkin")  # the first format
    await expect(page.locator("#filters [name=q]")).to_have_value("find")
    assert query_of(requests[-1])["q"] == ["find"]
    await page.locator("#filters [name=q]").fill("DONE")
    await expect(page.locator("tr[data-story]")).to_have_count(1)
    await expect(page).to_have_url(re.compile(r"\?q=DONE$"))
    assert query_of(requests[-1])["q"] == ["DONE"]
    await page.locator("#filters [name=q]").fill("")
    await page.locator("#filters [name=state]").select_option("failed")
    await expect(page.locator("tr[data-story]")).to_have_count(1)
    await expect(page.locator('tr[data-story="FIND-1"]')).to_be_visible()
    assert query_of(requests[-1])["state"] == ["failed"]
    await page.locator("#filters [name=state]").select_option("no_tests")
    await expect(page.locator("tr[data-story]")).to_have_count(4)
    await expect(page.locator("#page-info")).to_have_text(f"1{DASH}4 of 4 stories")


async def test_five_thousand_stories_are_paged_and_fifty_jobs_stream_to_their_badges(
    page: Page, http: AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    project = (await http.post("/projects", json={"name": "Big"})).json()
    now = utcnow()
    rows = [
        {
            "id": f"BIG-{i:04d}",
            "project_id": project["id"],
            "title": f"Story number {i}",
            "description": "",
            "acceptance_criteria": ["It works", "It keeps working"],
            "priority": "medium",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(5000)
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(UserStory), rows)
    requests = story_list_requests(page)
    await page.goto("/")  # how fast the first rows show is bench/bench_page.py's target
    await expect(page.locator("tr[data-story]")).to_have_count(50)
    await expect(page.locator("#page-info")).to_have_text(f"1{DASH}50 of 5,000 stories")
    assert query_of(requests[0])["limit"] == ["50"]
    await page.locator("#page-next").click()
    await expect(page.locator("tr[data-story]").first).to_have_attribute("data-story", "BIG-0050")
    await page.goto("/?page=100")
    await expect(page.locator("#page-info")).to_have_text(f"4,951{DASH}5,000 of 5,000 stories")
    await expect(page.locator("#page-next")).to_be_disabled()
    await page.goto("/")
    await expect(page.locator("tr[data-story]")).to_have_count(50)

    # 50 jobs stream their progress to their badges (the page's main-thread budget meanwhile is
    # bench/bench_page.py's target).
    settings.offline_llm_delay_s = 0.3
    for button in await page.locator("button.generate").all():
        await button.click()
    async with run_worker(settings):
        await expect(page.locator('.badge[data-state="completed"]')).to_have_count(50, timeout=60_000)
    await shot(page, "daily-5000-stories")


# --- 3. jobs from the badge -------------------------------------------------------------------------


async def test_cancel_retry_and_error_details_from_the_badge(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    await make_story(http, "US-701")
    await make_story(http, "US-702")
    use_unreachable_gemini(settings, "AIzaSy-daily-key")  # jobs queued from now on fail
    await page.goto("/")
    failing = page.locator('tr[data-story="US-701"]')
    await failing.locator(".opt-cases").fill("2")
    await failing.locator(".opt-scenarios").fill("1")
    await failing.locator("button.generate").click()
    stopped = page.locator('tr[data-story="US-702"]')
    await stopped.locator(".opt-cases").fill("3")
    await stopped.locator(".opt-scenarios").fill("2")
    await stopped.locator("button.generate").click()
    await expect(stopped.locator("button.cancel")).to_be_visible()
    await stopped.locator("button.cancel").click()
    await expect(badge(page, "US-702")).to_have_text("Cancelled")
    first_702 = await web._task_of(page, "US-702")

    async with run_worker(settings):
        await expect(failing.locator('button.badge[data-state="failed"]')).to_be_visible(timeout=SLOW)
        await failing.locator("button.badge").click()
        dialog = page.locator("#error-dialog")
        await expect(dialog).to_be_visible()
        job = (await http.get(f"/generate-test-cases/status/{await web._task_of(page, 'US-701')}")).json()
        await expect(dialog.locator("#error-type")).to_contain_text(job["error"]["type"])
        await expect(dialog.locator("#error-detail")).to_have_text(job["error"]["message"])
        await expect(dialog.locator("#error-hint")).to_contain_text("check that it is up, then Retry")
        await shot(page, "daily-error-details")
        first_701 = job["task_id"]
        await dialog.locator("#error-retry").click()
        await expect(dialog).to_be_hidden()
        await web.wait_until(
            lambda: page.evaluate(f"window.testgen.state.storyTask.get('US-701') !== '{first_701}'")
        )
        await expect(failing.locator('button.badge[data-state="failed"]')).to_be_visible(timeout=SLOW)

    # Retry from the badge of the cancelled job: a new job with the options the first one had.
    await stopped.locator("button.retry").click()
    await expect(stopped.locator("button.cancel")).to_be_visible()
    retried = await web._task_of(page, "US-702")
    assert retried != first_702
    status = (await http.get(f"/generate-test-cases/status/{retried}")).json()
    assert status["status"] == "queued"
    assert (status["options"]["num_test_cases"], status["options"]["scenarios_per_test_case"]) == (3, 2)
    retried_701 = (await http.get(f"/generate-test-cases/status/{await web._task_of(page, 'US-701')}")).json()
    assert (retried_701["options"]["num_test_cases"], retried_701["options"]["scenarios_per_test_case"]) == (
        2,
        1,
    )
    await shot(page, "daily-retry")


# --- 4. accessibility -------------------------------------------------------------------------------


async def tab_to(page: Page, selector: str, limit: int = 80) -> None:
    """Press Tab until the element matching `selector` has the focus (keyboard only)."""
    for _ in range(limit):
        if await page.evaluate(f"document.activeElement && document.activeElement.matches({selector!r})"):
            return
        await page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


async def focus_is_visible(page: Page) -> bool:
    outline: dict[str, str] = await page.evaluate(
        """(() => { const s = getComputedStyle(document.activeElement);
                    return { style: s.outlineStyle, width: s.outlineWidth }; })()"""
    )
    return outline["style"] != "none" and float(outline["width"].removesuffix("px")) >= 2


async def test_axe_finds_no_violation_and_the_flow_works_with_the_keyboard_alone(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    await make_story(http, "US-801")
    await page.goto("/")
    await expect(page.locator('tr[data-story="US-801"]')).to_be_visible()
    await page.locator("#projects-card summary").click()
    assert await axe_violations(page, "main-view") == []

    # Keyboard only: add a story ...
    await tab_to(page, "#story-form [name=id]")
    assert await focus_is_visible(page)
    await page.keyboard.type("US-802")
    await page.keyboard.press("Tab")
    await page.keyboard.type("Keyboard only")
    await tab_to(page, "#story-form [name=acceptance_criteria]")
    await page.keyboard.type("It works with Tab and Enter")
    await page.keyboard.press("Enter")  # a new line: one criterion per line
    await page.keyboard.type("Focus is always visible")
    await tab_to(page, "#story-form button[type=submit]")
    assert await focus_is_visible(page)
    await page.keyboard.press("Enter")
    row = page.locator('tr[data-story="US-802"]')
    await expect(row).to_be_visible()
    # ... generate ...
    await tab_to(page, 'tr[data-story="US-802"] button.generate')
    assert await focus_is_visible(page)
    await shot(page, "daily-keyboard-focus")
    await page.keyboard.press("Enter")
    await expect(row.locator("button.cancel")).to_be_visible()
    await expect(row.locator(".badge[data-warning]")).to_be_visible()  # queued, no worker yet
    assert await axe_violations(page, "main-view-queued") == []
    settings.offline_llm_delay_s = 0.2
    async with run_worker(settings):
        await expect(row.locator('button.badge[data-state="completed"]')).to_be_visible(timeout=SLOW)
    # ... review ...
    await tab_to(page, 'tr[data-story="US-802"] button.badge')
    await page.keyboard.press("Enter")
    dialog = page.locator("#review")
    await expect(dialog).to_be_visible()
    assert await axe_violations(page, "review-dialog") == []
    # ... edit ...
    await tab_to(page, "#review .case-title")
    await page.keyboard.press("Control+A")
    await page.keyboard.type("Edited with the keyboard")
    await page.keyboard.press("Tab")  # the priority of that test case
    await page.keyboard.type("c")  # the select's type-ahead: critical
    # ... and save.
    await tab_to(page, "#review-save", limit=200)  # past each case's scenarios, examples and refinement
    assert await focus_is_visible(page)
    await page.keyboard.press("Enter")
    await expect(dialog.locator("#review-status")).to_have_text("Saved 5 test cases")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    saved = (await http.get("/user-stories/US-802/test-cases")).json()
    assert saved[0]["title"] == "Edited with the keyboard" and saved[0]["priority"] == "critical"
    assert (await http.get("/user-stories/US-802")).json()["acceptance_criteria"] == [
        "It works with Tab and Enter",
        "Focus is always visible",
    ]

    # Badge changes were announced politely.
    assert await page.locator("#announcer").get_attribute("aria-live") == "polite"
    announced = await page.evaluate("window.__announced")
    assert "US-802: Queued" in announced and "US-802: Ready for review" in announced

    # The story view, reached with the keyboard too.
    await tab_to(page, 'tr[data-story="US-802"] a.story-link')
    await page.keyboard.press("Enter")
    await expect(page.locator("#story-view-title")).to_be_focused()
    await expect(page.locator("#story-view .saved-case")).to_have_count(5)
    assert await axe_violations(page, "story-view") == []

    # axe does see what it should: a select without a name is a violation.
    await page.evaluate("document.querySelector('#story-view').append(document.createElement('select'))")
    assert any(" select-name:" in v for v in await axe_violations(page, "negative-check"))


# --- 5. ready while away -----------------------------------------------------------------------------

# A stand-in for the browser's Notification API (headless Chromium shows no notification one could
# click): records when permission is asked for (and whether a user gesture was under way), every
# notification shown, and lets the test click one. `window.__hidden` makes the tab hidden.
NOTIFICATIONS = """
(() => {
  window.__hidden = false;
  Object.defineProperty(Document.prototype, "visibilityState", {
    get: () => (window.__hidden ? "hidden" : "visible"), configurable: true });
  Object.defineProperty(Document.prototype, "hidden", { get: () => window.__hidden, configurable: true });
  const record = (window.__notify = { asked: [], shown: [] });
  class FakeNotification extends EventTarget {
    static permission = "default";
    static requestPermission() {
      record.asked.push(navigator.userActivation.isActive);
      FakeNotification.permission = "granted";
      return Promise.resolve("granted");
    }
    constructor(title, options = {}) {
      super();
      this.title = title;
      this.body = options.body;
      this.tag = options.tag;
      this.onclick = null;
      record.shown.push(this);
    }
    click() { if (this.onclick) this.onclick(new Event("click")); }
    close() { this.closed = true; }
  }
  window.Notification = FakeNotification;
  // every polite announcement, for the accessibility test
  window.__announced = [];
  document.addEventListener("DOMContentLoaded", () => {
    const region = document.getElementById("announcer");
    new MutationObserver(() => {
      if (region.textContent) window.__announced.push(...region.textContent.split(". "));
    }).observe(region, { childList: true, characterData: true, subtree: true });
  });
})();
"""


@pytest.fixture(autouse=True)
async def instrument_notifications(page: Page) -> None:
    await page.context.add_init_script(NOTIFICATIONS)


async def test_a_draft_ready_while_the_tab_is_hidden_notifies_and_the_click_opens_the_review(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    await make_story(http, "US-901")
    await make_story(http, "US-902")
    await page.goto("/")
    await expect(page.locator('tr[data-story="US-901"]')).to_be_visible()
    assert await page.evaluate("window.__notify.asked") == []  # never on load
    settings.offline_llm_delay_s = 0.2
    # Visible tab: the draft is toasted, not notified.
    await page.locator('tr[data-story="US-901"] .opt-cases').fill("2")
    await page.locator('tr[data-story="US-901"] button.generate').click()
    assert await page.evaluate("window.__notify.asked") == [True]  # asked from the click
    async with run_worker(settings):
        await expect(badge(page, "US-901")).to_have_text("Ready for review", timeout=SLOW)
        assert await page.evaluate("window.__notify.shown.length") == 0

        # Hidden tab: a notification says so.
        await page.locator('tr[data-story="US-902"] .opt-cases').fill("3")
        await page.locator('tr[data-story="US-902"] button.generate').click()
        await page.evaluate("window.__hidden = true; document.dispatchEvent(new Event('visibilitychange'))")
        await expect(badge(page, "US-902")).to_have_text("Ready for review", timeout=SLOW)
    shown = await page.evaluate(
        "window.__notify.shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag }))"
    )
    task = await web._task_of(page, "US-902")
    assert shown == [
        {
            "title": "US-902: ready for review",
            "body": "3 suggested test cases are waiting for your review in testgen.",
            "tag": task,
        }
    ]
    assert await page.evaluate("window.__notify.asked.length") == 1  # the browser remembers the answer
    await page.evaluate("window.__hidden = false; window.__notify.shown[0].click()")
    review = page.locator("#review")
    await expect(review).to_be_visible()
    await expect(review.locator("#review-title")).to_have_text("Review US-902: 3 suggested test cases")
    await shot(page, "daily-notification-review")
