"""The offline provider's scenarios for a named test-design technique, read from a criterion's text:

- boundary values: every number in the criterion with the values just below, at and just above it
  ("at least 12 characters": 11, 12, 13), each accepted or refused as the words around it say;
- equivalence partitioning: one scenario per class, the items of an enumeration ("card, PayPal or bank
  transfer") each a valid class and one value outside them the invalid class;
- decision table: the conditions the criterion joins with and/or, one rule per combination;
- pairwise: the story's enumerations as parameters (its criterion's first), one outline whose Examples
  hold every pair of their values (generation/pairwise.py), then a value outside each parameter's;
- state transition, error guessing, happy path: their usual scenarios around the criterion.

Each returns `Candidate`s; offline.py numbers them and cycles through them.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from testgen.domain.techniques import Technique
from testgen.domain.test_cases import MAX_EXAMPLE_COLUMNS, Examples, Parameter
from testgen.generation.pairwise import all_pairs

MAX_DECISION_CONDITIONS = 3  # 2**3 = 8 rules at most
MAX_CLASSES = 8


@dataclass(frozen=True)
class Candidate:
    """One scenario of a technique, before it is numbered: a title (without number), its steps."""

    title: str
    given: list[str]
    when: list[str]
    then: list[str]
    examples: Examples | None = None


@dataclass(frozen=True)
class Words:
    names: dict[Technique, str]
    lower: re.Pattern[str]  # words before a number that make it a lower bound ("at least")
    upper: re.Pattern[str]  # ... an upper bound ("at most")
    joiners: tuple[str, str]  # "and", "or"
    lead_words: frozenset[str]  # words an enumeration's first item may start with ("by card")
    # boundary values
    edge_title: str
    edge_given: str
    edge_when: str
    accepted: str
    refused: str
    per_criterion: str
    # equivalence partitioning
    class_title: str
    invalid_title: str
    class_when: str
    invalid_when: str
    class_then: str
    invalid_then: str
    valid_title: str
    valid_when: str
    empty_title: str
    empty_when: str
    outside_when: str
    # decision table
    rule_title: str
    condition_true: str
    condition_false: str
    rule_when: str
    outcome_yes: str
    outcome_no: str
    # pairwise
    pair_title: str
    pair_given: str
    pair_when: str
    pair_then: str
    off_title: str
    off_when: str
    pair_summary: str  # {rows}, {product} ("3x4x5"), {full}
    fallback: tuple[tuple[str, tuple[str, ...]], ...]  # parameters when the story names too few
    # the rest
    fixed: dict[Technique, list[tuple[str, list[str], list[str], list[str]]]]
    given_feature: str


ENGLISH = Words(
    names={
        Technique.equivalence_partitioning: "equivalence partitioning",
        Technique.boundary_values: "boundary values",
        Technique.decision_table: "decision table",
        Technique.state_transition: "state transition",
        Technique.pairwise: "pairwise",
        Technique.error_guessing: "error guessing",
        Technique.happy_path: "happy path",
    },
    lower=re.compile(r"(at least|minimum( of)?|min\.?|no (fewer|less) than|more than|over|from)\s*$", re.I),
    upper=re.compile(r"(at most|maximum( of)?|max\.?|up to|no more than|less than|under|within)\s*$", re.I),
    joiners=("and", "or"),
    lead_words=frozenset(
        {"by", "with", "in", "as", "via", "using", "either", "a", "an", "the", "to", "is", "are", "be"}
    ),
    edge_title="{label} edge {value}",
    edge_given="the value {value} is entered where {label} sets the limit {limit}",
    edge_when="the user does what {label} describes with {value}",
    accepted="the value {value} is accepted",
    refused="the value {value} is refused with a message naming the limit {limit}",
    per_criterion="the value {value} is handled as {label} says: {text}",
    class_title="{label} class {name}",
    invalid_title="{label} invalid class",
    class_when='the user does what {label} describes with "{name}"',
    invalid_when="the user does what {label} describes with a value that is none of: {names}",
    class_then='"{name}" is accepted as {label} describes',
    invalid_then="the value is refused and the allowed values are named",
    valid_title="{label} valid class",
    valid_when="the user does what {label} describes with a typical valid value",
    empty_title="{label} empty input class",
    empty_when="the user does what {label} describes with the input left empty",
    outside_when="the user does what {label} describes with a value outside what it allows",
    rule_title="{label} rule {rule}",
    condition_true='the condition "{condition}" is true',
    condition_false='the condition "{condition}" is false',
    rule_when="the user does what {label} describes",
    outcome_yes="the outcome of {label} happens",
    outcome_no="the outcome of {label} does not happen and the user is told why",
    pair_title="{label} pairwise combination",
    pair_given="the user has chosen {choices}",
    pair_when="the user does what {label} describes",
    pair_then="the outcome matches {label} for {choices}",
    off_title="{label} {name} outside its values",
    off_when="the user chooses a {name} that is none of: {values}",
    pair_summary="{rows} rows cover every pair of {product} = {full} combinations",
    fallback=(("browser", ("Chrome", "Firefox", "Safari")), ("device", ("desktop", "tablet", "phone"))),
    fixed={
        Technique.state_transition: [
            (
                "{label} valid transition",
                ["the item is in the state before {label} applies"],
                ["the event of {label} happens: {text}"],
                ["the item moves to the state {label} describes", "the new state is shown"],
            ),
            (
                "{label} event repeated",
                ["the item is already in the state {label} leads to"],
                ["the same event happens again"],
                ["the state does not change a second time", "nothing is done twice"],
            ),
            (
                "{label} event not allowed",
                ["the item is in a state where {label} does not apply"],
                ["the event of {label} is attempted"],
                ["the event is refused", "the item stays in its state"],
            ),
        ],
        Technique.error_guessing: [
            (
                "{label} empty input",
                ["the form of {label} is open"],
                ["the user submits it with every field empty"],
                ["the request is refused", "each missing field is named"],
            ),
            (
                "{label} very long input",
                ["the form of {label} is open"],
                ["the user enters 10,000 characters in a text field and submits"],
                ["the input is refused or cut to the allowed length", "no error page is shown"],
            ),
            (
                "{label} special characters",
                ["the form of {label} is open"],
                ["the user enters <script>, quotes and emoji in each field and submits"],
                ["the text is stored and shown as typed, never run", "no error page is shown"],
            ),
            (
                "{label} submitted twice",
                ["the user does what {label} describes"],
                ["the user submits the same request twice quickly"],
                ["it takes effect once", "the second submission is reported as a repeat"],
            ),
            (
                "{label} connection lost",
                ["the user does what {label} describes"],
                ["the connection drops before the answer arrives"],
                ["no half-done change is kept", "the user can try again"],
            ),
        ],
        Technique.happy_path: [
            (
                "{label} main flow",
                ["a user with valid data"],
                ["the user does what {label} describes: {text}"],
                ["the outcome matches {label}", "a confirmation is shown"],
            ),
            (
                "{label} main flow, result kept",
                ["a user who completed {label}"],
                ["the user opens the page again"],
                ["the result of {label} is still there"],
            ),
            (
                "{label} main flow, another user",
                ["a second user with valid data"],
                ["that user does what {label} describes"],
                ["the outcome matches {label} for that user too"],
            ),
        ],
    },
    given_feature='the feature "{title}" is available',
)

SPANISH = Words(
    names={
        Technique.equivalence_partitioning: "partición de equivalencia",
        Technique.boundary_values: "valores límite",
        Technique.decision_table: "tabla de decisión",
        Technique.state_transition: "transición de estados",
        Technique.pairwise: "combinación por pares",
        Technique.error_guessing: "conjetura de errores",
        Technique.happy_path: "camino feliz",
    },
    lower=re.compile(r"(al menos|como m[ií]nimo|m[ií]nimo( de)?|m[aá]s de|desde|no menos de)\s*$", re.I),
    upper=re.compile(r"(como m[aá]ximo|m[aá]ximo( de)?|hasta|no m[aá]s de|menos de|dentro de)\s*$", re.I),
    joiners=("y", "o"),
    lead_words=frozenset(
        {"por", "con", "en", "como", "mediante", "a", "el", "la", "los", "las", "un", "una", "es", "son"}
    ),
    edge_title="{label} límite {value}",
    edge_given="se introduce el valor {value} donde {label} fija el límite {limit}",
    edge_when="el usuario hace lo que describe {label} con {value}",
    accepted="el valor {value} se acepta",
    refused="el valor {value} se rechaza con un mensaje que indica el límite {limit}",
    per_criterion="el valor {value} se trata como indica {label}: {text}",
    class_title="{label} clase {name}",
    invalid_title="{label} clase no válida",
    class_when='el usuario hace lo que describe {label} con "{name}"',
    invalid_when="el usuario hace lo que describe {label} con un valor que no es ninguno de: {names}",
    class_then='"{name}" se acepta como describe {label}',
    invalid_then="el valor se rechaza y se indican los valores permitidos",
    valid_title="{label} clase válida",
    valid_when="el usuario hace lo que describe {label} con un valor válido típico",
    empty_title="{label} clase de entrada vacía",
    empty_when="el usuario hace lo que describe {label} dejando la entrada vacía",
    outside_when="el usuario hace lo que describe {label} con un valor fuera de lo que permite",
    rule_title="{label} regla {rule}",
    condition_true='la condición "{condition}" se cumple',
    condition_false='la condición "{condition}" no se cumple',
    rule_when="el usuario hace lo que describe {label}",
    outcome_yes="se produce el resultado de {label}",
    outcome_no="no se produce el resultado de {label} y se indica el motivo al usuario",
    pair_title="{label} combinación por pares",
    pair_given="el usuario ha elegido {choices}",
    pair_when="el usuario hace lo que describe {label}",
    pair_then="el resultado cumple {label} para {choices}",
    off_title="{label} {name} fuera de sus valores",
    off_when="el usuario elige un valor de {name} que no es ninguno de: {values}",
    pair_summary="{rows} filas cubren cada par de {product} = {full} combinaciones",
    fallback=(
        ("navegador", ("Chrome", "Firefox", "Safari")),
        ("dispositivo", ("escritorio", "tableta", "móvil")),
    ),
    fixed={
        Technique.state_transition: [
            (
                "{label} transición válida",
                ["el elemento está en el estado previo a {label}"],
                ["ocurre el evento de {label}: {text}"],
                ["el elemento pasa al estado que describe {label}", "se muestra el nuevo estado"],
            ),
            (
                "{label} evento repetido",
                ["el elemento ya está en el estado al que lleva {label}"],
                ["el mismo evento ocurre otra vez"],
                ["el estado no cambia una segunda vez", "nada se hace dos veces"],
            ),
            (
                "{label} evento no permitido",
                ["el elemento está en un estado en el que {label} no aplica"],
                ["se intenta el evento de {label}"],
                ["el evento se rechaza", "el elemento se queda en su estado"],
            ),
        ],
        Technique.error_guessing: [
            (
                "{label} entrada vacía",
                ["el formulario de {label} está abierto"],
                ["el usuario lo envía con todos los campos vacíos"],
                ["la petición se rechaza", "se indica cada campo que falta"],
            ),
            (
                "{label} entrada muy larga",
                ["el formulario de {label} está abierto"],
                ["el usuario escribe 10.000 caracteres en un campo de texto y lo envía"],
                [
                    "la entrada se rechaza o se recorta a la longitud permitida",
                    "no aparece una página de error",
                ],
            ),
            (
                "{label} caracteres especiales",
                ["el formulario de {label} está abierto"],
                ["el usuario escribe <script>, comillas y emojis en cada campo y lo envía"],
                [
                    "el texto se guarda y se muestra tal cual, sin ejecutarse",
                    "no aparece una página de error",
                ],
            ),
            (
                "{label} enviado dos veces",
                ["el usuario hace lo que describe {label}"],
                ["el usuario envía la misma petición dos veces seguidas"],
                ["se aplica una sola vez", "el segundo envío se indica como repetido"],
            ),
            (
                "{label} conexión perdida",
                ["el usuario hace lo que describe {label}"],
                ["la conexión se corta antes de llegar la respuesta"],
                ["no queda ningún cambio a medias", "el usuario puede volver a intentarlo"],
            ),
        ],
        Technique.happy_path: [
            (
                "{label} flujo principal",
                ["un usuario con datos válidos"],
                ["el usuario hace lo que describe {label}: {text}"],
                ["el resultado cumple {label}", "se muestra una confirmación"],
            ),
            (
                "{label} flujo principal, resultado guardado",
                ["un usuario que completó {label}"],
                ["el usuario vuelve a abrir la página"],
                ["el resultado de {label} sigue ahí"],
            ),
            (
                "{label} flujo principal, otro usuario",
                ["un segundo usuario con datos válidos"],
                ["ese usuario hace lo que describe {label}"],
                ["el resultado cumple {label} también para ese usuario"],
            ),
        ],
    },
    given_feature='la funcionalidad "{title}" está disponible',
)

WORDS = {"en": ENGLISH, "es": SPANISH}


def words_for(language: str) -> Words:
    return WORDS.get(language.split("-", 1)[0].lower(), ENGLISH)


# --- reading the criterion --------------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.,])(\d+(?:[.,]\d+)?)(?![\w])|(?<![\w.,])(\d+(?:[.,]\d+)?)(?=[a-zA-Z%])")


@dataclass(frozen=True)
class Limit:
    value: Decimal
    text: str  # as written
    kind: str  # "lower", "upper" or "" (the words do not say)


def limits(text: str, words: Words) -> list[Limit]:
    """The numbers of a criterion, each with whether the words before it make it a lower or an upper
    bound ("between 8 and 64": 8 lower, 64 upper)."""
    found = []
    seen: set[str] = set()
    for match in _NUMBER.finditer(text):
        written = match.group(1) or match.group(2)
        if written in seen:
            continue
        seen.add(written)
        before = text[: match.start()]
        kind = "lower" if words.lower.search(before) else "upper" if words.upper.search(before) else ""
        joiners = "|".join(words.joiners)
        if not kind and re.search(r"(between|entre)\s*$", before, re.I):
            kind = "lower"
        elif not kind and re.search(rf"(between|entre)\s+\S+\s+({joiners})\s*$", before, re.I):
            kind = "upper"
        found.append(Limit(Decimal(written.replace(",", ".")), written, kind))
    return found[:4]


def edges(limit: Limit) -> list[tuple[Decimal, bool | None]]:
    """The values just below, at and just above a limit, each with whether it is accepted (None: the
    words do not say)."""
    exponent = limit.value.as_tuple().exponent
    step = Decimal(1).scaleb(exponent if isinstance(exponent, int) and exponent < 0 else 0)
    below, at, above = limit.value - step, limit.value, limit.value + step
    if limit.kind == "lower":
        return [(below, False), (at, True), (above, True)]
    if limit.kind == "upper":
        return [(below, True), (at, True), (above, False)]
    return [(below, None), (at, None), (above, None)]


_ITEM = r"[^\s,;:.()/]+(?: [^\s,;:.()/]+)?"


def enumeration(text: str, words: Words) -> list[str]:
    """The items of the first enumeration in a criterion: "card, PayPal or bank transfer", "A/B/C",
    "red or green"; [] when it has none."""
    joiners = "|".join(words.joiners)
    listed = re.search(rf"((?:{_ITEM}, )+{_ITEM},? (?:{joiners}) {_ITEM})", text)
    if listed:
        items = re.split(rf",\s*(?:(?:{joiners})\s+)?|\s+(?:{joiners})\s+", listed.group(1))
    elif slashed := re.search(r"(\w[\w-]*(?:/\w[\w-]*)+)", text):
        items = slashed.group(1).split("/")
    elif pair := re.search(rf"\b(\w[\w-]*) (?:{words.joiners[1]}) (\w[\w-]*)\b", text):
        items = [pair.group(1), pair.group(2)]
    else:
        return []
    cleaned = []
    for item in items:
        parts = item.strip().split(" ")
        while len(parts) > 1 and parts[0].lower() in words.lead_words:
            parts = parts[1:]
        if parts and parts[0]:
            cleaned.append(" ".join(parts))
    return list(dict.fromkeys(cleaned))[:MAX_CLASSES]


def conditions(text: str, words: Words) -> tuple[list[str], str]:
    """The conditions a criterion joins with and/or, and which joiner ("and" or "or" in the story's
    language); ([], "") when it joins none."""
    condition_part = re.split(r",\s*(?:then|entonces)?\s*|\s+(?:then|entonces)\s+", text, maxsplit=1)[0]
    condition_part = re.sub(r"^\s*(if|when|si|cuando)\s+", "", condition_part, flags=re.I)
    and_, or_ = words.joiners
    for joiner in (or_, and_):
        parts = [p.strip(" .") for p in re.split(rf"\s+{joiner}\s+", condition_part)]
        parts = [p for p in parts if p]
        if len(parts) > 1:
            return parts[:MAX_DECISION_CONDITIONS], joiner
    return [], ""


# --- the scenarios ------------------------------------------------------------------------------------


def parameters(criteria: Sequence[str], language: str) -> list[Parameter]:
    """The parameters a story names: each criterion's enumeration, named after the criterion's first
    word ("Payment by card, PayPal or bank transfer": payment = card, PayPal, bank transfer); the
    language's usual environment parameters fill in when fewer than two are found."""
    words = words_for(language)
    found: list[Parameter] = []
    for index, text in enumerate(dict.fromkeys(criteria)):  # the focus criterion may come twice
        items = enumeration(text, words)
        if len(items) < 2:
            continue
        first = re.sub(r"[^\w-]", "", text.split(" ", 1)[0]).lower()
        name = first if first and first not in {i.lower() for i in items} else f"ac{index + 1}"
        if name in {p.name for p in found}:
            name = f"{name}-{index + 1}"
        found.append(Parameter(name=name, values=items))
    for name, values in words.fallback:
        if len(found) >= 2:
            break
        if name not in {p.name for p in found}:
            found.append(Parameter(name=name, values=list(values)))
    return found[:MAX_EXAMPLE_COLUMNS]


