"""A check of a story before generating, offline: no acceptance criteria, criteria without an
observable outcome, vague words, numbers without units, and/or ambiguity and duplicated criteria, in
English and Spanish. Each finding asks the story's author a question in the story's language."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz

from testgen.domain.story_check import FindingKind, StoryCheck, StoryFinding

DUPLICATE_SIMILARITY = 90  # rapidfuzz token_sort_ratio at or above which two criteria repeat


@dataclass(frozen=True)
class Lexicon:
    vague: tuple[tuple[str, str], ...]  # (pattern, question with {word})
    outcome: re.Pattern[str]  # a word a tester can observe
    units: re.Pattern[str]  # a unit right after a number
    and_or: re.Pattern[str]
    both: tuple[str, str]  # " and ", " or " as words
    questions: dict[FindingKind, str]


ENGLISH = Lexicon(
    vague=(
        (r"fast(er)?|quick(ly)?|rapid(ly)?|promptly|responsive", "How fast? Give a time in seconds."),
        (
            r"user[- ]friendly|easy to use|easy|intuitive|simple",
            "What makes it {word}? Name a check a tester can make.",
        ),
        (r"etc\.?|and so on|and more", 'What else is included? List every item instead of "{word}".'),
        (
            r"as appropriate|if needed|where applicable|when necessary|as needed|if required",
            'When exactly? Name the condition instead of "{word}".',
        ),
        (r"some|several|many|a few|few|various|multiple", 'How many? Give a number instead of "{word}".'),
        (
            r"should work|works? (properly|correctly|fine|well)|properly|correctly",
            "What does working look like? Name the result a tester sees.",
        ),
        (
            r"secure(ly)?|robust|efficient(ly)?|flexible|reasonable|adequate(ly)?|normal(ly)?|soon|large|small",
            'What does "{word}" mean here? Give a measure a tester can check.',
        ),
    ),
    outcome=re.compile(
        r"\b(see|sees|seen|shows?|shown|display(s|ed)?|receives?|received|gets?|sent|sends?|saved?|stored|"
        r"redirect(s|ed)?|error|message|appears?|returns?|returned|created|deleted|updated|charged|emailed|"
        r"notified|notification|can|cannot|can't|must|refused|rejected|accepted|blocked|locked|listed|"
        r"visible|hidden|disabled|enabled|logged|signed|downloads?|exported|confirms?|confirmation|"
        r"calculated|applied|added|removed|is|are|has|have)\b",
        re.IGNORECASE,
    ),
    units=re.compile(
        r"^\s*(%|percent|characters?|chars?|letters?|digits?|seconds?|secs?|s\b|ms|milliseconds?|minutes?|"
        r"mins?|hours?|h\b|days?|weeks?|months?|years?|items?|products?|orders?|users?|attempts?|tries|times|"
        r"rows?|results?|pages?|entries|records?|files?|mb|kb|gb|bytes?|px|euros?|eur|usd|dollars?|€|\$|"
        r"decimal|words?|lines?|columns?|steps?|people|customers?|requests?)",
        re.IGNORECASE,
    ),
    and_or=re.compile(r"\band\s*/\s*or\b", re.IGNORECASE),
    both=(" and ", " or "),
    questions={
        FindingKind.no_criteria: "What must be true for this story to be done? Add acceptance criteria.",
        FindingKind.no_outcome: "What should the user see or receive when this holds? Name the result.",
        FindingKind.number_without_unit: "{word} what? Give the unit (seconds, characters, items, ...).",
        FindingKind.and_or: "Both or either? Split it into separate criteria, or say which.",
        FindingKind.duplicate: "It repeats criterion {other}: remove one, or say how they differ.",
    },
)

SPANISH = Lexicon(
    vague=(
        (r"rápid[oa]s?|rápidamente|ágil(mente)?|pronto", "¿Cuán rápido? Indica un tiempo en segundos."),
        (
            r"fácil de usar|fácil|amigable|intuitiv[oa]|sencill[oa]",
            "¿Qué lo hace {word}? Indica una comprobación concreta.",
        ),
        (
            r"etc\.?|etcétera|y demás|y más",
            "¿Qué más incluye? Enumera cada elemento en lugar de «{word}».",
        ),
        (
            r"según corresponda|cuando proceda|si es necesario|si procede|cuando sea necesario"
            r"|según sea necesario",
            "¿Cuándo exactamente? Indica la condición en lugar de «{word}».",
        ),
        (
            r"algun[oa]s|algún|vari[oa]s|much[oa]s|poc[oa]s|divers[oa]s",
            "¿Cuántos? Indica un número en lugar de «{word}».",
        ),
        (
            r"debería funcionar|funciona(r)? (bien|correctamente)|correctamente",
            "¿Qué significa que funcione? Indica el resultado que se ve.",
        ),
        (
            r"segur[oa]|robust[oa]|eficiente(mente)?|flexible|razonable|adecuad[oa]|normal(mente)?|grande|pequeñ[oa]",
            "¿Qué significa «{word}» aquí? Indica una medida comprobable.",
        ),
    ),
    outcome=re.compile(
        r"\b(ve|ven|ver|muestra|muestran|mostrar|se muestra|aparece|aparecen|recibe|reciben|envía|envían|"
        r"enviado|guarda|guardado|redirige|error|mensaje|devuelve|crea|creado|borra|borrado|actualiza|"
        r"cobra|cobrado|notifica|notificación|puede|pueden|no puede|debe|rechaza|rechazado|acepta|aceptado|"
        r"bloquea|bloqueado|registra|registran|registrado|lista|visible|oculto|desactivado|activado|descarga|exporta|confirma|"
        r"confirmación|calcula|aplica|añade|elimina|es|son|tiene|tienen|está|están)\b",
        re.IGNORECASE,
    ),
    units=re.compile(
        r"^\s*(%|por ciento|caracteres?|letras?|dígitos?|segundos?|s\b|ms|milisegundos?|minutos?|min\b|"
        r"horas?|h\b|días?|semanas?|meses|mes|años?|artículos?|productos?|pedidos?|usuarios?|intentos?|"
        r"veces|filas?|resultados?|páginas?|registros?|archivos?|mb|kb|gb|bytes?|px|euros?|eur|€|\$|"
        r"decimales?|palabras?|líneas?|columnas?|pasos?|personas?|clientes?|peticiones?)",
        re.IGNORECASE,
    ),
    and_or=re.compile(r"\by\s*/\s*o\b", re.IGNORECASE),
    both=(" y ", " o "),
    questions={
        FindingKind.no_criteria: (
            "¿Qué debe cumplirse para dar la historia por terminada? Añade criterios de aceptación."
        ),
        FindingKind.no_outcome: "¿Qué debe ver o recibir el usuario cuando se cumple? Indica el resultado.",
        FindingKind.number_without_unit: "¿{word} qué? Indica la unidad (segundos, caracteres, artículos…).",
        FindingKind.and_or: "¿Ambos o cualquiera? Divídelo en criterios separados o indica cuál.",
        FindingKind.duplicate: "Repite el criterio {other}: elimina uno o indica en qué se diferencian.",
    },
)

LEXICONS = {"en": ENGLISH, "es": SPANISH}
_NUMBER = re.compile(r"(?<![\w.,/-])(\d+(?:[.,]\d+)?)(?![\w%])")
_CURRENCY_BEFORE = re.compile(r"[€$£]\s*$")
_LABEL_BEFORE = re.compile(
    r"\b(AC|US|step|paso|version|versión|v|level|nivel|tier|option|opción|http|code|código)\s*$", re.I
)


def lexicon_for(language: str) -> Lexicon:
    return LEXICONS.get(language.split("-", 1)[0].lower(), ENGLISH)


def _normalized(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold())
    return " ".join(re.sub(r"[^\w\s]", " ", folded).split())


def check_story(criteria: Sequence[str], language: str) -> StoryCheck:
    """The findings of the offline check of a story's acceptance criteria, questions in `language`
    (English when it has no lexicon); every lexicon's vague words are looked for, so a criterion in
    the other language is checked too."""
    words = lexicon_for(language)
    findings: list[StoryFinding] = []
    if not criteria:
        findings.append(
            StoryFinding(
                criterion=None,
                kind=FindingKind.no_criteria,
                text="",
                question=words.questions[FindingKind.no_criteria],
            )
        )
    for index, text in enumerate(criteria):
        findings += _criterion_findings(index, text, words)
    findings += _duplicates(criteria, words)
    unclear = sorted({f.criterion for f in findings if f.criterion is not None})
    return StoryCheck(findings=findings, unclear_criteria=unclear)


def _criterion_findings(index: int, text: str, words: Lexicon) -> list[StoryFinding]:
    found: list[StoryFinding] = []

    def add(kind: FindingKind, what: str, question: str) -> None:
        found.append(StoryFinding(criterion=index, kind=kind, text=what, question=question))

    lexicons = [words, *(lex for lex in LEXICONS.values() if lex is not words)]
    seen: set[str] = set()
    for lexicon in lexicons:
        for pattern, question in lexicon.vague:
            for match in re.finditer(rf"(?<![\w-])({pattern})(?![\w-])", text, re.IGNORECASE):
                word = match.group(1)
                if word.casefold() in seen:
                    continue
                seen.add(word.casefold())
                add(
                    FindingKind.vague_word,
                    word,
                    (question if lexicon is words else _translated(question, words)).format(word=word),
                )
    if not any(lexicon.outcome.search(text) for lexicon in lexicons):
        add(FindingKind.no_outcome, text[:80], words.questions[FindingKind.no_outcome])
    for match in _NUMBER.finditer(text):
        before, after = text[: match.start()], text[match.end() :]
        if _CURRENCY_BEFORE.search(before) or _LABEL_BEFORE.search(before):
            continue
        # A unit right after the number, or after one word ("5 failed attempts").
        skipped = re.sub(r"^\s*[^\W\d]+(?=\s)", "", after, count=1)
        if any(lexicon.units.match(after) or lexicon.units.match(skipped) for lexicon in lexicons):
            continue
        number = match.group(1)
        add(
            FindingKind.number_without_unit,
            number,
            words.questions[FindingKind.number_without_unit].format(word=number),
        )
    lowered = f" {text.casefold()} "
    if any(lexicon.and_or.search(text) for lexicon in lexicons) or any(
        lexicon.both[0] in lowered and lexicon.both[1] in lowered for lexicon in lexicons
    ):
        add(FindingKind.and_or, "and/or", words.questions[FindingKind.and_or])
    return found


def _translated(question: str, words: Lexicon) -> str:
    """A vague word of the other language: asked with the story language's question of its kind."""
    for lexicon in LEXICONS.values():
        for position, (_, asked) in enumerate(lexicon.vague):
            if asked == question:
                return words.vague[position][1]
    return question


def _duplicates(criteria: Sequence[str], words: Lexicon) -> list[StoryFinding]:
    found = []
    normalized = [_normalized(c) for c in criteria]
    for later in range(len(criteria)):
        for earlier in range(later):
            same = normalized[later] == normalized[earlier] or (
                fuzz.token_sort_ratio(normalized[later], normalized[earlier]) >= DUPLICATE_SIMILARITY
            )
            if same:
                question = words.questions[FindingKind.duplicate].format(other=earlier + 1)
                found.append(
                    StoryFinding(
                        criterion=later, kind=FindingKind.duplicate, text=criteria[earlier], question=question
                    )
                )
                break
    return found
