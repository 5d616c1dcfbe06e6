"""The message tables: every language has every message (with the same parameters), every key the
page, the CLI and the exports ask for exists, every visible text of index.html is a message; and the
language a reader gets."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from importlib import resources
from typing import Any

import pytest
from httpx import AsyncClient

from testgen.core.i18n import UI_LANGUAGES, label, negotiate, table, ui_language
from testgen.core.messages import NO_WORKER_RUNNING
from testgen.data import job_states
from tests.support.harness import ROOT

SRC = ROOT / "src" / "testgen"
WEB = SRC / "web"
PARAM = re.compile(r"\{(\w+)\}")


def _params(text: str) -> set[str]:
    return set(PARAM.findall(text))


@pytest.mark.parametrize("language", [lang for lang in UI_LANGUAGES if lang != "en"])
def test_every_table_has_every_message_with_the_same_parameters(language: str) -> None:
    english, other = table("en"), table(language)
    assert sorted(set(english) - set(other)) == [], f"missing from {language}"
    assert sorted(set(other) - set(english)) == [], f"only in {language}"
    for key, text in english.items():
        assert other[key].strip(), f"{language}: {key} is empty"
        assert _params(other[key]) == _params(text), f"{language}: {key} has other parameters"


def _used_keys() -> tuple[set[str], set[str]]:
    """The keys the page's scripts and the Python code ask for: literal ones, and the prefixes of
    computed ones (translate(`role.${role}`))."""
    literal: set[str] = set()
    prefixes: set[str] = set()
    for path in [*WEB.glob("*.js"), *SRC.rglob("*.py")]:
        text = path.read_text("utf-8")
        literal |= set(re.findall(r"\btranslate\(\s*\"([\w.]+)\"", text))
        literal |= set(re.findall(r"\blabel\([^,()]+,\s*[\"']([\w.]+)[\"']", text))
        prefixes |= set(re.findall(r"\btranslate\(\s*`([\w.]+)\$\{", text))
        literal |= set(re.findall(r"\bsay\(\s*\"([\w.]+)\"", text))
        prefixes |= set(re.findall(r"\b(?:say|label)\((?:[^,()]+,\s*)?f\"([\w.]+)\{", text))
        for a, b in re.findall(r"\btranslate\([^()]*\?\s*\"([\w.]+)\"\s*:\s*\"([\w.]+)\"", text):
            literal |= {a, b}
    return literal, prefixes


def test_every_key_asked_for_exists() -> None:
    literal, prefixes = _used_keys()
    assert len(literal) > 40 and {"role.", "priority.", "language.", "cli.status."} <= prefixes
    assert {"cli.queued", "export.acceptance_criteria", "badge.generating"} <= literal  # the scan finds them
    english = table("en")
    assert sorted(literal - set(english)) == []
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in english), prefix


def test_every_computed_key_exists() -> None:
    english = table("en")
    described = job_states.describe()
    assert {f"role.{role}" for role in described["roles"]} <= set(english)
    assert {f"story_state.{name}" for name in described["story_states"]} <= set(english)
    assert {f"priority.{p}" for p in ("low", "medium", "high", "critical")} <= set(english)
    assert {f"language.{code}" for code in UI_LANGUAGES} <= set(english)


class _Texts(HTMLParser):
    """The visible texts of a page: text nodes, placeholders, ARIA labels and titles."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: set[str] = set()
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "title"):
            self._hidden += 1
        self.texts |= {
            " ".join(v.split()) for k, v in attrs if k in ("placeholder", "aria-label", "title") and v
        }

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "title"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.texts.add(" ".join(data.split()))


def test_every_text_of_the_page_is_a_message() -> None:
    parser = _Texts()
    parser.feed((resources.files("testgen") / "web" / "index.html").read_text("utf-8"))
    page_messages = {
        " ".join(v.split()) for k, v in table("en").items() if k.startswith(("page.", "priority."))
    }
    assert len(parser.texts) > 60
    assert sorted(parser.texts - page_messages) == [], "texts of index.html missing from the tables"


