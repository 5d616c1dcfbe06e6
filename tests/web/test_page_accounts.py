"""Accounts in the page, in a real headless Chromium against a real uvicorn: signing in, the user menu's
API tokens and sign-out; what a viewer is offered; the review gate from submit to an approval by another
user to "Approved by"; users and project members managed by an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from playwright.async_api import Browser, Page, expect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from testgen.domain.roles import Role
from testgen.worker.resources import WorkerResources
from tests.support.accounts import PASSWORD, add_user, bearer_token
from tests.support.helpers import make_story
from tests.web.test_page import ARTIFACTS, CHROMIUM, browser, settings, shot
from tests.worker.test_drafts import Recording, run, save

__all__ = ["browser", "settings"]  # fixtures

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium (see tests/web/test_page.py)"),
]

ADMIN_KEY = "accounts-admin-key-1234567"  # one of API_KEYS: the test's own admin client


@pytest.fixture
def api_keys() -> str:
    """API_KEYS of the server under test (test_page's `settings` reads it): the `admin` client's key."""
    return ADMIN_KEY


@pytest.fixture
async def admin(server: str) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(
        base_url=server, timeout=10, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    ) as client:
        yield client


@asynccontextmanager
async def tab(browser: Browser, server: str) -> AsyncIterator[Page]:
    """A page in a context of its own (its own cookies: one user each); no JavaScript error in it."""
    ARTIFACTS.mkdir(exist_ok=True)
    context = await browser.new_context(base_url=server, viewport={"width": 1400, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield page
    finally:
        await context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


async def sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Open the page and sign in through its sign-in form."""
    await page.goto("/")
    form = page.locator("#sign-in-form")
    await expect(form).to_be_visible()
    await form.locator("[name=email]").fill(email)
    await form.locator("[name=password]").fill(password)
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#key-dialog")).to_be_hidden()
    await expect(page.locator("#user-name")).to_have_text(email.partition("@")[0])


async def users(
    app: FastAPI, sessionmaker: async_sessionmaker[AsyncSession], *emails: str, **kw: Any
) -> None:
    for email in emails:
        await add_user(sessionmaker, email, **kw)
    app.state.users_gate.mark()


async def test_sign_in_then_a_token_is_created_copied_and_revoked_then_sign_out(
    browser: Browser,
    server: str,
    app: FastAPI,
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
) -> None:
    await users(app, sessionmaker, "ada@example.com", admin=True)
    settings.oidc_issuer, settings.oidc_client_id = "http://127.0.0.1:9/", "testgen"  # single sign-on offered
    async with tab(browser, server) as page:
        await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
        await page.goto("/")
        dialog = page.locator("#key-dialog")
        form = dialog.locator("#sign-in-form")
        await expect(form).to_be_visible()
        await expect(dialog.locator("#key-form [name=key]")).to_be_visible()  # or an API key
        await expect(dialog.locator("#sso-link")).to_have_attribute("href", "/auth/oidc/login?next=/")
        await form.locator("[name=email]").fill("ada@example.com")
        await form.locator("[name=password]").fill("not the password")
        await form.locator("button[type=submit]").click()
        await expect(dialog.locator("#sign-in-error")).not_to_be_empty()  # the server's refusal
        await shot(page, "accounts-sign-in")
        await form.locator("[name=password]").fill(PASSWORD)
        await form.locator("button[type=submit]").click()
        await expect(dialog).to_be_hidden()
        await expect(page.locator("#user-name")).to_have_text("ada")
        assert await page.evaluate("sessionStorage.getItem('testgen.csrf')")

        # The user menu: a token, shown once, copied, used, then revoked.
        await page.locator("#user-menu summary").click()
        await page.locator("#menu-tokens").click()
        tokens = page.locator("#tokens-dialog")
        await tokens.locator("#token-form [name=name]").fill("ci")
        await tokens.locator("#token-form button[type=submit]").click()
        await expect(tokens.locator("#token-created")).to_be_visible()
        token = await tokens.locator("#new-token").input_value()
        assert token.startswith("tgp_")
        row = tokens.locator("#tokens-table tr[data-token]")
        await expect(row).to_have_count(1)
        await expect(row.locator(".token-name")).to_have_text("ci")
        await expect(row.locator(".token-last-use")).to_have_text("never")
        assert token.startswith((await row.locator(".token-prefix").inner_text()).removesuffix("…"))
        await tokens.locator("#copy-token").click()
        assert await page.evaluate("navigator.clipboard.readText()") == token
        await shot(page, "accounts-token")
        async with AsyncClient(base_url=server, headers={"Authorization": f"Bearer {token}"}) as bearer:
            assert (await bearer.get("/auth/me")).json()["user"]["email"] == "ada@example.com"
            await tokens.locator("button[aria-label=Close]").click()
            await page.locator("#user-menu summary").click()
            await page.locator("#menu-tokens").click()  # the list again: its last use shows
            await expect(row.locator(".token-last-use")).not_to_have_text("never")
            await expect(tokens.locator("#token-created")).to_be_hidden()  # shown that once only
            await row.locator(".token-revoke").click()
            await page.locator("#confirm-ok").click()
            await expect(tokens.locator("#tokens-table tr[data-token]")).to_have_count(0)
            assert (await bearer.get("/auth/me")).status_code == 401
        await tokens.locator("button[aria-label=Close]").click()

        # A reload keeps the session (GET /auth/me answers its CSRF token): a change is accepted.
        await page.reload()
        await expect(page.locator("#user-name")).to_have_text("ada")
        await expect(dialog).to_be_hidden()
        await page.locator("#projects-card summary").click()
        await page.locator("#project-form [name=name]").fill("Shop")
        await page.locator("#project-form button[type=submit]").click()
        await expect(page.locator("#projects tr[data-project]")).to_have_count(1)

        await page.locator("#user-menu summary").click()
        await page.locator("#menu-sign-out").click()
        await expect(dialog.locator("#sign-in-form")).to_be_visible()
        assert await page.evaluate("sessionStorage.getItem('testgen.csrf')") is None


async def test_a_viewer_is_offered_nothing_that_writes(
    browser: Browser,
    server: str,
    app: FastAPI,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin: AsyncClient,
    resources: WorkerResources,
) -> None:
    story = await make_story(admin, "US-1", criteria=2)
    first = await run(admin, resources, Recording(), "US-1", num_test_cases=1, scenarios_per_test_case=1)
    await save(admin, str(first["task_id"]))
    await run(admin, resources, Recording(), "US-1", num_test_cases=2, scenarios_per_test_case=1)
    await users(app, sessionmaker, "vic@example.com", roles={story["project_id"]: Role.viewer})
    async with tab(browser, server) as page:
        await sign_in(page, "vic@example.com")
        row = page.locator('tr[data-story="US-1"]')
        await expect(row.locator('button.badge[data-state="completed"]')).to_be_visible()
        await expect(row.locator("button.generate")).to_be_hidden()
        await expect(row.locator("button.export")).to_be_visible()  # viewers export
        for hidden in ("#add-story", "#jira-open", "#generate-project-button", "#inbox-button"):
            await expect(page.locator(hidden)).to_be_hidden()
        await page.locator("#projects-card summary").click()
        await expect(page.locator("#project-form")).to_be_hidden()
        project = page.locator("#projects tr[data-project]")
        await expect(project.locator("[name=name]")).to_be_disabled()
        await expect(project.locator("button", has_text="Save")).to_be_hidden()
        await expect(project.locator(".project-members")).to_have_count(0)
        await shot(page, "accounts-viewer")

        # The draft opens to be read: no field to change, no button to save, discard or submit.
        await row.locator("button.badge").click()
        review = page.locator("#review")
        await expect(review.locator(".case")).to_have_count(2)
        await expect(review.locator(".case-title").first).to_be_disabled()
        for hidden in (
            "#review-save",
            "#review-discard",
            "#review-submit",
            "#review-approve",
            ".case-delete",
        ):
            await expect(review.locator(hidden).first).to_be_hidden()
        await review.locator("button[value=close]").click()

        await row.locator("a.story-link").click()
        view = page.locator("#story-view")
        await expect(view.locator(".saved-case")).to_have_count(1)
        await expect(view.locator(".edit-story, .delete-story, .saved-edit, .saved-delete")).to_have_count(0)
        await expect(view.locator("button.generate")).to_be_hidden()
        await expect(view.locator(".view-export")).to_be_visible()
        history = view.locator("#story-history .history-row")
        await expect(history.last).to_have_attribute("data-action", "story_create")  # newest first


async def test_submit_then_another_user_approves_and_the_saved_tests_say_who(
    browser: Browser,
    server: str,
    app: FastAPI,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin: AsyncClient,
    resources: WorkerResources,
) -> None:
    story = await make_story(admin, "US-2", criteria=2)
    project_id = story["project_id"]
    gated = await admin.patch(f"/projects/{project_id}", json={"review_required": True})
    assert gated.status_code == 200 and gated.json()["review_required"] is True, gated.text
    await users(app, sessionmaker, "eve@example.com", roles={project_id: Role.editor})
    await users(app, sessionmaker, "rob@example.com", roles={project_id: Role.reviewer})
    token = await bearer_token(admin, "eve@example.com")
    async with AsyncClient(base_url=server, timeout=10, headers={"Authorization": f"Bearer {token}"}) as eve:
        job = await run(
            eve, resources, Recording(), "US-2", num_test_cases=2, scenarios_per_test_case=1
        )  # Eve's draft
    status_url = f"/generate-test-cases/status/{job['task_id']}"

    async with tab(browser, server) as page:
        await sign_in(page, "eve@example.com")
        await expect(page.locator("#inbox-button")).to_be_hidden()  # an editor reviews nothing
        await page.locator('tr[data-story="US-2"] button.badge').click()
        review = page.locator("#review")
        await expect(review.locator(".case")).to_have_count(2)
        await expect(review.locator("#review-save")).to_be_hidden()  # reviewers save
        await expect(review.locator("#review-approve")).to_be_hidden()
        await review.locator(".case-title").first.fill("Reset link arrives within a minute")
        await review.locator("#review-comment").fill("Please look at the second one")
        await review.locator("#review-submit").click()
        await expect(review.locator(".review-state")).to_have_text("Review: in review")
        await expect(review.locator("#review-submit")).to_be_hidden()
        await expect(review.locator(".review-history li")).to_have_count(1)
        await shot(page, "accounts-submitted")
        submitted = (await admin.get(status_url)).json()
        assert submitted["review"]["state"] == "in_review"
        assert submitted["review"]["steps"][0]["comment"] == "Please look at the second one"
        assert (
            submitted["result"]["test_cases"][0]["title"] == "Reset link arrives within a minute"
        )  # the edit went first

    async with tab(browser, server) as page:
        await sign_in(page, "rob@example.com")
        await expect(page.locator("#inbox-count")).to_have_text("1")
        await page.locator("#inbox-button").click()
        inbox = page.locator("#inbox-dialog")
        await expect(inbox.locator("tr[data-task]")).to_contain_text("US-2")
        await inbox.locator(".inbox-open").click()
        review = page.locator("#review")
        await expect(review.locator(".review-history li")).to_contain_text("Please look at the second one")
        await expect(
            review.locator("#review-save")
        ).to_be_disabled()  # the project saves approved drafts only
        await review.locator(".case-comment").nth(1).fill("Fine as it is")
        await review.locator("#review-approve").click()
        await expect(review.locator(".review-state")).to_have_text("Review: approved")
        await expect(review.locator(".case").nth(1).locator(".case-notes")).to_contain_text("Fine as it is")
        await expect(review.locator("#review-save")).to_be_enabled()
        await shot(page, "accounts-approved")
        await review.locator("#review-save").click()
        await expect(review.locator("#review-status")).to_have_text("Saved 2 test cases")
        await review.locator("button[value=close]").click()
        await expect(page.locator("#inbox-count")).to_have_text("0")

        await page.locator('tr[data-story="US-2"] a.story-link').click()
        approved = page.locator("#story-view .saved-case .approved-by")
        await expect(approved).to_have_count(2)
        await expect(approved.first).to_contain_text("Approved by rob on ")
        await shot(page, "accounts-approved-by")
    saved = (await admin.get("/user-stories/US-2/test-cases")).json()
    assert {case["approved_by"] for case in saved} == {
        m["user_id"]
        for m in (await admin.get(f"/projects/{project_id}/members")).json()
        if m["name"] == "rob"
    }


async def test_an_admin_manages_users_and_a_projects_members(
    browser: Browser,
    server: str,
    app: FastAPI,
    sessionmaker: async_sessionmaker[AsyncSession],
    admin: AsyncClient,
) -> None:
    story = await make_story(admin, "US-3")
    project_id = story["project_id"]
    await users(app, sessionmaker, "ada@example.com", admin=True)
    await users(app, sessionmaker, "vic@example.com")
    async with tab(browser, server) as page:
        await sign_in(page, "ada@example.com")

        # Users: add one, give a new password, deactivate.
        await page.locator("#user-menu summary").click()
        await page.locator("#menu-users").click()
        dialog = page.locator("#users-dialog")
        form = dialog.locator("#user-form")
        await form.locator("[name=email]").fill("nia@example.com")
        await form.locator("[name=name]").fill("Nia")
        await form.locator("[name=password]").fill("a first password of hers")
        await form.locator("button[type=submit]").click()
        nia = dialog.locator("tr[data-user]", has_text="nia@example.com")
        await expect(nia.locator(".user-state")).to_have_text("active")
        await nia.locator(".user-reset-open").click()
        await nia.locator(".user-password").fill("another password of hers")
        await nia.locator(".user-reset button[type=submit]").click()
        await expect(page.locator(".toast", has_text="New password of Nia set")).to_be_visible()
        async with AsyncClient(base_url=server) as client:
            signed = await client.post(
                "/auth/login", json={"email": "nia@example.com", "password": "another password of hers"}
            )
            assert signed.status_code == 200, signed.text
        await nia.locator(".user-deactivate").click()
        await expect(nia.locator(".user-state")).to_have_text("deactivated")
        await shot(page, "accounts-users")
        await dialog.locator("button[aria-label=Close]").click()

        # A project's members: add one by email with a role, change the role, remove them.
        await page.locator("#projects-card summary").click()
        await page.locator(f'#projects tr[data-project="{project_id}"] .project-members').click()
        members = page.locator("#members-dialog")
        await members.locator("#member-form [name=email]").fill("vic@example.com")
        await members.locator("#member-form [name=role]").select_option("editor")
        await members.locator("#member-form button[type=submit]").click()
        vic = members.locator("tr[data-member]", has_text="vic@example.com")
        await expect(vic.locator(".member-role")).to_have_value("editor")
        await vic.locator(".member-role").select_option("reviewer")
        await expect(vic).to_contain_text("Role changed")
        listed = (await admin.get(f"/projects/{project_id}/members")).json()
        # (the first admin of an install administers the projects that existed before it)
        assert [(m["email"], m["role"]) for m in listed] == [
            ("ada@example.com", "admin"),
            ("vic@example.com", "reviewer"),
        ]
        await shot(page, "accounts-members")
        await vic.locator(".member-remove").click()
        await page.locator("#confirm-ok").click()
        await expect(members.locator("tr[data-member]")).to_have_count(1)
        listed = (await admin.get(f"/projects/{project_id}/members")).json()
        assert [m["email"] for m in listed] == ["ada@example.com"]
        await members.locator("button[aria-label=Close]").click()

        # The review gate's settings are the project's.
        await page.locator(f'#projects tr[data-project="{project_id}"] button.project-tools').click()
        tools = page.locator("#project-tools")
        await tools.locator("#review-required").check()
        await tools.locator("#instructions-save").click()
        await expect(tools.locator("[role=status]")).to_have_text("Saved")
        assert (await admin.get(f"/projects/{project_id}")).json()["review_required"] is True