def candidates(
    technique: Technique,
    language: str,
    label: str,
    text: str,
    title: str,
    criteria: Sequence[str] = (),
) -> list[Candidate]:
    """The scenarios `technique` gives a criterion (`label` AC1 or "the story", `text` its text; the
    story's `criteria`, for the parameters pairwise combines)."""
    words = words_for(language)
    given = words.given_feature.format(title=title)
    values = {"label": label, "text": text}
    if technique is Technique.boundary_values:
        found = _boundary(words, given, label, text)
        if found:
            return found
    elif technique is Technique.pairwise:
        return _pairwise(words, given, label, parameters([text, *criteria], language))
    elif technique is Technique.equivalence_partitioning:
        return _partitions(words, given, label, text)
    elif technique is Technique.decision_table:
        found = _decision_table(words, given, label, text)
        if found:
            return found
    # Nothing to read for boundary values or a decision table: the criterion's main flow.
    fixed = words.fixed.get(technique) or words.fixed[Technique.happy_path]
    return [
        Candidate(
            title=t.format(**values),
            given=[given, *(g.format(**values) for g in gs)],
            when=[w.format(**values) for w in ws],
            then=[th.format(**values) for th in ths],
        )
        for t, gs, ws, ths in fixed
    ]


def _boundary(words: Words, given: str, label: str, text: str) -> list[Candidate]:
    out = []
    for limit in limits(text, words):
        for value, accepted in edges(limit):
            shown = str(value)
            values = {"label": label, "value": shown, "limit": limit.text, "text": text}
            outcome = (
                words.per_criterion if accepted is None else words.accepted if accepted else words.refused
            )
            out.append(
                Candidate(
                    title=words.edge_title.format(**values),
                    given=[given, words.edge_given.format(**values)],
                    when=[words.edge_when.format(**values)],
                    then=[outcome.format(**values)],
                )
            )
    return out


