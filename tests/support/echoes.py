"""How the fakes echo a credential they received (as servers and proxies do, not always verbatim), and
the check that a text carries no echo of a secret, written apart from the scrubber it checks."""

from __future__ import annotations

import base64
from urllib.parse import unquote_plus

# "exact" quotes it as received; the others alter it as some servers do before quoting it.
ECHO_STYLES = ("exact", "truncated", "middle", "lower", "upper", "spaced", "url", "url_twice")
ALTERED_STYLES = ECHO_STYLES[1:]
RUN = 8  # letters and digits of a secret in a row that count as a leak


def altered(value: str, style: str) -> str:
    """`value` as a server echoing it in `style` would quote it."""
    if style == "exact":
        return value
    if style == "truncated":  # the first two thirds
        return value[: len(value) * 2 // 3]
    if style == "middle":  # a piece from the middle, as a log excerpt or a "…" abbreviation leaves
        return "…" + value[len(value) // 4 : len(value) * 3 // 4] + "…"
    if style == "lower":
        return value.lower()
    if style == "upper":
        return value.upper()
    if style == "spaced":
        return " ".join(value)
    if style == "url":  # every byte percent-encoded
        return "".join(f"%{b:02X}" for b in value.encode())
    if style == "url_twice":
        return "".join(f"%25{b:02X}" for b in value.encode())
    raise ValueError(f"unknown echo style {style!r}")


def _letters(text: str) -> str:
    for _ in range(4):
        text = unquote_plus(text)
    return "".join(c for c in text.lower() if c.isalnum())


def echoes(secret: str, text: str) -> list[str]:
    """The runs of RUN letters and digits of `secret` (or of its base64, at any alignment) that `text`
    holds in any case, percent-encoded, or with other characters between them."""
    forms = [secret]
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + secret.encode()).decode()
        forms.append(encoded[-(-shift * 8 // 6) : (shift + len(secret.encode())) * 8 // 6])
    found = _letters(text)
    runs = []
    for form in forms:
        letters = _letters(form)
        runs += [letters[i : i + RUN] for i in range(len(letters) - RUN + 1) if letters[i : i + RUN] in found]
    return runs


def assert_no_echo(secret: str, *texts: str) -> None:
    for text in texts:
        runs = echoes(secret, text)
        assert not runs, f"an echo of the secret got through: {runs[:3]}"
