"""What every browser test shares."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.support.harness import WAIT_S


@pytest.fixture(autouse=True, scope="session")
def generous_expectations() -> None:
    """An `expect(...)` waits WAIT_S for its state, as every other wait of the suite (Playwright's own
    default is 5 s, which a dialog on two busy cores can pass): a deadline catches a hang, not noise."""
    expect.set_options(timeout=WAIT_S * 1000)
