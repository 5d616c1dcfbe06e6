"""A story's attachments in Chromium: a screenshot dropped on the story view is uploaded and shown as a
thumbnail, a file chosen with the picker too, a refused file (SVG) says why, and an attachment is
deleted after the confirmation."""

from __future__ import annotations

import base64
import re

import pytest
from httpx import AsyncClient
from playwright.async_api import Page, expect

from tests.support import attachment_files as files
from tests.support.helpers import make_story
from tests.web.test_page import CHROMIUM, api_keys, browser, page, settings

__all__ = ["api_keys", "browser", "page", "settings"]  # fixtures

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (see tests/web/test_page.py)"),
]

# Drop a file on the drop zone as a user dragging it from the desktop does.
DROP = """([selector, name, type, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  const zone = document.querySelector(selector);
  zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: transfer, bubbles: true, cancelable: true }));
  zone.dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true, cancelable: true }));
}"""


async def test_a_dropped_screenshot_shows_as_a_thumbnail_and_goes_when_deleted(
    page: Page, http: AsyncClient
) -> None:
    await make_story(http, "US-1")
    await page.goto("/?story=US-1")
    section = page.locator("#story-attachments")
    await expect(section.locator("h3")).to_have_text("Attachments")
    screenshot = base64.b64encode(files.png(300, 200)).decode()
    await page.evaluate(DROP, ["#attachment-drop", "checkout.png", "image/png", screenshot])

    item = section.locator("li.attachment")
    await expect(item).to_have_count(1)
    await expect(item.locator(".attachment-name")).to_have_text("checkout.png")
    await expect(item.locator(".attachment-meta")).to_contain_text("300x200")
    await expect(item.locator("img.attachment-thumb")).to_have_attribute(
        "src", re.compile(r"^data:image/png;base64,")
    )
    listed = (await http.get("/user-stories/US-1/attachments")).json()
    assert [a["file_name"] for a in listed] == ["checkout.png"]

    await page.locator("#attachment-input").set_input_files(
        files=[
            {"name": "notes.md", "mimeType": "text/markdown", "buffer": b"# Notes\n- The total shows VAT\n"}
        ]
    )
    await expect(item).to_have_count(2)
    await page.locator("#attachment-input").set_input_files(
        files=[{"name": "logo.svg", "mimeType": "image/svg+xml", "buffer": files.SVG}]
    )
    await expect(page.locator(".toast").filter(has_text="logo.svg was not attached")).to_be_visible()
    await expect(item).to_have_count(2)

    await item.first.locator("button.attachment-delete").click()
    await page.locator("#confirm-ok").click()
    await expect(item).to_have_count(1)
    await expect(item.locator(".attachment-name")).to_have_text("notes.md")
    assert [a["file_name"] for a in (await http.get("/user-stories/US-1/attachments")).json()] == ["notes.md"]