def _partitions(words: Words, given: str, label: str, text: str) -> list[Candidate]:
    items = enumeration(text, words)
    values = {"label": label, "text": text, "names": ", ".join(items)}
    if not items:
        return [
            Candidate(
                title=words.valid_title.format(**values),
                given=[given],
                when=[words.valid_when.format(**values)],
                then=[words.outcome_yes.format(**values)],
            ),
            Candidate(
                title=words.invalid_title.format(**values),
                given=[given],
                when=[words.outside_when.format(**values)],
                then=[words.invalid_then.format(**values)],
            ),
            Candidate(
                title=words.empty_title.format(**values),
                given=[given],
                when=[words.empty_when.format(**values)],
                then=[words.invalid_then.format(**values)],
            ),
        ]
    out = [
        Candidate(
            title=words.class_title.format(name=name, label=label),
            given=[given],
            when=[words.class_when.format(name=name, label=label)],
            then=[words.class_then.format(name=name, label=label)],
        )
        for name in items
    ]
    out.append(
        Candidate(
            title=words.invalid_title.format(**values),
            given=[given],
            when=[words.invalid_when.format(**values)],
            then=[words.invalid_then.format(**values)],
        )
    )
    return out


def _pairwise(words: Words, given: str, label: str, found: list[Parameter]) -> list[Candidate]:
    """One outline whose Examples hold every pair of the parameters' values, then one scenario per
    parameter with a value outside its list."""
    table = all_pairs(found)
    and_ = f" {words.joiners[0]} "
    placeholders = [f"<{p.name}>" for p in found]
    choices = ", ".join(placeholders[:-1]) + and_ + placeholders[-1] if len(found) > 1 else placeholders[0]
    outline = Candidate(
        title=words.pair_title.format(label=label),
        given=[given, words.pair_given.format(choices=choices)],
        when=[words.pair_when.format(label=label)],
        then=[words.pair_then.format(label=label, choices=choices)],
        examples=Examples(header=table.header, rows=table.rows),
    )
    outside = [
        Candidate(
            title=words.off_title.format(label=label, name=p.name),
            given=[given],
            when=[words.off_when.format(name=p.name, values=", ".join(p.values))],
            then=[words.invalid_then],
        )
        for p in found
    ]
    return [outline, *outside]


