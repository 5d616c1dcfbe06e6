"""The language of a story: BCP 47 tags, offline detection, and which language wins.

Detection uses lingua offline, among DETECTED_LANGUAGES only and in its low-accuracy mode (trigram
models): about 40 MB and 0.15 s to load on the first call. Among all of lingua's 75 languages, short
English texts came out as Nynorsk, and its high-accuracy mode takes 0.5-1 GB; a story in a language
outside the list gets its language from the story or the project setting. Gherkin's dialects come from
gherkin-official's own table (`gherkin-languages.json`).

A story's language is, in order: its own `language`, its project's `language`, the language detected
from its text, English. Text of `MIN_DETECT_WORDS` words or fewer is not detected (too short to tell).
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass
from typing import Any

from gherkin.dialect import DIALECTS
from lingua import Language, LanguageDetector, LanguageDetectorBuilder

DEFAULT_LANGUAGE = "en"
UNDETERMINED = "und"  # BCP 47's "undetermined": a story whose text is too short to tell
MAX_TAG_LENGTH = 35
MIN_DETECT_WORDS = 6  # five words or fewer fall back to the project's language, then English
MAX_DETECT_CHARS = 4_000  # enough to tell a language; bounds the work on a long story

# The languages detection chooses from (ISO 639-1): the most used ones, so that close relatives of theirs
# (Nynorsk, Galician, ...) do not take short texts from them.
DETECTED_LANGUAGES = (
    "en", "es", "pt", "fr", "de", "it", "nl", "pl", "ru", "uk", "tr", "ja", "zh", "ko",
    "sv", "ca", "da", "nb", "fi", "cs", "ro", "hu", "el", "he", "ar", "hi", "id", "vi",
)  # fmt: skip
# BCP 47 languages whose Gherkin dialect has another code.
_DIALECT_ALIASES = {"nb": "no", "nn": "no"}
_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*")  # after "_" became "-"
_SUBTAGS = r"(?:[_\-][A-Za-z0-9]{1,8})*"
_WORD = re.compile(r"\w+")


class UnknownLanguageError(ValueError):
    """A language tag that is malformed or names a language testgen does not know."""


def _primary(tag: str) -> str:
    return tag.split("-", 1)[0].lower()


@functools.cache
def _two_letter() -> dict[str, str]:
    """ISO 639-3 codes lingua knows → their ISO 639-1 code."""
    return {lang.iso_code_639_3.name.lower(): lang.iso_code_639_1.name.lower() for lang in Language.all()}


@functools.cache
def _known_primaries() -> frozenset[str]:
    lingua_codes = {lang.iso_code_639_1.name.lower() for lang in Language.all()}
    lingua_codes |= {lang.iso_code_639_3.name.lower() for lang in Language.all()}
    return frozenset(lingua_codes | {_primary(key) for key in DIALECTS})


def _caseless_alternation(words: list[str]) -> str:
    """A regex matching exactly `words` (lower-case ASCII) in any case, as a trie: `[Ee](?:[Nn][Gg]?|...)`."""
    tails: dict[str, list[str]] = {}
    for word in words:
        if word:
            tails.setdefault(word[0], []).append(word[1:])
    branches = [f"[{c.upper()}{c}]" + _caseless_alternation(rest) for c, rest in sorted(tails.items())]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" not in words:
        return body
    return body + "?" if len(branches) > 1 or len(body) == 4 else f"(?:{body})?"


@functools.cache
def tag_pattern() -> str:
    """The tags `normalize_tag` accepts, as an anchored regex read alike by ECMA-262 (JSON Schema),
    Python's `re` and HTML's `pattern`: a known language's ISO 639 code in any case, then subtags of 1
    to 8 letters or digits after "-" or "_"."""
    return f"^{_caseless_alternation(sorted(_known_primaries()))}{_SUBTAGS}$"


def normalize_tag(value: str) -> str:
    """`value` as a canonical BCP 47 tag (`pt-br` → `pt-BR`), or UnknownLanguageError saying why.
    A tag is taken in any case, with "_" for "-", and without spaces around it: exactly what
    `tag_pattern()` matches."""
    tag = value.replace("_", "-")
    if not tag or len(tag) > MAX_TAG_LENGTH or not _TAG.fullmatch(tag):
        raise UnknownLanguageError("not a BCP 47 language tag: use a code such as 'en', 'es' or 'pt-BR'")
    parts = tag.split("-")
    if parts[0].lower() not in _known_primaries():
        raise UnknownLanguageError(
            f"unknown language {parts[0][:8]!r}: use an ISO 639 code such as 'en', 'es' or 'pt-BR'"
        )
    out = [_two_letter().get(parts[0].lower(), parts[0].lower())]  # "spa" → "es": BCP 47's shortest code
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            out.append(part.upper())
        elif len(part) == 4 and part.isalpha():
            out.append(part.title())
        else:
            out.append(part)
    return "-".join(out)


@functools.cache
def _detector() -> LanguageDetector:
    languages = [lang for lang in Language.all() if lang.iso_code_639_1.name.lower() in DETECTED_LANGUAGES]
    return LanguageDetectorBuilder.from_languages(*languages).with_low_accuracy_mode().build()


def detector_loaded() -> bool:
    """Whether the models are loaded (detection is then a fraction of a millisecond per short text)."""
    return _detector.cache_info().currsize > 0


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of `text`'s language; None when it has too few words or lingua cannot tell.

    CPU-bound (the first call also loads the models): call it from a thread in async code."""
    sample = text[:MAX_DETECT_CHARS]
    if len(_WORD.findall(sample)) < MIN_DETECT_WORDS:
        return None
    found = _detector().detect_language_of(sample)
    return found.iso_code_639_1.name.lower() if found is not None else None


