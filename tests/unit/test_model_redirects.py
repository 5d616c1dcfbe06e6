"""The message of a model server's redirect (generation/llm/redirects.py) names where it pointed without
repeating a hostile Location whole: no credentials, query, control characters, nor more than a bound."""

from __future__ import annotations

from testgen.core.redaction import Scrubber
from testgen.generation.llm.redirects import MAX_TARGET_CHARS, redirect_error

KEY = "AIzaSy-test-key-5e3b1c9d7f"


def message(location: str | None, request_url: str = "http://models.local/v1beta/models/m:x") -> str:
    error = redirect_error(
        "Gemini", "http://models.local", "GEMINI_BASE_URL", 302, location, request_url, Scrubber(KEY)
    )
    assert error.type == "configuration"
    return error.message


def test_the_target_is_named_without_credentials_query_or_fragment() -> None:
    text = message(f"https://user:pw@other.example:8443/v1beta/models/m:x?key={KEY}#frag")
    assert "a redirect to https://other.example:8443/v1beta/models/m:x;" in text
    assert "pw" not in text and "key=" not in text and "frag" not in text
    assert "Set GEMINI_BASE_URL to the final base URL" in text


def test_a_relative_location_is_read_against_the_request() -> None:
    assert "a redirect to http://models.local/v2/models/m:x;" in message("/v2/models/m:x")


def test_a_hostile_location_is_bounded_printable_and_scrubbed() -> None:
    text = message("https://other.example/" + "a\x1b[2J\u202e" * 500)
    assert "\x1b" not in text and "\u202e" not in text
    target = text.split("a redirect to ", 1)[1].split(";", 1)[0]
    assert len(target) == MAX_TARGET_CHARS and target.endswith("…")
    assert KEY.upper() not in message(f"https://other.example/{KEY.upper()}/x")
    assert "an address it did not give" in message(None) and "an address it did not give" in message(" ")
    assert "an address that is not a URL" in message("http://[::1")
