"""The web page in a real headless Chromium (Debian's, via Playwright), against a real uvicorn and worker.

No browser is downloaded: the tests use /usr/bin/chromium or $CHROMIUM_PATH and skip without one.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from playwright.async_api import Browser, Page, Request, Response, async_playwright, expect
from pydantic import SecretStr

from testgen.api.routes.web import LONG_CACHE
from testgen.core.config import Settings
from testgen.core.messages import NO_WORKER_RUNNING
from tests.support.fake_github import FakeGitHub
from tests.support.fake_jira import FakeJira
from tests.support.harness import ROOT, run_worker
from tests.support.helpers import is_status, make_story, queue, use_unreachable_gemini, wait_for_job
from tests.worker.test_issue_import import connect, github_issues
from tests.worker.test_jira_import import cloud_issues, use_jira

pytestmark = pytest.mark.slow


def _find_chromium() -> str | None:
    given = os.environ.get("CHROMIUM_PATH")
    if given:
        return given if Path(given).exists() else None
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


CHROMIUM = _find_chromium()
if CHROMIUM is None:
    pytest.skip(
        "No Chromium found ("
        + (
            f"CHROMIUM_PATH={os.environ['CHROMIUM_PATH']} does not exist"
            if os.environ.get("CHROMIUM_PATH")
            else "no /usr/bin/chromium, no chromium on PATH, CHROMIUM_PATH unset"
        )
        + "): install Debian's `chromium` package (apt-get install -y chromium) to run the browser tests",
        allow_module_level=True,
    )

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EVENTS_PATH = "/generate-test-cases/events"
SLOW = 30_000  # ms: waits for work done by the worker
NO_WORKER_BADGE = f"Queued — {NO_WORKER_RUNNING}"  # a queued job's badge while no worker runs

# Runs before the page's scripts: counts EventSources (and how many are open at once), records every
# SSE event they receive, and every badge and toast as it appears.
INSTRUMENT = """
(() => {
  const Native = window.EventSource;
  const sse = (window.__sse = { opened: 0, open: 0, maxOpen: 0, urls: [], events: [] });
  const names = ["queued", "started", "generating", "progress", "completed", "failed", "cancelled"];
  class TrackedEventSource extends Native {
    constructor(url, init) {
      super(url, init);
      sse.opened += 1;
      sse.open += 1;
      sse.maxOpen = Math.max(sse.maxOpen, sse.open);
      sse.urls.push(String(url));
      this.__ended = false;
      this.addEventListener("error", () => { if (this.readyState === Native.CLOSED) this.__end(); });
      for (const name of names) {
        this.addEventListener(name, (e) => {
          const d = JSON.parse(e.data);
          sse.events.push({ type: e.type, id: e.lastEventId, task: d.task_id, status: d.status });
        });
      }
    }
    __end() { if (!this.__ended) { this.__ended = true; sse.open -= 1; } }
    close() { super.close(); this.__end(); }
  }
  window.EventSource = TrackedEventSource;
  window.__csp = []; // Content-Security-Policy violations: the page must cause none
  document.addEventListener("securitypolicyviolation", (e) =>
    window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`));
  window.__badges = [];
  window.__toasts = [];
  const last = {};
  const observer = new MutationObserver(() => {
    for (const row of document.querySelectorAll("tr[data-story]")) {
      const badge = row.querySelector(".badge");
      const text = badge ? badge.textContent.trim() : "";
      if (badge && last[row.dataset.story] !== text) {
        last[row.dataset.story] = text;
        window.__badges.push([row.dataset.story, badge.dataset.state, text]);
      }
    }
    for (const toast of document.querySelectorAll(".toast")) {
      if (!toast.__seen) { toast.__seen = true; window.__toasts.push(toast.textContent); }
    }
  });
  document.addEventListener("DOMContentLoaded", () =>
    observer.observe(document.body, { subtree: true, childList: true, characterData: true }));
})();
"""


@pytest.fixture
def api_keys() -> str | None:
    """API_KEYS of the server under test; a test parametrizes it to turn keys on."""
    return None


@pytest.fixture
def settings(settings: Settings, api_keys: str | None) -> Settings:
    settings.offline_llm_delay_s = 1.0  # long enough to see "Generating N%" in the page
    settings.api_keys = SecretStr(api_keys) if api_keys else None
    return settings


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser, server: str) -> AsyncIterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    context = await browser.new_context(base_url=server, viewport={"width": 1400, "height": 900})
    await context.add_init_script(INSTRUMENT)
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    await context.close()  # closes the event streams before the server stops
    assert not errors, f"JavaScript errors in the page: {errors}"


async def shot(page: Page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def badge(page: Page, story_id: str) -> Any:
    return page.locator(f'tr[data-story="{story_id}"] .badge')


async def page_value(page: Page, expression: str) -> Any:
    return await page.evaluate(expression)


async def wait_until(check: Callable[[], Awaitable[bool]], timeout_s: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def events_requests(page: Page) -> dict[str, list[Any]]:
    """Every request for the multiplexed stream, the ones still open, and the answers' status codes."""
    seen: dict[str, list[Any]] = {"all": [], "open": [], "status": []}

    def on_request(request: Request) -> None:
        if EVENTS_PATH in request.url:
            seen["all"].append(request.url)
            seen["open"].append(request)

    def on_end(request: Request) -> None:
        if request in seen["open"]:
            seen["open"].remove(request)

    def on_response(response: Response) -> None:
        if EVENTS_PATH in response.url:
            seen["status"].append(response.status)

    page.on("request", on_request)
    page.on("requestfinished", on_end)
    page.on("requestfailed", on_end)
    page.on("response", on_response)
    return seen


async def test_add_story_generate_review_edit_delete_and_save(
    page: Page, server: str, http: AsyncClient, settings: Settings
) -> None:
    await page.goto("/")
    await expect(page.locator("#empty")).to_be_visible()
    # No project yet: the form offers to create one inline.
    await expect(page.locator("#new-project-label")).to_be_visible()
    form = page.locator("#story-form")
    await form.locator("[name=id]").fill("US-101")
    await form.locator("[name=title]").fill("Reset a forgotten password")
    await form.locator("[name=description]").fill("As a shopper I want to reset my password")
    await form.locator("[name=acceptance_criteria]").fill(
        "A reset link is emailed\n\nThe link expires after 1 hour\nAn used link cannot be used again\n"
    )
    await form.locator("[name=priority]").select_option("high")
    await form.locator("[name=new_project]").fill("Shop")
    await form.locator("button[type=submit]").click()

    row = page.locator('tr[data-story="US-101"]')
    await expect(row).to_contain_text("Reset a forgotten password")
    await expect(row).to_contain_text("Shop")
    await expect(page.locator("#new-project-label")).to_be_hidden()  # "Shop" exists now: it is selected
    await expect(page.locator("#project-select")).to_have_value("1")
    stored = (await http.get("/user-stories/US-101")).json()
    assert stored["acceptance_criteria"] == [
        "A reset link is emailed",
        "The link expires after 1 hour",
        "An used link cannot be used again",
    ]
    assert stored["priority"] == "high"
    assert (await http.get("/projects")).json()[0]["name"] == "Shop"

    await row.locator(".opt-cases").fill("4")
    await row.locator(".opt-scenarios").fill("2")
    await row.locator("button.generate").click()
    await expect(badge(page, "US-101")).to_have_text(NO_WORKER_BADGE)
    await expect(row.locator("button.generate")).to_be_disabled()
    await expect(row.locator("button.cancel")).to_be_visible()
    await expect(page.locator(".toast").filter(has_text="US-101: queued")).to_be_visible()

    async with run_worker(settings):
        await expect(badge(page, "US-101")).to_have_text(re.compile(r"Generating \d+%"), timeout=SLOW)
        await expect(badge(page, "US-101").locator(".spinner")).to_be_visible()
        await shot(page, "web-generating")
        ready = row.locator('button.badge[data-state="completed"]')
        await expect(ready).to_have_text("Ready for review", timeout=SLOW)
    await expect(row.locator("button.cancel")).to_have_count(0)
    await expect(page.locator(".toast").filter(has_text="4 test cases ready for review")).to_be_visible()

    seen = [text for story, _state, text in await page_value(page, "window.__badges") if story == "US-101"]
    assert seen[0] == NO_WORKER_BADGE and seen[-1] == "Ready for review"  # the warning went with the worker
    percents = [int(m.group(1)) for t in seen if (m := re.fullmatch(r"Generating (\d+)%", t))]
    assert percents and percents == sorted(percents) and 0 < percents[0] < 100
    assert seen.index(NO_WORKER_BADGE) < seen.index(f"Generating {percents[0]}%")

    await ready.click()
    dialog = page.locator("#review")
    await expect(dialog).to_be_visible()
    cases = dialog.locator(".case")
    await expect(cases).to_have_count(4)
    await expect(cases.first.locator(".scenario")).to_have_count(2)
    job = (await http.get(f"/generate-test-cases/status/{await _task_of(page, 'US-101')}")).json()
    drafts = job["result"]["test_cases"]
    assert await cases.nth(1).locator(".case-title").input_value() == drafts[1]["title"]

    first = cases.first
    await first.locator(".case-title").fill("Reset link arrives within a minute")
    await first.locator(".case-priority").select_option("critical")
    await first.locator(".case-type").select_option("performance")
    await first.locator(".scenario-steps").first.fill(
        "Given a shopper with a verified email\nAnd the mail server is up\n"
        "When she asks for a reset link\nThen the link arrives within 60 seconds"
    )
    deleted_title = drafts[1]["title"]
    await cases.nth(1).locator(".case-delete").click()
    await expect(cases).to_have_count(3)
    await shot(page, "web-review")
    await dialog.locator("#review-save").click()
    await expect(dialog.locator("#review-status")).to_have_text("Saved 3 test cases")
    await shot(page, "web-saved")
    await dialog.locator("button[value=close]").click()
    await expect(row.locator("td.status")).to_have_text("Saved 3 test cases")

    saved = (await http.get("/user-stories/US-101/test-cases")).json()
    assert len(saved) == 3
    assert deleted_title not in [c["title"] for c in saved]
    edited = saved[0]
    assert edited["title"] == "Reset link arrives within a minute"
    assert edited["priority"] == "critical" and edited["test_type"] == "performance"
    assert edited["scenarios"][0]["given"] == ["a shopper with a verified email", "the mail server is up"]
    assert edited["scenarios"][0]["when"] == ["she asks for a reset link"]
    assert edited["scenarios"][0]["then"] == ["the link arrives within 60 seconds"]
    assert edited["scenarios"][1] == drafts[0]["scenarios"][1]  # untouched scenario kept as generated
    assert [c["title"] for c in saved[1:]] == [drafts[2]["title"], drafts[3]["title"]]
    assert edited["covered_criteria"] == drafts[0]["covered_criteria"]

    # A reload restores the badge from the story's latest job, without toasting old news again.
    await page.reload()
    await expect(badge(page, "US-101")).to_have_text("Saved", timeout=SLOW)
    assert not [t for t in await page_value(page, "window.__toasts") if "ready for review" in t]


async def _true(value: bool) -> bool:
    return value


async def _task_of(page: Page, story_id: str) -> str:
    task: str = await page.evaluate(f"window.testgen.state.storyTask.get({story_id!r})")
    return task


async def test_failed_and_cancelled_generations(
    page: Page, http: AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    use_unreachable_gemini(settings, "AIzaSy-web-test-key")
    await make_story(http, "US-201")
    await make_story(http, "US-202")  # never generated
    await make_story(http, "US-203")  # cancelled
    requests = events_requests(page)
    await page.goto("/")
    row = page.locator('tr[data-story="US-201"]')
    await row.locator("button.generate").click()
    await expect(badge(page, "US-201")).to_have_text(NO_WORKER_BADGE)

    cancelled = page.locator('tr[data-story="US-203"]')
    await cancelled.locator("button.generate").click()
    await expect(badge(page, "US-203")).to_have_text(NO_WORKER_BADGE)
    await cancelled.locator("button.cancel").click()  # no worker yet: it is still queued
    await expect(cancelled.locator("td.status")).to_have_text("CancelledRetry")  # badge, then Retry
    await expect(cancelled.locator("button.generate")).to_be_enabled()
    await expect(page.locator(".toast").filter(has_text="US-203: generation cancelled")).to_be_visible()
    status = (await http.get(f"/generate-test-cases/status/{await _task_of(page, 'US-203')}")).json()
    assert status["status"] == "cancelled"

    async with run_worker(settings):
        error = row.locator('button.badge[data-state="failed"]')
        await expect(error).to_have_text("Error", timeout=SLOW)
    await expect(
        page.locator(".toast[data-kind=error]").filter(has_text="US-201: generation failed")
    ).to_be_visible()

    job = (await http.get(f"/generate-test-cases/status/{await _task_of(page, 'US-201')}")).json()
    assert job["status"] == "failed" and "connection failed" in job["error"]["message"]
    await error.click()
    detail = page.locator("#error-dialog")
    await expect(detail).to_be_visible()
    await expect(detail.locator("#error-detail")).to_have_text(job["error"]["message"])
    await expect(detail.locator("#error-type")).to_contain_text(job["error"]["type"])
    await shot(page, "web-error")

    # After a reload the badge comes back from the story's latest job (?story_id= on the stream).
    await page.reload()
    await expect(row.locator('button.badge[data-state="failed"]')).to_have_text("Error", timeout=SLOW)
    await expect(row.locator("td.status")).to_have_text("ErrorRetry")
    restore_url = await page_value(page, "window.__sse.urls[0]")
    assert all(f"story_id=US-20{i}" in restore_url for i in (1, 2, 3))
    await expect(page.locator('tr[data-story="US-202"] td.status')).to_have_text("—")
    await expect(page.locator('tr[data-story="US-203"] td.status')).to_have_text("CancelledRetry")
    # The stream ends after the final event; the browser reconnects with its cursor and the server's
    # 204 (every job ended) stops it.
    await expect(page.locator("#connection")).to_have_attribute("data-state", "idle", timeout=SLOW)
    assert requests["status"][-2:] == [200, 204]
    # Every EventSource is CLOSED (a browser never reopens one) and no request is left open.
    await wait_until(lambda: page_value(page, "window.__sse.open === 0"))
    await wait_until(lambda: _true(requests["open"] == []))
    assert await page_value(page, "window.__toasts") == []  # it failed before this visit


async def test_page_load_restores_the_badges_of_running_and_finished_jobs(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    settings.offline_llm_delay_s = 0.0
    for story_id in ("US-601", "US-602", "US-603"):
        await make_story(http, story_id)
    done = await queue(http, "US-601")
    async with run_worker(settings):  # US-601 ends before the page is opened
        await wait_for_job(http, done["status_url"], is_status("completed"), what="US-601 to complete")
    running = await queue(http, "US-602")  # queued elsewhere, no worker: still queued at load

    await page.goto("/")
    await expect(badge(page, "US-601")).to_have_text("Ready for review")
    await expect(badge(page, "US-602")).to_have_text(NO_WORKER_BADGE)
    await expect(page.locator('tr[data-story="US-602"] button.cancel')).to_be_visible()
    await expect(page.locator('tr[data-story="US-603"] td.status')).to_have_text("—")
    # The page follows the queued US-602 over its one live stream before any worker runs, and toasts
    # a job's end only when it has watched the job for 1 s of its own clock (not one ending at load).
    await expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=SLOW)
    assert await page_value(page, "window.__sse.open") == 1
    seen_by = await page_value(page, "performance.now()")  # US-602's badge shows: it was seen before
    await wait_until(lambda: page_value(page, f"performance.now() >= {seen_by} + 1000"))
    settings.offline_llm_delay_s = 0.5
    async with run_worker(settings):
        await expect(badge(page, "US-602")).to_have_text("Ready for review", timeout=SLOW)
    assert await _task_of(page, "US-602") == running["task_id"]
    await wait_until(lambda: page_value(page, "window.__toasts.length > 0"))
    toasts = await page_value(page, "window.__toasts")
    assert toasts == ["US-602: 5 test cases ready for review"]  # not US-601: that ended before the visit
    urls = await page_value(page, "window.__sse.urls")
    assert len(urls) == 1 and all(f"story_id=US-60{i}" in urls[0] for i in (1, 2, 3))

    # A draft nobody wants: discard it from the review dialog.
    await page.locator('tr[data-story="US-601"] button.badge').click()
    await expect(page.locator("#review .case")).to_have_count(5)
    await page.locator("#review-discard").click()
    await expect(page.locator("#review")).to_be_hidden()
    await expect(page.locator('tr[data-story="US-601"] td.status')).to_have_text("—")
    assert (await http.get(done["status_url"])).status_code == 404


async def test_eight_stories_generate_at_once_over_one_event_source(
    page: Page, app: FastAPI, http: AsyncClient, settings: Settings
) -> None:
    settings.offline_llm_delay_s = 1.5
    stories = [f"US-3{i:02d}" for i in range(8)]
    for story_id in stories:
        await make_story(http, story_id)
    requests = events_requests(page)
    response = await page.goto("/")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    await expect(page.locator("tr[data-story]")).to_have_count(8)
    # On load the page asks for the latest job of every story; none has one yet (404).
    await wait_until(lambda: _true(requests["status"] == [404]))
    for story_id in stories:
        await page.locator(f'tr[data-story="{story_id}"] button.generate').click()
    for story_id in stories:
        await expect(badge(page, story_id)).to_have_text(NO_WORKER_BADGE)
    await wait_until(lambda: page_value(page, "window.__sse.events.length >= 8"))

    sse = await page_value(page, "window.__sse")
    assert sse["open"] == 1 and sse["maxOpen"] == 1
    last_url = sse["urls"][-1]
    assert last_url.count("task_id=") == 8
    assert len(requests["open"]) == 1 and EVENTS_PATH in requests["open"][0].url

    async with run_worker(settings):
        await wait_until(
            lambda: page_value(page, "document.querySelectorAll('.badge[data-state=generating]').length >= 4")
        )
        await shot(page, "web-eight-generating")
        # The server ends every stream (as on a restart): the browser reconnects by itself.
        app.state.hub.close_streams()
        for story_id in stories:
            await expect(badge(page, story_id)).to_have_text("Ready for review", timeout=SLOW)
    await shot(page, "web-eight-ready")
    assert await page_value(page, "window.__csp") == []  # progress bars and all, within the policy

    sse = await page_value(page, "window.__sse")
    assert sse["maxOpen"] == 1, "more than one EventSource was open at a time"
    # reopened when jobs were added and once after the cut, never one per job on top of each other
    assert sse["opened"] <= 2 + 8
    # after the cut the page reopened the stream with the latest position of each of the 8 jobs
    assert any(url.count("%3D") == 8 and "last_event_id=" in url for url in sse["urls"])
    # Every job's events arrived once: each (job, stream entry) pair is unique, each job ended once.
    entries = []
    for event in sse["events"]:
        cursor = dict(part.split("=", 1) for part in event["id"].split(";"))
        entries.append((event["task"], cursor[event["task"]]))
    assert len(entries) == len(set(entries))
    completed = [e["task"] for e in sse["events"] if e["type"] == "completed"]
    assert len(completed) == len(set(completed)) == 8
    queued = [e["task"] for e in sse["events"] if e["type"] == "queued"]
    assert len(queued) == 8

    # Once every job has ended the page closes its stream and stops reconnecting.
    await expect(page.locator("#connection")).to_have_attribute("data-state", "idle", timeout=SLOW)
    await wait_until(lambda: page_value(page, "window.__sse.open === 0"))  # CLOSED: never reopened
    await wait_until(lambda: _true(requests["open"] == []))


@pytest.mark.parametrize("api_keys", ["web-key-1-1234567, web-key-2-1234567"])
async def test_api_key_prompt_then_bearer_and_stream_token(
    page: Page, server: str, settings: Settings
) -> None:
    async with AsyncClient(base_url=server, headers={"Authorization": "Bearer web-key-1-1234567"}) as api:
        await make_story(api, "US-401")
    assert (await http_get(server, "/user-stories")) == 401
    await page.goto("/")
    prompt = page.locator("#key-dialog")
    await expect(prompt).to_be_visible()
    await prompt.locator("[name=key]").fill("wrong-key")
    await prompt.locator("#key-form button[type=submit]").click()
    await expect(prompt.locator("#key-error")).to_have_text("That key was refused; try another one.")
    await prompt.locator("[name=key]").fill("web-key-2-1234567")
    await prompt.locator("#key-form button[type=submit]").click()
    await expect(prompt).to_be_hidden()
    row = page.locator('tr[data-story="US-401"]')
    await expect(row).to_be_visible()
    assert await page_value(page, "sessionStorage.getItem('testgen.apiKey')") == "web-key-2-1234567"

    await row.locator("button.generate").click()
    async with run_worker(settings):
        await expect(badge(page, "US-401")).to_have_text("Ready for review", timeout=SLOW)
    urls = await page_value(page, "window.__sse.urls")
    assert all("access_token=" in url and "web-key" not in url for url in urls)
    await shot(page, "web-api-key")

    await page.reload()  # the key stays for this tab: no prompt again
    await expect(badge(page, "US-401")).to_have_text("Ready for review", timeout=SLOW)
    await expect(prompt).to_be_hidden()


async def http_get(server: str, path: str) -> int:
    async with AsyncClient(base_url=server) as client:
        return (await client.get(path)).status_code


@pytest.mark.parametrize("api_keys", [None, "web-key-1-1234567"])
async def test_page_and_static_files_are_served_without_a_key(
    http: AsyncClient, api_keys: str | None
) -> None:
    page = await http.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    # its script and style sheet under the version of the page's files, kept a year; the page itself
    # asked for each time
    found = re.search(r'<script type="module" src="/static/([0-9a-f]{16})/app.js"></script>', page.text)
    assert found is not None and f'href="/static/{found[1]}/app.css"' in page.text
    assert page.headers["cache-control"] == "no-cache" and "etag" in page.headers
    for kept in ("app.js", "app.css", "stream.js"):
        served = await http.get(f"/static/{found[1]}/{kept}")
        assert served.status_code == 200 and served.headers["cache-control"] == LONG_CACHE, kept
    assert (await http.get("/static/0123456789abcdeg/app.js")).status_code == 404
    assert (await http.get(f"/static/{found[1]}/index.html")).status_code == 404
    script = await http.get("/static/app.js")
    assert script.status_code == 200 and script.headers["content-type"] == "text/javascript; charset=utf-8"
    # The page is ES modules (no build step): every module app.js imports, and theirs, is served.
    modules, todo = set(), ["app.js"]
    while todo:
        name = todo.pop()
        served = await http.get(f"/static/{name}")
        assert served.status_code == 200, name
        assert served.headers["content-type"] == "text/javascript; charset=utf-8"
        modules.add(name)
        todo += [m for m in re.findall(r'from "\./([\w-]+\.js)";', served.text) if m not in modules]
    assert {"stream.js", "review.js", "stories.js"} <= modules
    assert "new EventSource(" in (await http.get("/static/stream.js")).text
    assert script.headers["cache-control"] == "no-cache"
    again = await http.get("/static/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    css = await http.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"] == "text/css; charset=utf-8"
    crafted = ("..%2Fapi%2Fweb.py", "%2E%2E%2Fmain.py", "..%2F__init__.py")
    for name in ("index.html", "nope.js", "app.JS", *crafted):
        assert (await http.get(f"/static/{name}")).status_code == 404, name
    stories = await http.get("/user-stories")
    assert stories.status_code == (401 if api_keys else 200)


async def read_download(path: Awaitable[Path | str]) -> str:
    return await asyncio.to_thread(Path(await path).read_text, encoding="utf-8")


@pytest.fixture
def jira_cloud(settings: Settings) -> Iterator[FakeJira]:
    with FakeJira(deployment="cloud", issues=cloud_issues()) as fake:
        use_jira(settings, fake)
        yield fake


async def test_import_dialog_shows_progress_and_summary_then_exports(
    jira_cloud: FakeJira, page: Page, http: AsyncClient, worker: object
) -> None:
    jira_cloud.hold_page = 3  # the dialog shows live progress while page 3 is on its way
    assert (await http.post("/projects", json={"name": "Shop"})).status_code == 201
    await page.goto("/")
    await expect(page.locator("#empty")).to_be_visible()  # loaded: the caller's roles are known
    await page.locator("#jira-open").click()
    dialog = page.locator("#jira-dialog")
    await expect(dialog).to_be_visible()
    await dialog.locator("[name=jql]").fill("project = SHOP")
    await dialog.locator("input[name=with][value=comments]").check()
    async with page.expect_request(lambda r: r.url.endswith("/imports/jira")) as sent:
        await dialog.locator("#jira-start").click()
    assert (await sent.value).post_data_json == {"jql": "project = SHOP", "with": ["comments"]}
    await expect(page.locator("#jira-message")).to_have_text(
        "Fetched page 2: 4 issues processed", timeout=SLOW
    )
    await expect(page.locator("#jira-cancel")).to_be_visible()
    await shot(page, "web-jira-progress")
    jira_cloud.release()
    summary = page.locator("#jira-summary")
    await expect(summary.locator(".jira-counts")).to_have_text(
        "6 created, 0 updated, 0 unchanged, 1 skipped", timeout=SLOW
    )
    await summary.locator(".jira-skipped summary").click()
    await expect(summary.locator(".jira-skipped li")).to_contain_text("SHOP-99: no acceptance criteria found")
    await shot(page, "web-jira-summary")
    await dialog.locator("button[value=close]").click()

    # The imported stories are listed, their ids linking to Jira.
    link = page.locator('tr[data-story="SHOP-1"] td.id a.jira')
    await expect(link).to_have_attribute("href", f"{jira_cloud.url}/browse/SHOP-1")

    # Export buttons: per story and per project, downloaded with the server's file name.
    row = page.locator('tr[data-story="SHOP-1"]')
    await row.locator("select.story-export-format").select_option("testrail-csv")
    async with page.expect_download() as info:
        await row.locator("button.export").click()
    download = await info.value
    assert download.suggested_filename == "SHOP-1-test-cases.testrail.csv"
    header = next(csv.reader(io.StringIO(await read_download(download.path()))))
    assert header[0] == "Title" and header[-1] == "References"

    await page.locator("#export-project-format").select_option("xray-json")
    page.once("dialog", lambda d: d.accept("SHOP"))
    async with page.expect_download() as info:
        await page.locator("#export-project-button").click()
    download = await info.value
    assert download.suggested_filename == "Shop-test-cases.xray.json"
    assert json.loads(await read_download(download.path())) == []  # nothing saved yet


async def test_the_import_dialog_reads_github_issues_and_refuses_a_missing_connection(
    page: Page, http: AsyncClient, worker: object
) -> None:
    shop = (await http.post("/projects", json={"name": "Shop"})).json()["id"]
    with FakeGitHub(issues=github_issues(), per_page_cap=2) as github:
        await connect(http, shop, {**github.settings, "token": github.token})
        await page.goto("/")
        await expect(page.locator("#empty")).to_be_visible()
        await page.locator("#jira-open").click()
        dialog = page.locator("#jira-dialog")
        await dialog.locator("#import-source").select_option("/imports/github")
        await expect(dialog.locator("[name=jql]")).to_be_hidden()  # and not required: the form submits
        await dialog.locator("[name=labels]").fill("story, ")
        await dialog.locator("#jira-start").click()
        summary = page.locator("#jira-summary")
        await expect(summary.locator(".jira-counts")).to_have_text(
            "3 created, 0 updated, 0 unchanged, 1 skipped", timeout=SLOW
        )
        # 3, not 4: the label was sent (the issue labelled "bug" alone stays out)
        await expect(page.locator('tr[data-story="shop-1"]')).to_be_visible()

    # Azure DevOps without a connection: the server's answer says what to do.
    await dialog.locator("#import-source").select_option("/imports/azure-devops")
    await dialog.locator("[name=wiql]").fill("SELECT [System.Id] FROM WorkItems")
    await dialog.locator("#jira-start").click()
    await expect(page.locator("#jira-error")).to_contain_text("no Azure DevOps connection")


async def test_a_project_chooses_its_provider_and_model(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    settings.openai_base_url = "http://127.0.0.1:9/v1"  # configured (nothing is called here)
    project = (await http.post("/projects", json={"name": "Private"})).json()
    await page.goto("/")
    await page.locator("#projects-card summary").click()
    row = page.locator(f'#projects tr[data-project="{project["id"]}"]')
    select = row.locator("select[name=llm_provider]")
    await expect(select).to_have_value("")
    assert await select.locator("option").all_text_contents() == [
        "server default (offline)",
        "offline",
        "openai",
    ]
    await select.select_option("openai")
    await expect(row.locator("[name=llm_model]")).to_have_attribute("placeholder", settings.openai_model)
    await row.locator("[name=llm_model]").fill("llama3.1:8b")
    await row.get_by_role("button", name="Save").click()
    await expect(page.locator(".toast").last).to_contain_text("Private: openai / llama3.1:8b")
    stored = (await http.get(f"/projects/{project['id']}")).json()
    assert (stored["llm_provider"], stored["llm_model"]) == ("openai", "llama3.1:8b")
    await shot(page, "project-provider")
    await page.reload()
    await page.locator("#projects-card summary").click()
    await expect(row.locator("select[name=llm_provider]")).to_have_value("openai")
    await expect(row.locator("[name=llm_model]")).to_have_value("llama3.1:8b")


async def test_generate_for_all_queues_a_project_in_one_request(
    page: Page, http: AsyncClient, settings: Settings
) -> None:
    settings.offline_llm_delay_s = 0.5
    stories = ["US-501", "US-502", "US-503"]
    for story_id in stories:
        await make_story(http, story_id)
    await make_story(http, "OT-1", project="Other")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    await page.goto("/")
    await expect(page.locator("tr[data-story]")).to_have_count(4)
    await page.select_option("#generate-project", label="Shop")
    await page.click("#generate-project-button")
    for story_id in stories:
        await expect(badge(page, story_id)).to_have_text(NO_WORKER_BADGE)
    assert [url.split("/", 3)[3] for url in posts] == ["generate-test-cases/queue"]
    await wait_until(lambda: page_value(page, "window.__sse.urls.at(-1).includes('batch=')"))
    assert "task_id=" not in (await page_value(page, "window.__sse.urls.at(-1)"))
    async with run_worker(settings):
        for story_id in stories:
            await expect(badge(page, story_id)).to_have_text("Ready for review", timeout=SLOW)
    await expect(badge(page, "OT-1")).to_have_count(0)  # another project: untouched
    await shot(page, "web-generate-for-all")
    # Again with "only stories without saved tests": a saved story is left out.
    task = await _task_of(page, "US-501")
    assert (await http.post(f"/generate-test-cases/{task}/save")).status_code == 201
    await page.click("#generate-project-button")
    await expect(page.locator(".toast").last).to_contain_text("Shop: 2 stories queued for generation")
