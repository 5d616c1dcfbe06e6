"""The page keeps still while it loads, in a real headless Chromium against a real uvicorn and worker:
the main view and a story view, with a full page of stories whose jobs are running, move their
layout less than the good threshold of cumulative layout shift (bench/bench_page.py measures the
whole Lighthouse score), the first rows are on show before the event stream opens, and a story view
never shows the list first.
"""

from __future__ import annotations

from httpx import AsyncClient
from playwright.async_api import Page, expect
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from testgen.core.config import Settings
from testgen.data.models import UserStory, utcnow
from tests.support.harness import run_worker
from tests.support.helpers import is_status, wait_for_job
from tests.web import test_page as web

pytestmark = web.pytestmark

# The browser fixtures of tests/web/test_page.py (Chromium, the instrumented page, the server's settings).
api_keys = web.api_keys
settings = web.settings
browser = web.browser
page = web.page

GOOD_LAYOUT_SHIFT = 0.05  # web.dev's "good" cumulative layout shift, Lighthouse's green
PAGE_OF_STORIES = 50
# The layout shift since the navigation (every shift, none of them after an input), read once the
# browser has painted twice more; whether the story list was ever on screen; and how many rows were
# on show when the first event stream opened.
WATCH = """
window.__shift = 0;
window.__listShown = false;
window.__rowsAtStream = null;
const Streams = window.EventSource;
window.EventSource = class extends Streams {
  constructor(url, init) {
    super(url, init);
    const rows = document.querySelectorAll("tr[data-story]").length;
    if (window.__rowsAtStream === null) window.__rowsAtStream = rows;
  }
};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if (!entry.hadRecentInput) window.__shift += entry.value;
}).observe({ type: "layout-shift", buffered: true });
const seen = () => {
  const card = document.getElementById("stories-card");
  if (card && card.querySelector("tr[data-story]") && card.checkVisibility()) window.__listShown = true;
  requestAnimationFrame(seen);
};
requestAnimationFrame(seen);
"""
SETTLED_SHIFT = (
    "new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(window.__shift))))"
)


async def queued_page(http: AsyncClient, engine: AsyncEngine) -> tuple[list[str], list[dict[str, str]]]:
    """A project whose first page of stories all have a job queued: the story ids, and the jobs."""
    project = (await http.post("/projects", json={"name": "Busy"})).json()
    now = utcnow()
    rows = [
        {
            "id": f"BUSY-{i:03d}",
            "project_id": project["id"],
            "title": f"Story BUSY-{i:03d}",
            "description": "",
            "acceptance_criteria": ["It works", "It keeps working"],
            "priority": "medium",
            "created_at": now,
            "updated_at": now,
        }
        for i in range(PAGE_OF_STORIES + 10)
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(UserStory), rows)
    listed = (await http.get("/user-stories", params={"limit": PAGE_OF_STORIES})).json()
    shown = [story["id"] for story in listed]
    queued = await http.post("/generate-test-cases/queue", json={"story_ids": shown})
    assert queued.status_code == 202, queued.text
    return shown, queued.json()["jobs"]


async def test_the_main_view_and_a_story_view_keep_still_while_they_load(
    page: Page, http: AsyncClient, engine: AsyncEngine, settings: Settings
) -> None:
    shown, jobs = await queued_page(http, engine)
    settings.offline_llm_delay_s = 3600  # the jobs keep running while the page loads
    await page.add_init_script(WATCH)
    async with run_worker(settings):
        for job in jobs:
            await wait_for_job(http, job["status_url"], is_status("generating"), what="the job to run")

        await page.goto("/")
        running = page.locator('tr[data-story] .badge[data-state="generating"]')
        await expect(running).to_have_count(PAGE_OF_STORIES, timeout=web.SLOW)
        main_shift = await page.evaluate(SETTLED_SHIFT)
        assert main_shift < GOOD_LAYOUT_SHIFT, f"the main view shifted by {main_shift:.3f}"
        # the first rows never wait for the stream's replay: it opens once they are on show
        assert await page.evaluate("window.__rowsAtStream") == PAGE_OF_STORIES

        await page.goto(f"/?story={shown[0]}")
        await expect(page.locator("#story-view-title")).to_contain_text(shown[0])
        await expect(page.locator('#story-view .badge[data-state="generating"]')).to_be_visible(
            timeout=web.SLOW
        )
        await expect(page.locator("#story-check")).not_to_be_empty()
        await expect(page.locator("#story-history .history-note")).to_have_text("No changes recorded yet.")
        story_shift = await page.evaluate(SETTLED_SHIFT)
        assert story_shift < GOOD_LAYOUT_SHIFT, f"the story view shifted by {story_shift:.3f}"
        assert not await page.evaluate("window.__listShown"), "the story list showed before the story"

        for job in jobs:  # the worker then stops at once
            await http.post(f"/generate-test-cases/{job['task_id']}/cancel")
