"""The scrubber of secrets in text a server sent back (core/redaction.py): every echo of a secret, however
altered, becomes `[redacted]`; text that holds none is left as it is; the work is bounded."""

from __future__ import annotations

import base64

import pytest

from testgen.core.redaction import MAX_SCRUBBED_CHARS, REDACTED, Scrubber
from tests.support.echoes import ECHO_STYLES, altered, assert_no_echo, echoes

KEY = "sk-proj-test-5e3b1c9d7f2a4b6c8d0e"
TOKEN = "ATATT3xFfGF0-jira_Token+Value/42=="
EMAIL = "qa@example.com"
BASIC = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()


@pytest.mark.parametrize("style", ECHO_STYLES)
@pytest.mark.parametrize("secret", [KEY, TOKEN, f"Basic {BASIC}", f"{EMAIL}:{TOKEN}"])
def test_every_echo_of_a_secret_is_redacted(style: str, secret: str) -> None:
    scrub = Scrubber(KEY, TOKEN, BASIC)
    text = f"401 Unauthorized: you sent {altered(secret, style)}, which we do not know."
    assert echoes(TOKEN, text) or echoes(KEY, text)  # the oracle sees the echo...
    scrubbed = scrub(text)
    assert_no_echo(TOKEN, scrubbed)  # ...and none is left
    assert_no_echo(KEY, scrubbed)
    # The text around stays (a letter next to an echo may go with it, when the secret goes on with it).
    assert scrubbed.startswith("401 Unauthorized: you sent ") and scrubbed.endswith("we do not know.")
    assert REDACTED in scrubbed


def test_only_the_echo_goes_and_one_marker_stands_for_it() -> None:
    scrub = Scrubber(KEY)
    assert scrub(f"bad key {KEY}!") == f"bad key {REDACTED}!"
    assert scrub(f"key ending {KEY[-10:]}") == f"key ending {REDACTED}"
    assert scrub(f"bad key {KEY.upper()}!") == f"bad key {REDACTED}!"
    assert scrub(f"spaced: {' '.join(KEY)} (end)") == f"spaced: {REDACTED} (end)"
    assert scrub(f"twice {KEY[:12]} or {KEY[-12:]}.") == f"twice {REDACTED} or {REDACTED}."
    header = Scrubber(TOKEN, BASIC)
    assert BASIC.endswith("=") and header(f"(received: Basic {BASIC})") == f"(received: Basic {REDACTED})"


def test_runs_shorter_than_eight_characters_and_unrelated_text_stay() -> None:
    scrub = Scrubber(KEY, TOKEN)
    for text in ("no secret here, only 5e3b1c9", "sk-proj is a prefix", "a token", "", "%41%4"):
        assert scrub(text) == text
        assert not scrub.leaks(text)
    assert Scrubber(None, "", "  ")("anything") == "anything"
    assert not Scrubber(None)


def test_the_token_inside_a_basic_header_is_found_whatever_the_email() -> None:
    """The header's base64 is found from the token alone, at each of the three alignments."""
    scrub = Scrubber(TOKEN)
    for email in ("a@b.c", "ab@b.c", "abc@b.c"):
        header = base64.b64encode(f"{email}:{TOKEN}".encode()).decode()
        assert_no_echo(TOKEN, scrub(f"Basic {header}"), scrub(f"Basic {header.lower()}"))


def test_a_short_secret_is_found_only_whole() -> None:
    scrub = Scrubber("ab1-x9")  # under eight letters and digits: all of them make a leak, in any form
    assert scrub("x AB1 X9 y") == f"x {REDACTED} y"
    assert scrub("x ab1 y") == "x ab1 y"
    tiny = Scrubber("a-_b")  # under four: replaced only as it is written
    assert tiny("x a-_b y") == f"x {REDACTED} y"
    assert tiny("a b, A-_B") == "a b, A-_B"


def test_a_hostile_text_is_cut_before_it_is_read() -> None:
    scrub = Scrubber(KEY)
    long = "%25" * (MAX_SCRUBBED_CHARS * 4) + KEY
    scrubbed = scrub(long)
    assert len(scrubbed) == MAX_SCRUBBED_CHARS and scrubbed.endswith("…")
    assert scrub.leaks(long)  # too long to read whole: it may hide one
    assert scrub(f"{KEY} " + "x" * MAX_SCRUBBED_CHARS).startswith(f"{REDACTED} x")


def test_a_cause_is_chained_only_when_it_cannot_leak() -> None:
    scrub = Scrubber(KEY)
    clean = ValueError("nothing secret")
    assert scrub.safe_cause(clean) is clean
    assert scrub.safe_cause(ValueError(KEY.upper())) is None
    assert scrub.safe_cause(ValueError("x", KEY[4:14])) is None
