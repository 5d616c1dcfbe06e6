"""The offline provider's wording, one template set per language (the story's language picks one)."""

from __future__ import annotations

from dataclasses import dataclass

from testgen.core.languages import DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Templates:
    """Format strings: `{label}` an acceptance criterion's label (AC1) or `the_story`, `{text}` its text,
    `{title}` the story's title, `{n}` a scenario's number, `{type}` the test type, `{case}` the case."""

    the_story: str
    given_feature: str
    given_data: str
    positive_when: str
    positive_then: tuple[str, ...]
    negative_when: str
    negative_then: tuple[str, ...]
    boundary_when: str
    boundary_then: tuple[str, ...]
    variants: dict[str, str]  # positive, negative, boundary → their name
    scenario_title: str  # ends with the scenario's number, which offline.py reads back
    scenario_suffix: str
    case_title: str
    variant_suffix: str
    description: str
    technique: str  # added to the description when the batch names a test-design technique
    precondition: str
    intent: dict[str, str]  # test type → what the test case checks
    types: dict[str, str]  # test type → its name


ENGLISH = Templates(
    the_story="the story",
    given_feature='the feature "{title}" is available',
    given_data="test data set {case}.{n} is prepared",
    positive_when="the user does what {label} describes: {text}",
    positive_then=("the outcome matches {label}: {text}", "no error is shown"),
    negative_when="the user attempts what {label} describes with invalid or missing input",
    negative_then=("the system refuses the request and does not violate {label}", "a clear error is shown"),
    boundary_when="the user does what {label} describes with values at the edge of the allowed range",
    boundary_then=("values at the limit are accepted and values past it are refused, per {label}",),
    variants={"positive": "positive", "negative": "negative", "boundary": "boundary"},
    scenario_title="{label} {variant} check {n}",
    scenario_suffix=" ({type}, test case {case})",
    case_title="TC{case:02d} {type}{variant}: {summary}",
    variant_suffix=" (variant {n})",
    description="Checks that {title!r} {intent}.",
    technique=" Designed with {technique}.",
    precondition='The feature "{title}" is deployed',
    intent={
        "functional": "works as specified",
        "negative": "rejects invalid use",
        "boundary": "holds at its limits",
        "security": "resists misuse",
        "usability": "is clear to the user",
        "performance": "stays responsive",
    },
    types={
        "functional": "Functional",
        "negative": "Negative",
        "boundary": "Boundary",
        "security": "Security",
        "usability": "Usability",
        "performance": "Performance",
    },
)

SPANISH = Templates(
    the_story="la historia",
    given_feature='la funcionalidad "{title}" está disponible',
    given_data="el conjunto de datos de prueba {case}.{n} está preparado",
    positive_when="el usuario hace lo que describe {label}: {text}",
    positive_then=("el resultado cumple {label}: {text}", "no se muestra ningún error"),
    negative_when="el usuario intenta lo que describe {label} con datos no válidos o incompletos",
    negative_then=(
        "el sistema rechaza la petición y no incumple {label}",
        "se muestra un mensaje de error claro",
    ),
    boundary_when="el usuario hace lo que describe {label} con valores en el límite del rango permitido",
    boundary_then=("los valores en el límite se aceptan y los que lo superan se rechazan, según {label}",),
    variants={"positive": "positiva", "negative": "negativa", "boundary": "de límites"},
    scenario_title="{label}: comprobación {variant} {n}",
    scenario_suffix=" ({type}, caso de prueba {case})",
    case_title="CP{case:02d} {type}{variant}: {summary}",
    variant_suffix=" (variante {n})",
    description="Comprueba que {title!r} {intent}.",
    technique=" Diseñada con {technique}.",
    precondition='La funcionalidad "{title}" está desplegada',
    intent={
        "functional": "funciona según lo especificado",
        "negative": "rechaza los usos no válidos",
        "boundary": "se mantiene en sus límites",
        "security": "resiste el uso indebido",
        "usability": "resulta clara para el usuario",
        "performance": "responde con rapidez",
    },
    types={
        "functional": "Funcional",
        "negative": "Negativa",
        "boundary": "Límites",
        "security": "Seguridad",
        "usability": "Usabilidad",
        "performance": "Rendimiento",
    },
)

TEMPLATES = {"en": ENGLISH, "es": SPANISH}


def templates_for(language: str) -> Templates:
    """The template set of `language` (a BCP 47 tag; its region is ignored), English when it has none."""
    return TEMPLATES.get(language.split("-", 1)[0].lower(), TEMPLATES[DEFAULT_LANGUAGE])


def has_templates(language: str) -> bool:
    return language.split("-", 1)[0].lower() in TEMPLATES
