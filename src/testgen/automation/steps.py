"""The steps of feature files, unified: steps that differ only in quoted strings and numbers are one
step with parameters, a Scenario Outline's placeholders are parameters, And/But (and `*`) take the
keyword of the step before them. The features are read with gherkin-official, as any runner reads
them, in whatever dialect their `# language:` header names.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gherkin.errors import CompositeParserException, ParserException
from gherkin.parser import Parser

from testgen.domain.automation import MAX_AUTOMATION_STEPS


class StepKind(StrEnum):
    given = "given"
    when = "when"
    then = "then"


class SlotKind(StrEnum):
    string = "string"  # a quoted string, quotes included in the step's text
    number = "number"  # an integer or a decimal
    any = "any"  # an outline placeholder whose examples are not all numbers


@dataclass
class Slot:
    kind: SlotKind
    name: str  # a valid identifier, unique within its step
    quote: str = ""  # the quote around a string: '"' or "'"
    decimal: bool = False  # a number that some use of the step writes with a decimal point


Part = str | Slot  # literal text or a parameter


@dataclass
class StepDefinition:
    kind: StepKind
    parts: list[Part]
    text: str  # the step as the first scenario that uses it writes it
    scenarios: list[str] = field(default_factory=list)  # "Feature: Scenario", each once, in order
    uses: int = 0
    texts: set[str] = field(default_factory=set)  # its distinct texts (up to MAX_TEXTS_KEPT)

    @property
    def slots(self) -> list[Slot]:
        return [part for part in self.parts if isinstance(part, Slot)]


@dataclass(frozen=True)
class StepCatalog:
    definitions: list[StepDefinition]
    occurrences: int  # the steps of every scenario (and background) of every feature


class FeatureError(ValueError):
    """A feature file that gherkin-official does not parse, or too many steps."""


_KINDS = {"Context": StepKind.given, "Action": StepKind.when, "Outcome": StepKind.then}
_TOKEN = re.compile(
    r"""(?P<dq>"[^"]*")"""
    r"""|(?P<sq>(?<!\w)'[^']*'(?!\w))"""
    r"""|(?P<ph><[^<>\s][^<>]*>)"""
    r"""|(?P<num>(?<![\w.,-])-?\d+(?:\.\d+)?(?!\w|[.,]\d))"""
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_PLACEHOLDER_ONLY = re.compile(r"<([^<>]+)>")
# Parameter names that would shadow a keyword, a builtin type, what a step function receives or what
# its body calls (`test.fixme`, a proposed body's `expect`).
RESERVED_NAMES = frozenset(
    {
        *keyword.kwlist,
        *("context", "request", "page", "self", "test", "expect"),
        *("any", "boolean", "number", "string", "symbol"),
    }
    | set(
        re.findall(
            r"\w+",
            """break case catch class const continue debugger default delete do else enum export extends
            false finally for function if import in instanceof new null return super switch this throw
            true try typeof var void while with let static yield await implements interface package
            private protected public""",
        )
    )
)


