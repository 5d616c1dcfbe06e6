"""The words of the page's accounts, tokens, users, members, review gate, inbox, story history,
connections and pushes come from the message tables (core/locales/<lang>.json) through i18n.js's
translate(), like every other text of the page: no script keeps English texts of its own, every
message of those groups is asked for, the Spanish table translates them, and every field of a
connection has its label. Read from the files, so it holds without Node or a browser."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from testgen.api.client_constants import client_constants
from testgen.core.i18n import UI_LANGUAGES, table

WEB = Path(str(resources.files("testgen") / "web"))
GROUPS = (
    "account.",
    "tokens.",
    "users.",
    "members.",
    "gate.",
    "inbox.",
    "history.",
    "dialog.",
    "connections.",
    "push.",
)


def asked_keys() -> set[str]:
    """The keys the scripts ask translate() for: literal ones, and both of a `cond ? "a" : "b"`."""
    keys: set[str] = set()
    for path in WEB.glob("*.js"):
        text = path.read_text("utf-8")
        keys |= set(re.findall(r'\btranslate\(\s*"([\w.]+)"', text))
        for a, b in re.findall(r'\btranslate\([^()"]*\?\s*"([\w.]+)"\s*:\s*"([\w.]+)"', text):
            keys |= {a, b}
    return keys


def group_keys() -> set[str]:
    return {key for key in table("en") if key.startswith(GROUPS)}


def test_every_word_of_the_groups_is_in_every_table() -> None:
    asked = {key for key in asked_keys() if key.startswith(GROUPS)}
    assert len(asked) > 80 and {"account.sign_in", "users.deactivated", "users.reactivated"} <= asked
    for language in UI_LANGUAGES:
        assert sorted(asked - set(table(language))) == [], language


def test_every_word_of_the_groups_is_asked_for() -> None:
    assert sorted(group_keys() - asked_keys()) == []


def test_no_script_keeps_words_of_its_own() -> None:
    assert not (WEB / "words.js").exists()
    for path in WEB.glob("*.js"):
        text = path.read_text("utf-8")
        assert not re.search(r"\bword\(", text), path.name
        assert "ENGLISH" not in text, path.name


def test_the_spanish_table_translates_the_groups() -> None:
    english, spanish = table("en"), table("es")
    same = sorted(key for key in group_keys() if spanish[key] == english[key])
    assert same == ["tokens.prefix"]  # "Token" in both


def test_every_setting_and_secret_of_a_connection_has_a_label_in_every_table() -> None:
    """The connection form labels each field of the server's table by `connection_field.<name>`."""
    names = {
        name
        for kind in client_constants().connection_kinds
        for name in [*(field.name for field in kind.settings), *kind.secrets]
    }
    assert {"url", "api_key", "requests_per_minute"} <= names
    labels = {f"connection_field.{name}" for name in names}
    for language in UI_LANGUAGES:
        assert sorted(labels - set(table(language))) == [], language
    assert sorted(key for key in table("en") if key.startswith("connection_field.")) == sorted(labels)
