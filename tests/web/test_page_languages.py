"""The page in Spanish in a real headless Chromium: chosen by the browser's language (Accept-Language),
or by the page's language setting; the old tool's wording on the badges; a story's language shown and
edited in its view."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from httpx import AsyncClient
from playwright.async_api import Browser, Page, expect

from testgen.core.config import Settings
from testgen.core.i18n import table
from tests.support.harness import run_worker
from tests.web.test_page import ARTIFACTS, SLOW, badge, browser  # noqa: F401  (browser is a fixture)

pytestmark = pytest.mark.slow

SPANISH_STORY = {
    "id": "ES-1",
    "title": "Restablecer la contraseña",
    "description": "Como cliente registrado quiero restablecer mi contraseña para volver a entrar.",
    "acceptance_criteria": [
        "Se envía un enlace al correo del cliente",
        "El enlace caduca al cabo de una hora",
    ],
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.offline_llm_delay_s = 1.0  # long enough to see "Generando N%"
    return settings


@pytest.fixture
async def page(browser: Browser, server: str) -> AsyncIterator[Page]:  # noqa: F811
    ARTIFACTS.mkdir(exist_ok=True)
    context = await browser.new_context(
        base_url=server, viewport={"width": 1400, "height": 900}, locale="es-ES"
    )
    tab = await context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    await context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


async def _story(http: AsyncClient) -> None:
    project = (await http.post("/projects", json={"name": "Tienda"})).json()["id"]
    r = await http.post("/user-stories", json={**SPANISH_STORY, "project_id": project})
    assert r.status_code == 201, r.text


# Texts of the static page that are the same in both languages.
SAME = {text for key, text in table("en").items() if table("es")[key] == text}


async def test_the_page_in_spanish(page: Page, http: AsyncClient, settings: Settings) -> None:
    await _story(http)
    await page.goto("/")
    await expect(page.locator("#stories-heading")).to_have_text("Historias de usuario")
    assert await page.evaluate("document.documentElement.lang") == "es"
    # no English text of index.html is left (but those the same in Spanish)
    english = {text for key, text in table("en").items() if key.startswith(("page.", "priority."))} - SAME
    shown = await page.evaluate(
        """() => {
          const texts = [];
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let n = walker.nextNode(); n; n = walker.nextNode()) {
            texts.push(n.nodeValue.replace(/\\s+/g, " ").trim());
          }
          for (const el of document.querySelectorAll("[placeholder],[aria-label],[title]")) {
            for (const a of ["placeholder", "aria-label", "title"]) {
              if (el.getAttribute(a)) texts.push(el.getAttribute(a));
            }
          }
          return texts;
        }"""
    )
    left = sorted(set(shown) & english)
    assert not left, f"English texts left in the Spanish page: {left}"

    row = page.locator('tr[data-story="ES-1"]')
    button = row.locator("button.generate")
    await expect(button).to_have_text("Encolar generación")
    await row.locator(".opt-cases").fill("2")
    await row.locator(".opt-scenarios").fill("2")
    await button.click()
    await expect(badge(page, "ES-1")).to_have_text(re.compile(r"^En cola"))
    async with run_worker(settings):
        await expect(badge(page, "ES-1")).to_have_text(re.compile(r"Generando \d+%"), timeout=SLOW)
        await page.screenshot(path=str(ARTIFACTS / "web-spanish-generating.png"), full_page=True)
        await expect(row.locator('button.badge[data-state="completed"]')).to_have_text(
            "Listo para revisar", timeout=SLOW
        )

    # the story view shows the story's language, and it can be changed there
    await row.locator("a.story-link").click()
    await expect(page.locator(".story-language")).to_have_text("idioma es (detectado)")
    await page.locator("button.edit-story").click()
    await page.locator(".story-edit-form [name=language]").fill("pt_br")
    await page.locator(".story-edit-form button[type=submit]").click()
    await expect(page.locator(".story-language")).to_have_text("idioma pt-BR")
    assert (await http.get("/user-stories/ES-1")).json()["language"] == "pt-BR"
    await page.screenshot(path=str(ARTIFACTS / "web-spanish-story.png"), full_page=True)


async def test_the_language_setting_wins_over_the_browser(page: Page) -> None:
    await page.goto("/")
    await expect(page.locator("#stories-heading")).to_have_text("Historias de usuario")
    await page.locator("#ui-language").select_option("en")  # the page reloads in English (a cookie)
    await expect(page.locator("#stories-heading")).to_have_text("User stories")
    assert await page.evaluate("document.documentElement.lang") == "en"
    await page.locator("#ui-language").select_option("")  # back to the browser's language
    await expect(page.locator("#stories-heading")).to_have_text("Historias de usuario")


async def test_a_story_added_with_its_language(page: Page, http: AsyncClient) -> None:
    assert (await http.post("/projects", json={"name": "Tienda"})).status_code == 201
    await page.goto("/")
    form = page.locator("#story-form")
    await expect(form.locator("[name=language]")).to_have_attribute("placeholder", "detectado")
    await form.locator("[name=id]").fill("ES-9")
    await form.locator("[name=title]").fill("Iniciar sesión")  # too short to detect
    await form.locator("[name=language]").fill("es")
    await form.locator("button[type=submit]").click()
    await expect(page.locator('tr[data-story="ES-9"]')).to_be_visible()
    story = (await http.get("/user-stories/ES-9")).json()
    assert story["language"] == "es" and story["detected_language"] == "und"