def identifier(text: str, fallback: str = "step", max_length: int = 60) -> str:
    """A lower-case ASCII identifier from any text: accents dropped (é: e), other letters and
    punctuation as `_`; `fallback` when nothing is left, a leading digit prefixed."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    name = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")[:max_length].rstrip("_")
    if not name:
        return fallback
    return f"_{name}" if name[0].isdigit() else name


def parse_feature(text: str) -> dict[str, Any]:
    try:
        document: dict[str, Any] = dict(Parser().parse(text))
    except (CompositeParserException, ParserException) as exc:
        raise FeatureError(f"not a valid feature file: {exc}") from exc
    return document


@dataclass(frozen=True)
class _Use:
    kind: StepKind
    text: str
    scenario: str
    placeholders: Mapping[str, SlotKind | None]  # an outline's placeholders: number, any; None: decimal


def _scenarios(feature: Mapping[str, Any]) -> Iterator[tuple[Mapping[str, Any], list[Mapping[str, Any]]]]:
    """Each scenario with the backgrounds that run before it (the feature's, its rule's)."""
    backgrounds: list[Mapping[str, Any]] = []
    for child in feature.get("children", []):
        if "background" in child:
            backgrounds.append(child["background"])
        elif "scenario" in child:
            yield child["scenario"], backgrounds
        elif "rule" in child:
            rule_backgrounds = list(backgrounds)
            for grandchild in child["rule"].get("children", []):
                if "background" in grandchild:
                    rule_backgrounds.append(grandchild["background"])
                elif "scenario" in grandchild:
                    yield grandchild["scenario"], rule_backgrounds


def _placeholders(scenario: Mapping[str, Any]) -> dict[str, SlotKind | None]:
    """An outline's columns: a number where every example is one (None: some with a decimal point)."""
    columns: dict[str, SlotKind | None] = {}
    for examples in scenario.get("examples", []):
        header = [cell["value"] for cell in examples.get("tableHeader", {}).get("cells", [])]
        for name in header:
            columns.setdefault(name, SlotKind.number)
        for row in examples.get("tableBody", []):
            for name, cell in zip(header, row.get("cells", []), strict=False):
                value = cell["value"]
                if not _NUMBER.fullmatch(value):
                    columns[name] = SlotKind.any
                elif "." in value and columns[name] is SlotKind.number:
                    columns[name] = None
    return columns


def _uses(document: Mapping[str, Any]) -> Iterator[_Use]:
    feature = document.get("feature")
    if not feature:
        return
    feature_name = " ".join(feature.get("name", "").split())
    seen_backgrounds: set[int] = set()
    for scenario, backgrounds in _scenarios(feature):
        placeholders = _placeholders(scenario)
        blocks = [b for b in backgrounds if id(b) not in seen_backgrounds] + [scenario]
        seen_backgrounds.update(id(b) for b in backgrounds)  # a background's steps are counted once
        for block in blocks:
            label = f"{feature_name}: {' '.join((block.get('name') or block.get('keyword', '')).split())}"
            kind = StepKind.given
            for step in block.get("steps", []):
                kind = _KINDS.get(step.get("keywordType", ""), kind)  # Conjunction, Unknown: the one before
                yield _Use(kind, step["text"], label, placeholders if block is scenario else {})


def _parts(use: _Use, case_sensitive: bool, any_quote: bool) -> tuple[list[Part], tuple[str, ...]]:
    """The step's text as literal parts and parameters, and its key: two steps with the same key are
    one definition (strings, numbers and placeholders stand as their kind; with `any_quote`, a string
    whatever its quote, the empty one too)."""
    parts: list[Part] = []
    key: list[str] = []
    names: set[str] = set()

    def slot(kind: SlotKind, base: str, quote: str = "", decimal: bool = False) -> Slot:
        name = identifier(base, kind.value if kind is not SlotKind.any else "value", 30)
        if name.startswith("_"):  # parse passes such a field by position, not by its name
            name = "value" + name
        if name in RESERVED_NAMES:
            name += "_value"
        candidate, n = name, 1
        while candidate in names:
            n += 1
            candidate = f"{name}_{n}"
        names.add(candidate)
        return Slot(kind, candidate, quote, decimal)

    def literal(text: str) -> None:
        if text:
            parts.append(text)
            key.append(text if case_sensitive else text.casefold())

    position = 0
    for match in _TOKEN.finditer(use.text):
        literal(use.text[position : match.start()])
        position = match.end()
        token = match.group()
        if match.lastgroup in ("dq", "sq"):
            inner = token[1:-1]
            if not inner and not any_quote:
                literal(token)
                continue
            only = _PLACEHOLDER_ONLY.fullmatch(inner)
            parts.append(slot(SlotKind.string, only[1] if only else "text", token[0]))
            key.append("\0string" if any_quote else f"\0string{token[0]}")
        elif match.lastgroup == "ph":
            name = token[1:-1]
            if name not in use.placeholders:
                literal(token)
                continue
            kind = use.placeholders[name]
            parts.append(slot(kind or SlotKind.number, name, decimal=kind is None))
            key.append("\0any" if kind is SlotKind.any else "\0number")
        else:
            parts.append(slot(SlotKind.number, "num", decimal="." in token))
            key.append("\0number")
    literal(use.text[position:])
    return parts, tuple(key)


