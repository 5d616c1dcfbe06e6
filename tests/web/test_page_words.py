"""The words of the page's accounts, roles, review gate and history (web/words.js): every key a script
asks `word()` for has its English text there or in the message tables, and every text there is asked
for. Read from the files, so it holds without Node or a browser."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from testgen.core.i18n import table

WEB = Path(str(resources.files("testgen") / "web"))


def english_texts() -> dict[str, str]:
    """The keys and texts of words.js's ENGLISH table."""
    source = (WEB / "words.js").read_text("utf-8")
    body = source[source.index("export const ENGLISH = {") : source.index("\n};")]
    return dict(re.findall(r'^\s*"([\w.]+)":\s*"((?:[^"\\]|\\.)*)"', body, flags=re.MULTILINE))


def asked_keys() -> set[str]:
    """The keys the scripts ask word() for: literal ones, and both of a `cond ? "a" : "b"`."""
    keys: set[str] = set()
    for path in WEB.glob("*.js"):
        text = path.read_text("utf-8")
        keys |= set(re.findall(r'\bword\(\s*"([\w.]+)"', text))
        for a, b in re.findall(r'\bword\([^()"]*\?\s*"([\w.]+)"\s*:\s*"([\w.]+)"', text):
            keys |= {a, b}
    return keys


def test_every_word_asked_for_has_a_text() -> None:
    asked, english = asked_keys(), english_texts()
    assert len(asked) > 80 and {"account.sign_in", "users.deactivated", "users.reactivated"} <= asked
    assert sorted(asked - set(english) - set(table("en"))) == []


def test_every_text_is_asked_for() -> None:
    assert sorted(set(english_texts()) - asked_keys()) == []