def story_sample(title: str, description: str, criteria: list[str]) -> str:
    """The text a story's language is detected from."""
    return "\n".join([title, description, *criteria])


async def detect_story_language(title: str, description: str, criteria: list[str]) -> str:
    """A story's detected language, UNDETERMINED when its text cannot tell (detected in a thread)."""
    found = await asyncio.to_thread(detect_language, story_sample(title, description, criteria))
    return found or UNDETERMINED


def effective_language(story_language: str | None, project_language: str | None, detected: str | None) -> str:
    """The language a story's tests are written in."""
    if detected == UNDETERMINED:
        detected = None
    return story_language or project_language or detected or DEFAULT_LANGUAGE


def same_language(expected: str, detected: str | None) -> bool:
    """Whether text detected as `detected` is in `expected` (a region or script does not matter)."""
    return detected is None or _primary(expected) == _primary(detected)


def detectable(tag: str) -> bool:
    """Whether detection knows `tag`'s language (only then can an answer be checked against it)."""
    return _primary(tag) in DETECTED_LANGUAGES


@functools.lru_cache(maxsize=512)  # on every model answer's path; a tag is short and validated
def dialect_key(tag: str) -> str:
    """The key of gherkin's dialect for `tag`: the same tag, else the first of its language, else 'en'."""
    lowered = {key.lower(): key for key in DIALECTS}
    if tag.lower() in lowered:
        return lowered[tag.lower()]
    primary = _DIALECT_ALIASES.get(_primary(tag), _primary(tag))
    return next((key for key in DIALECTS if _primary(key) == primary), DEFAULT_LANGUAGE)


def dialect(tag: str) -> dict[str, Any]:
    """Gherkin's keywords for `tag` (gherkin-official's table, never a hand-written list)."""
    return dict(DIALECTS[dialect_key(tag)])


@functools.lru_cache(maxsize=512)
def language_name(tag: str) -> str:
    """An English name for prompts ("Spanish"): gherkin's dialect name, else lingua's, else the tag."""
    primary = _primary(tag)
    key = dialect_key(tag)
    if _primary(key) == _DIALECT_ALIASES.get(primary, primary):
        return str(dialect(key).get("name", tag))
    names = {lang.iso_code_639_1.name.lower(): lang.name.title() for lang in Language.all()}
    return names.get(primary, tag)


@dataclass(frozen=True)
class GherkinKeywords:
    """One dialect's keywords as the exports write them. Step keywords keep the table's own trailing
    space (some languages, such as Japanese, have none)."""

    language: str  # the dialect's key, for the `# language:` header
    feature: str
    background: str
    rule: str
    scenario: str
    scenario_outline: str
    examples: str
    given: str
    when: str
    then: str
    and_: str
    blocks: tuple[str, ...]  # every keyword that opens a block (followed by a colon)


def _first(words: list[str]) -> str:
    return next(w for w in words if w.strip() != "*")


@functools.cache
def gherkin_keywords(tag: str) -> GherkinKeywords:
    """The keywords of `tag`'s dialect, from gherkin-official's table: the first of each list (after the
    `* ` bullet), but the last of `scenario`, which is the dialect's word for "Scenario" (the first is
    its newer synonym of "Example")."""
    key = dialect_key(tag)
    table = dialect(key)
    blocks = [
        word
        for name in ("feature", "background", "rule", "scenario", "scenarioOutline", "examples")
        for word in table[name]
    ]
    return GherkinKeywords(
        language=key,
        feature=_first(table["feature"]),
        background=_first(table["background"]),
        rule=_first(table["rule"]),
        scenario=table["scenario"][-1],
        scenario_outline=table["scenarioOutline"][0],
        examples=table["examples"][0],
        given=_first(table["given"]),
        when=_first(table["when"]),
        then=_first(table["then"]),
        and_=_first(table["and"]),
        blocks=tuple(sorted(blocks, key=len, reverse=True)),
    )