def _merge(parts: list[Part], definition: StepDefinition) -> None:
    """A use of a definition with a decimal where the definition saw integers makes it a decimal."""
    for mine, theirs in zip(definition.parts, parts, strict=True):
        if isinstance(mine, Slot) and isinstance(theirs, Slot) and theirs.decimal:
            mine.decimal = True


def unify(
    features: Sequence[str],
    *,
    keyword_scoped: bool = True,
    case_sensitive: bool = False,
    any_quote: bool = False,
) -> StepCatalog:
    """One definition per distinct step of `features` (their texts), in the order of first use.

    `keyword_scoped`: a Given and a Then with the same text are two definitions (pytest-bdd, behave);
    without it one (Cucumber expressions match any keyword). `case_sensitive`: whether steps that
    differ in case are two (Cucumber expressions) or one (parse patterns match either case).
    `any_quote`: a string parameter matches either quote and the empty string (Cucumber's `{string}`),
    so steps that differ in those are one; without it, its own quote and a character at least (parse's
    `"{text}"`): an empty string stays text."""
    by_key: dict[tuple[object, ...], StepDefinition] = {}
    occurrences = 0
    for text in features:
        for use in _uses(parse_feature(text)):
            occurrences += 1
            if occurrences > MAX_AUTOMATION_STEPS:
                raise FeatureError(f"more than {MAX_AUTOMATION_STEPS} steps: make the skeleton per story")
            parts, key = _parts(use, case_sensitive, any_quote)
            full_key = (use.kind if keyword_scoped else None, *key)
            definition = by_key.get(full_key)
            if definition is None:
                definition = by_key[full_key] = StepDefinition(use.kind, parts, use.text)
            else:
                _merge(parts, definition)
            definition.uses += 1
            if len(definition.texts) <= MAX_TEXTS_KEPT:
                definition.texts.add(use.text)
            if use.scenario not in definition.scenarios:
                definition.scenarios.append(use.scenario)
    definitions = _fold_into_outlines(list(by_key.values()), keyword_scoped, case_sensitive, any_quote)
    return StepCatalog(definitions, occurrences)


MAX_TEXTS_KEPT = 100  # a definition with more distinct texts is never folded into another


def _matcher(definition: StepDefinition, case_sensitive: bool, any_quote: bool) -> re.Pattern[str]:
    """What a definition's pattern matches, as a regular expression (strings, numbers, anything)."""
    out = []
    for part in definition.parts:
        if isinstance(part, str):
            out.append(re.escape(part))
        elif part.kind is SlotKind.string:
            out.append("(?:\"[^\"]*\"|'[^']*')" if any_quote else f"{part.quote}[^{part.quote}]*{part.quote}")
        elif part.kind is SlotKind.number:
            out.append(r"-?\d+(?:\.\d+)?")
        else:
            out.append(".+")
    return re.compile("".join(out), 0 if case_sensitive else re.IGNORECASE)


def _fold_into_outlines(
    definitions: list[StepDefinition], keyword_scoped: bool, case_sensitive: bool, any_quote: bool
) -> list[StepDefinition]:
    """A step that an outline's step with a free placeholder matches (`a user "x" with role admin`,
    `a user "<email>" with role <role>`) is that step: one definition, not two that match the same
    text (Cucumber refuses such a step as ambiguous)."""
    general = [
        (d, _matcher(d, case_sensitive, any_quote))
        for d in definitions
        if any(s.kind is SlotKind.any for s in d.slots)
    ]
    if not general:
        return definitions
    kept = []
    for definition in definitions:
        target = None
        if (
            all(s.kind is not SlotKind.any for s in definition.slots)
            and len(definition.texts) <= MAX_TEXTS_KEPT
        ):
            target = next(
                (
                    g
                    for g, matcher in general
                    if (g.kind is definition.kind or not keyword_scoped)
                    and all(matcher.fullmatch(text) for text in definition.texts)
                ),
                None,
            )
        if target is None:
            kept.append(definition)
            continue
        target.uses += definition.uses
        target.scenarios += [s for s in definition.scenarios if s not in target.scenarios]
    return kept