def test_a_message_without_parameters_keeps_its_braces() -> None:
    assert label("en", "badge.generating") == "Generating {percent}%"  # the page fills it in


def test_the_old_tools_wording() -> None:
    spanish = table("es")
    assert spanish["role.waiting"] == "En cola"
    assert spanish["role.starting"] == "Iniciando…"
    assert label("es", "badge.generating", percent=42) == "Generando 42%"
    assert spanish["role.ready"] == "Listo para revisar"
    assert spanish["role.error"] == "Error"
    assert spanish["action.queue"] == "Encolar generación"


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("es-ES,es;q=0.9,en;q=0.8", "es"),
        ("en-US,en;q=0.9,es;q=0.8", "en"),
        ("fr-FR, es;q=0.5", "es"),  # French has no table: the next one that has
        ("en;q=0.4, es-MX;q=0.9", "es"),  # by quality, not by order
        ("es;q=0, en", "en"),  # q=0: not wanted
        ("fr, de", "en"),
        ("", "en"),
        (None, "en"),
        ("es;q=abc, ;;, *", "en"),
        ("x" * 5000, "en"),
        ("en;q=1, es", "en"),  # a missing q is 1: a tie, and the first one wins
        ("en;q=1, es;q=0.5", "en"),
        ("fr;q=abc, es", "es"),  # a malformed part is skipped, the rest still counts
        ("es-ES-x-test", "es"),
        ("es;q=0", "en"),
        ("x" * 998 + ",es", "en"),  # only the first 1,000 characters are read
        ("x" * 995 + ",es", "es"),
        (",".join(["fr"] * 50 + ["es"]), "en"),  # and only the first 50 languages
        (",".join(["fr"] * 49 + ["es"]), "es"),
    ],
)
def test_accept_language_is_negotiated(header: str | None, language: str) -> None:
    assert negotiate(header) == language


def test_a_bcp47_tag_picks_its_table() -> None:
    assert ui_language("es-419") == "es" and ui_language("pt-BR") == "en" and ui_language(None) == "en"


def _table(script: str) -> dict[str, Any]:
    prefix = "window.TESTGEN_MESSAGES = "
    assert script.startswith(prefix) and script.endswith(";\n")
    data: dict[str, Any] = json.loads(script[len(prefix) : -2])
    return data


async def test_the_page_gets_the_table_of_its_language(client: AsyncClient) -> None:
    r = await client.get("/static/messages.js", headers={"Accept-Language": "es-ES,es;q=0.9"})
    # The table varies with the language and the session; gzip adds Accept-Encoding.
    assert r.status_code == 200 and r.headers["vary"] == "Accept-Language, Cookie, Accept-Encoding"
    assert r.headers["content-type"].startswith("text/javascript")
    body = _table(r.text)
    assert body["language"] == "es" and body["languages"] == ["en", "es"]
    assert body["messages"]["role.ready"] == "Listo para revisar"
    assert body["source"]["role.ready"] == "Ready for review"
    client.cookies.set("testgen_language", "en")
    chosen = await client.get("/static/messages.js", headers={"Accept-Language": "es"})
    assert _table(chosen.text)["language"] == "en"  # the page's setting wins over the browser's
    client.cookies.set("testgen_language", "x" * 500 + "<script>")
    odd = await client.get("/static/messages.js", headers={"Accept-Language": "es"})
    assert odd.status_code == 200 and _table(odd.text)["language"] == "en"  # no table of that name
    client.cookies.clear()
    huge = await client.get("/static/messages.js", headers={"Accept-Language": "es," + "x" * 5000})
    assert huge.status_code == 200 and _table(huge.text)["language"] == "es"  # bounded, never refused


def test_the_no_worker_warning_is_the_servers_message_in_each_language() -> None:
    """The page shows the server's NO_WORKER_RUNNING from its table: the English entry must stay the
    server's own text, and the Spanish one must be translated."""
    assert table("en")["badge.no_worker"] == NO_WORKER_RUNNING
    assert (
        table("es")["badge.no_worker"] != NO_WORKER_RUNNING
        and "testgen worker" in table("es")["badge.no_worker"]
    )
