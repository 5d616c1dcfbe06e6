"""Feature files in every dialect of gherkin-official's table: written with that dialect's keywords and
`# language:` header, and parsed back by gherkin-official itself (no server, no worker)."""

from __future__ import annotations

import sys
from typing import Any

import pytest
from gherkin.dialect import DIALECTS
from gherkin.gherkin_line import GherkinLine
from gherkin.parser import Parser
from gherkin.pickles.compiler import Compiler
from gherkin.token import Token
from gherkin.token_scanner import TokenScanner

from testgen.api.services.export import to_gherkin
from testgen.api.services.tool_exports import to_tagged_gherkin
from testgen.core.languages import dialect_key, gherkin_keywords
from tests.unit.test_export_formats import SCENARIOS, case, story


def _description(key: str) -> str:
    """Free text whose lines start with every block keyword of the dialect (they must be escaped)."""
    table: dict[str, Any] = dict(DIALECTS[key])
    words = [w for name in ("feature", "background", "rule", "scenario", "examples") for w in table[name]]
    return "\n".join(["Free text", *(f"{w}: not a block" for w in words), "# not a comment"])


@pytest.mark.parametrize("key", sorted(DIALECTS))
def test_every_dialect_exports_a_feature_that_parses(key: str) -> None:
    words = gherkin_keywords(key)
    cases = [case(1, [0], ["logged in", "has a card"]), case(2, [], [])]
    for text in (
        to_gherkin(story(_description(key)), cases, key),
        to_tagged_gherkin(story(_description(key)), cases, key),
    ):
        assert text.startswith(f"# language: {key}\n")
        document = Parser().parse(text)
        feature = document["feature"]
        assert feature["language"] == key
        assert feature["keyword"] == words.feature
        assert feature["name"] == "Pay by card"
        assert not any("scenario" not in c and "rule" not in c for c in feature["children"]), (
            "a description line became a block"
        )
        scenarios = [c["scenario"] for c in feature["children"] if "scenario" in c]
        scenarios += [
            c["scenario"]
            for r in feature["children"]
            if "rule" in r
            for c in r["rule"]["children"]
            if "scenario" in c
        ]
        assert len(scenarios) == 4
        for scenario, source in zip(scenarios, SCENARIOS * 2, strict=True):
            assert scenario["keyword"] == words.scenario
            expected = [
                (keyword, kind) if i == 0 else (words.and_, "Conjunction")
                for keyword, kind, group in (
                    (words.given, "Context", source["given"]),
                    (words.when, "Action", source["when"]),
                    (words.then, "Outcome", source["then"]),
                )
                for i, _ in enumerate(group)
            ]
            assert [(s["keyword"], s["keywordType"]) for s in scenario["steps"]] == expected
            texts = [*source["given"], *source["when"], *source["then"]]
            assert [s["text"] for s in scenario["steps"]] == [" ".join(t.split()) for t in texts]
        assert len(Compiler().compile({**document, "uri": f"{key}.feature"})) == 4


def test_spanish_feature_uses_the_spanish_keywords() -> None:
    text = to_gherkin(story("", ("la tarjeta funciona",)), [case(1, [0], ["sesión iniciada"])], "es")
    lines = text.splitlines()
    assert lines[:3] == ["# language: es", "@story-US-7", "Característica: Pay by card"]
    assert "  Criterios de aceptación:" in lines
    assert "  # Precondiciones: sesión iniciada" in lines
    assert "  Escenario: first" in lines
    assert [line.split()[0] for line in lines[-11:-6]] == ["Dado", "Y", "Cuando", "Entonces", "Y"]
    tagged = to_tagged_gherkin(story("", ()), [case(1, [0], ["sesión iniciada"])], "es").splitlines()
    assert "  Regla: Case 1" in tagged
    assert "    Antecedentes:" in tagged
    assert "      Dado sesión iniciada" in tagged


@pytest.mark.parametrize(
    ("tag", "key"), [("pt-BR", "pt"), ("en-AU", "en-au"), ("zh", "zh-CN"), ("es-419", "es"), ("sw", "en")]
)
def test_a_language_tag_finds_its_dialect(tag: str, key: str) -> None:
    assert dialect_key(tag) == key


# What cucumber-js's GherkinLine skips at the start of a line (`/^\s+/`): JavaScript's whitespace,
# which takes U+FEFF too, where gherkin-official's Python line uses str.lstrip.
JS_WHITESPACE = "\t\n\v\f\r \u00a0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
JS_WHITESPACE += "\u2028\u2029\u202f\u205f\u3000\ufeff"
SKIPPED = sorted({c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()} | set(JS_WHITESPACE))


class _JsLine(GherkinLine):
    def __init__(self, line_text: str, line_number: int) -> None:
        super().__init__(line_text, line_number)
        self._trimmed_line_text = line_text.lstrip(JS_WHITESPACE)
        self.indent = len(line_text) - len(self._trimmed_line_text)


class _JsTokenScanner(TokenScanner):
    """gherkin-official's scanner with lines trimmed as cucumber-js trims them."""

    def read(self) -> Token:
        self.line_number += 1
        line = self.io.readline()
        return Token(_JsLine(line, self.line_number) if line else line, {"line": self.line_number})


@pytest.mark.parametrize("key", ["en", "es"])
@pytest.mark.parametrize("scanner", [TokenScanner, _JsTokenScanner], ids=["python", "javascript"])
def test_blocks_injected_after_skipped_characters_stay_description(
    key: str, scanner: type[TokenScanner]
) -> None:
    words = gherkin_keywords(key)
    injected = [f"{words.scenario}: injected", f"{words.rule}: injected", "@injected", "# injected"]
    for char in SKIPPED:
        description = "\n".join(f"{char}{line}" for line in ["Free text", *injected])
        cases = [case(1, [0], ["logged in"])]
        for text in (
            to_gherkin(story(description), cases, key),
            to_tagged_gherkin(story(description), cases, key),
        ):
            feature = Parser().parse(scanner(text))["feature"]
            assert feature["description"].count("injected") == len(injected), f"U+{ord(char):04X}"
            assert not feature["tags"][1:], f"U+{ord(char):04X}"