def _decision_table(words: Words, given: str, label: str, text: str) -> list[Candidate]:
    found, joiner = conditions(text, words)
    if not found:
        return []
    out = []
    for rule, truth in enumerate(itertools.product((True, False), repeat=len(found)), start=1):
        happens = all(truth) if joiner == words.joiners[0] else any(truth)
        out.append(
            Candidate(
                title=words.rule_title.format(label=label, rule=rule),
                given=[
                    given,
                    *(
                        (words.condition_true if held else words.condition_false).format(condition=c)
                        for c, held in zip(found, truth, strict=True)
                    ),
                ],
                when=[words.rule_when.format(label=label)],
                then=[(words.outcome_yes if happens else words.outcome_no).format(label=label)],
            )
        )
    return out


def pairwise_summary(found: Sequence[Parameter], language: str) -> str:
    """How many rows the pairwise table of `found` has against the full product, in `language`."""
    table = all_pairs(found)
    product = "x".join(map(str, table.sizes))
    return words_for(language).pair_summary.format(
        rows=len(table.rows), product=product, full=table.full_product
    )


def technique_name(technique: Technique, language: str) -> str:
    return words_for(language).names[technique]


# Words of a reviewer's instruction that name a technique (English and Spanish stems).
_INSTRUCTED = (
    (r"boundar|edge|l[íi]mite", Technique.boundary_values),
    (r"pairwise|pares|combinaci", Technique.pairwise),
    (r"partition|equivalen|clases?\b|classes?\b", Technique.equivalence_partitioning),
    (r"decision|decisi[óo]n", Technique.decision_table),
    (r"state|estado|transici|transition", Technique.state_transition),
    (r"error|mistake|fallo|invalid|no v[áa]lid", Technique.error_guessing),
    (r"happy|feliz|main flow|flujo principal", Technique.happy_path),
)


def technique_in(instruction: str) -> Technique | None:
    """The technique a reviewer's instruction asks for ("add boundary cases for the password length":
    boundary values), if it names one."""
    for pattern, technique in _INSTRUCTED:
        if re.search(pattern, instruction, re.IGNORECASE):
            return technique
    return None
