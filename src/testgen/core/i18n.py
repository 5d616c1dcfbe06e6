"""The words people read, in their language: one message table per language (core/locales/<lang>.json)
for the page, the CLI and the exports' labels; and which language a reader gets.

Every table has exactly the keys of the English one (tests/unit/test_messages.py fails otherwise). A
message may name parameters in braces (`{percent}`), filled by `label(..., percent=42)` here and by the
page's own formatter; the same names in every language.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import Any

UI_LANGUAGES = ("en", "es")  # the languages with a message table
UI_DEFAULT = "en"


@functools.cache
def table(language: str) -> dict[str, str]:
    """The message table of `language` (one of UI_LANGUAGES), read once."""
    if language not in UI_LANGUAGES:
        raise KeyError(f"no message table for {language!r}")
    text = resources.files("testgen.core").joinpath("locales", f"{language}.json").read_text("utf-8")
    data = json.loads(text)
    return {str(k): str(v) for k, v in data.items()}


def ui_language(tag: str | None) -> str:
    """The table for a BCP 47 tag: its own (by primary language), else English."""
    primary = re.split(r"[-_.@]", (tag or "").strip(), maxsplit=1)[0].lower()  # es-ES, es_ES.UTF-8
    return primary if primary in UI_LANGUAGES else UI_DEFAULT


def negotiate(accept_language: str | None) -> str:
    """The UI language an `Accept-Language` header asks for: the first of its languages (by q, then
    order) that has a table, else English. A malformed part is skipped; the header is bounded."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "")[:1000].split(",")[:50]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        primary = tag.strip().split("-", 1)[0].lower()
        if quality > 0 and primary in UI_LANGUAGES:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else UI_DEFAULT


def label(language: str, key: str, /, **params: Any) -> str:
    """Message `key` in the table for `language` (any BCP 47 tag), its parameters filled in."""
    text = table(ui_language(language))[key]
    return text.format(**params) if params else text
