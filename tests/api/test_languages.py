"""Stories in any language: detection, the overrides, generation offline in Spanish, the exports of a
project mixing English and Spanish stories (real worker, real Redis, real database)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from gherkin.parser import Parser
from httpx import AsyncClient

from testgen.core.languages import (
    UNDETERMINED,
    UnknownLanguageError,
    detect_language,
    effective_language,
    normalize_tag,
)
from testgen.domain.test_cases import TestCaseDraft
from testgen.generation.language_check import answer_text
from tests.support.helpers import queue, read_events

SPANISH = {
    "title": "Restablecer la contraseña",
    "description": "Como cliente registrado quiero restablecer mi contraseña para volver a entrar.",
    "acceptance_criteria": [
        "Se envía un enlace de restablecimiento al correo del cliente",
        "El enlace caduca al cabo de una hora",
    ],
}
ENGLISH = {
    "title": "Reset the password",
    "description": "As a registered customer I want to reset my password so that I can sign in again.",
    "acceptance_criteria": ["A reset link is emailed to the customer", "The link expires after one hour"],
}


@pytest.mark.parametrize(
    "text",
    ["Iniciar sesión", "Restablecer la contraseña del cliente", "uno dos tres cuatro cinco", "", "   "],
)
def test_five_words_or_fewer_are_not_detected(text: str) -> None:
    assert detect_language(text) is None


def test_six_words_are_detected() -> None:
    assert detect_language("El enlace caduca al cabo de una hora") == "es"
    assert detect_language("The reset link expires after one hour") == "en"


def test_the_language_that_wins() -> None:
    assert effective_language("pt-BR", "es", "en") == "pt-BR"  # the story's own
    assert effective_language(None, "es", "en") == "es"  # else its project's
    assert effective_language(None, None, "de") == "de"  # else the detected one
    assert effective_language(None, None, UNDETERMINED) == "en"  # else English
    assert effective_language(None, None, None) == "en"


@pytest.mark.parametrize(
    ("raw", "tag"),
    [("es", "es"), ("PT_br", "pt-BR"), ("zh-hant-tw", "zh-Hant-TW"), ("spa-MX", "es-MX"), ("tlh", "tlh")],
)
def test_language_tags_are_normalised(raw: str, tag: str) -> None:
    assert normalize_tag(raw) == tag


@pytest.mark.parametrize("raw", ["", "x", "spanish!", "xx", "e" * 40, "es--ES"])
def test_bad_language_tags_are_refused(raw: str) -> None:
    with pytest.raises(UnknownLanguageError):
        normalize_tag(raw)


async def _project(http: AsyncClient, name: str, language: str | None = None) -> int:
    r = await http.post("/projects", json={"name": name, "language": language})
    assert r.status_code == 201, r.text
    assert r.json()["language"] == language
    return int(r.json()["id"])


async def _story(http: AsyncClient, story_id: str, project_id: int | None, **fields: Any) -> dict[str, Any]:
    r = await http.post("/user-stories", json={"id": story_id, "project_id": project_id, **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _generate(http: AsyncClient, story_id: str) -> dict[str, Any]:
    job = await queue(http, story_id, num_test_cases=2, scenarios_per_test_case=2)
    events = await read_events(http, job["events_url"])
    assert events[-1].event == "completed", events[-1].data
    return {"task_id": job["task_id"], **events[-1].data["result"]}


async def test_detected_and_chosen_languages_through_the_api(http: AsyncClient) -> None:
    project = await _project(http, "Tienda")
    story = await _story(http, "ES-1", project, **SPANISH)
    assert story["detected_language"] == "es" and story["language"] is None
    short = await _story(http, "ES-2", project, title="Iniciar sesión", acceptance_criteria=["Entra"])
    assert short["detected_language"] == UNDETERMINED

    r = await http.patch("/user-stories/ES-1", json={**ENGLISH})
    assert r.json()["detected_language"] == "en"  # detected again when the text changes
    r = await http.patch("/user-stories/ES-1", json={"language": "pt_br"})
    assert r.status_code == 200 and r.json()["language"] == "pt-BR"
    r = await http.patch("/user-stories/ES-1", json={"language": None})
    assert r.json()["language"] is None

    for bad in ("klingon!", "xx", 7):
        r = await http.patch("/user-stories/ES-1", json={"language": bad})
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"][-1] == "language"
    r = await http.patch(f"/projects/{project}", json={"language": "qq"})
    assert r.status_code == 422
    r = await http.patch(f"/projects/{project}", json={"language": "es"})
    assert r.status_code == 200 and r.json()["language"] == "es"


def _spanish(cases: list[dict[str, Any]]) -> bool:
    drafts = [TestCaseDraft.model_validate(c) for c in cases]
    return detect_language(answer_text(drafts)) == "es"


async def test_spanish_story_end_to_end_offline(http: AsyncClient, worker: object) -> None:
    project = await _project(http, "Tienda")
    await _story(http, "ES-1", project, **SPANISH)
    result = await _generate(http, "ES-1")
    assert result["language"] == "es" and result["language_mismatch"] is False
    assert _spanish(result["test_cases"])
    step = result["test_cases"][0]["scenarios"][0]["given"][0]
    assert step == 'la funcionalidad "Restablecer la contraseña" está disponible'

    saved = await http.post(f"/generate-test-cases/{result['task_id']}/save")
    assert saved.status_code in (200, 201), saved.text
    feature = (await http.get("/user-stories/ES-1/test-cases/export?format=gherkin")).text
    assert feature.startswith("# language: es\n@story-ES-1\nCaracterística: Restablecer la contraseña\n")
    document = Parser().parse(feature)["feature"]
    assert document["language"] == "es"
    steps = [s for c in document["children"] for s in c["scenario"]["steps"]]
    assert {s["keyword"] for s in steps} >= {"Dado ", "Cuando ", "Entonces "}
    written = [
        t
        for c in result["test_cases"]
        for s in c["scenarios"]
        for k in ("given", "when", "then")
        for t in s[k]
    ]
    assert [s["text"] for s in steps] == written


async def test_short_text_falls_back_to_the_project_then_english(http: AsyncClient, worker: object) -> None:
    spanish_project = await _project(http, "Tienda", "es")
    plain_project = await _project(http, "Shop")
    short = {"title": "Iniciar sesión", "acceptance_criteria": ["Entrar con correo"]}
    await _story(http, "S-1", spanish_project, **short)
    await _story(http, "S-2", plain_project, **short)
    await _story(http, "S-3", plain_project, **short, language="es")
    assert (await _generate(http, "S-1"))["language"] == "es"
    assert (await _generate(http, "S-2"))["language"] == "en"
    assert (await _generate(http, "S-3"))["language"] == "es"
    # the project's language wins over the detected one
    await _story(http, "S-4", spanish_project, **ENGLISH)
    assert (await _generate(http, "S-4"))["language"] == "es"


async def test_project_mixing_english_and_spanish(http: AsyncClient, worker: object) -> None:
    project = await _project(http, "Mixed")
    await _story(http, "EN-1", project, **ENGLISH)
    await _story(http, "ES-1", project, **SPANISH)
    for story_id, language in (("EN-1", "en"), ("ES-1", "es")):
        result = await _generate(http, story_id)
        assert result["language"] == language
        assert _spanish(result["test_cases"]) is (language == "es")
        r = await http.post(f"/generate-test-cases/{result['task_id']}/save")
        assert r.status_code in (200, 201), r.text

    for fmt in ("gherkin", "gherkin-tagged"):
        r = await http.get(f"/projects/{project}/test-cases/export?format={fmt}")
        assert r.status_code == 200
        archive = zipfile.ZipFile(io.BytesIO(r.content))
        files = {name: archive.read(name).decode() for name in archive.namelist()}
        assert sorted(files) == ["EN-1.feature", "ES-1.feature"]
        for name, language, keyword in (
            ("EN-1.feature", "en", "Feature"),
            ("ES-1.feature", "es", "Característica"),
        ):
            assert files[name].startswith(f"# language: {language}\n")
            feature = Parser().parse(files[name])["feature"]
            assert feature["language"] == language and feature["keyword"] == keyword

    csv_text = (await http.get(f"/projects/{project}/test-cases/export?format=csv")).text
    assert "está disponible" in csv_text and "is available" in csv_text  # the text unchanged
    testrail = (await http.get(f"/projects/{project}/test-cases/export?format=testrail-csv")).text
    assert "está disponible" in testrail
    xray = (await http.get(f"/projects/{project}/test-cases/export?format=xray-json&project_key=SHOP")).text
    assert "está disponible" in xray
