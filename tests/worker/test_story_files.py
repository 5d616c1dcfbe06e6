"""A story's attachments in generation: a screenshot reaches each remote provider's fake server (real
SDK) as an image part of its size, a model marked text-only gets its name and never its bytes, text
files and PDFs go into the fenced story context within CONTEXT_MAX_TOKENS, images count in the
estimate and the usage ledger by the provider's documented rule, and the offline provider reads
criteria-like lines from text attachments."""

from __future__ import annotations

import io

import pytest
from httpx import AsyncClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from testgen.data.models import LLMUsage, StoryAttachment
from testgen.generation.budget import estimate_tokens
from testgen.generation.llm.prompt import FILES_FENCE, SYSTEM_INSTRUCTION
from testgen.generation.llm.story_files import (
    ImagePart,
    StoryFiles,
    gemini_image_tokens,
    image_tokens,
    openai_image_tokens,
)
from testgen.generation.planning import plan_batches
from testgen.worker.story_files import NO_ROOM, TRIMMED, criteria_lines, select_files
from tests.support import attachment_files as files
from tests.support.harness import run_worker
from tests.support.helpers import generate_with_worker, make_story, queue, read_events
from tests.support.model_servers import STORY, MakeProvider, ModelServer

SCREEN = (1000, 600)  # kept as is: under the 2,048 px bound


@pytest.fixture
def configured(settings: Settings, provider: ModelServer) -> Settings:
    settings = provider.configure(settings)
    settings.llm_image_models = f"{provider.name}:{provider.model}"  # the fake's model takes images
    return settings


async def attach(http: AsyncClient, story_id: str, name: str, data: bytes) -> dict[str, object]:
    r = await http.post(f"/user-stories/{story_id}/attachments", files={"file": (name, data)})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def generate(http: AsyncClient, settings: Settings, story_id: str) -> dict[str, object]:
    return await generate_with_worker(http, settings, story_id, num_test_cases=2, scenarios_per_test_case=1)


async def usage_rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[LLMUsage]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(LLMUsage)))


async def test_a_screenshot_reaches_the_model_as_an_image_part_of_its_size(
    http: AsyncClient,
    configured: Settings,
    provider: ModelServer,
    sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await make_story(http, "US-001")
    screen = files.png(*SCREEN)
    await attach(http, "US-001", "checkout.png", screen)
    await attach(http, "US-001", "spec.md", b"# Spec\n- The total shows VAT\n")
    result = await generate(http, configured, "US-001")

    (call,) = provider.fake.requests
    ((media_type, data),) = call.images
    assert media_type == "image/png"
    assert Image.open(io.BytesIO(data)).size == SCREEN
    assert b"secret-author-name" not in data  # the kept copy, without its metadata
    assert f"<{FILES_FENCE}>" in call.user_text and "The total shows VAT" in call.user_text
    assert "Images attached to this message, in order: checkout.png" in call.user_text
    used = {a["file_name"]: a for a in result["attachments"]}  # type: ignore[attr-defined]
    assert (used["checkout.png"]["use"], used["spec.md"]["use"]) == ("image", "text")
    # The ledger counts what the server reported, images included (the fake counts them by the rule).
    expected = image_tokens(provider.name, *SCREEN)
    assert call.image_tokens == expected
    (row,) = await usage_rows(sessionmaker)
    assert row.prompt_tokens == call.usage[provider.usage_fields[0]]  # type: ignore[index]
    assert row.prompt_tokens > expected


async def test_a_text_only_model_never_receives_image_bytes(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    configured.llm_image_models = f"{provider.name}:none-*"
    await make_story(http, "US-001")
    await attach(http, "US-001", "checkout.png", files.png(*SCREEN))
    result = await generate(http, configured, "US-001")

    (call,) = provider.fake.requests
    assert call.images == [] and call.image_tokens == 0
    assert "base64" not in str(call.body) and "inlineData" not in str(call.body)
    assert "Images of the story not shown to you (names only): checkout.png" in call.user_text
    (used,) = result["attachments"]  # type: ignore[misc]
    assert used["use"] == "name" and "LLM_IMAGE_MODELS" in used["reason"]


async def test_the_provider_sends_the_batchs_images(
    provider: ModelServer, make_provider: MakeProvider
) -> None:
    image = files.png(400, 300)
    request = plan_batches(STORY, 1, 1, 15)[0]
    part = ImagePart("a.png", "image/png", image, 400, 300)
    with_image = StoryFiles(images=(part,), image_tokens=image_tokens(provider.name, 400, 300))
    await make_provider().generate_batch(request.__class__(**{**request.__dict__, "files": with_image}))
    ((media_type, data),) = provider.fake.requests[0].images
    assert (media_type, data) == ("image/png", image)


@pytest.mark.parametrize(
    ("size", "gemini", "openai"),
    [
        ((300, 200), 258, 85 + 170),  # OpenAI: a small image is not scaled up
        ((384, 384), 258, 85 + 170),
        ((1000, 800), 4 * 258, 85 + 170 * 4),
        ((2048, 1024), 3 * 2 * 258, 85 + 170 * 6),
        ((1024, 1024), 4 * 258, 765),
        ((2048, 4096), 3 * 6 * 258, 1105),
    ],
)
def test_image_tokens_follow_each_providers_documented_rule(
    size: tuple[int, int], gemini: int, openai: int
) -> None:
    """Gemini: 258 at most 384 px both sides, else 258 per 768 px tile. OpenAI (high detail): fit in
    2048 px, short side to 768 (never up), 85 + 170 per 512 px tile."""
    assert gemini_image_tokens(*size) == gemini
    assert abs(openai_image_tokens(*size) - openai) <= openai * 0.1


def test_text_goes_into_the_context_within_its_share_and_the_rest_is_said() -> None:
    rows = [
        StoryAttachment(id=1, file_name="a.md", kind="text", text="a" * 30, media_type="text/plain"),
        StoryAttachment(id=2, file_name="b.pdf", kind="pdf", text="b" * 30, media_type="application/pdf"),
        StoryAttachment(id=3, file_name="c.txt", kind="text", text="c" * 30, media_type="text/plain"),
    ]
    chosen, used = select_files(rows, {}, provider="gemini", model="m", accepts_images=True, max_tokens=10)
    assert [(t.name, len(t.text), t.trimmed) for t in chosen.texts] == [
        ("a.md", 30, False),
        ("b.pdf", 10, True),
    ]
    assert [(u.use.value, u.reason) for u in used] == [
        ("text", None),
        ("text", TRIMMED),
        ("skipped", NO_ROOM),
    ]


def test_images_count_in_the_estimate_the_budget_hold_is_checked_against() -> None:
    request = plan_batches(STORY, 2, 1, 15)[0]
    plain = estimate_tokens([request])
    image = ImagePart("a.png", "image/png", b"", *SCREEN)
    files_ = StoryFiles(images=(image,), image_tokens=image_tokens("gemini", *SCREEN))
    with_image = estimate_tokens([request.__class__(**{**request.__dict__, "files": files_})])
    assert with_image - plain >= gemini_image_tokens(*SCREEN)
    assert SYSTEM_INSTRUCTION.count(FILES_FENCE) == 2


def test_criteria_like_lines_are_read_from_text() -> None:
    text = "Intro text\n- The total shows VAT\n2. Coupons apply once\nGiven a cart with 3 items\nnoise"
    assert criteria_lines([text]) == (
        "The total shows VAT",
        "Coupons apply once",
        "Given a cart with 3 items",
    )


async def test_the_offline_provider_writes_from_a_pdfs_criteria(
    http: AsyncClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    await make_story(http, "US-001", criteria=0)
    pdf = files.pdf_with_text(["Rules:", "- Shipping is free above 50 EUR", "- Gift cards never expire"])
    await attach(http, "US-001", "rules.pdf", pdf)
    result = await generate(http, settings, "US-001")
    written = str(result["test_cases"])
    assert "Shipping is free above 50 EUR" in written and "Gift cards never expire" in written


def test_which_models_take_images_by_default() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.accepts_images("gemini", "gemini-2.5-flash")
    assert settings.accepts_images("gemini", "models/gemini-2.0-flash-lite")
    assert settings.accepts_images("openai", "gpt-4o-mini")
    assert not settings.accepts_images("openai", "llama3.1:8b")  # an unknown local model: names only
    assert not settings.accepts_images("offline", "offline-v1")


async def test_regenerating_and_extending_a_draft_send_the_storys_images_too(
    http: AsyncClient, configured: Settings, provider: ModelServer
) -> None:
    await make_story(http, "US-001")
    await attach(http, "US-001", "checkout.png", files.png(*SCREEN))
    job = await queue(http, "US-001", num_test_cases=2, scenarios_per_test_case=1)
    async with run_worker(configured):
        assert (await read_events(http, job["events_url"]))[-1].event == "completed"
        task = job["task_id"]
        refined = []
        for url, body in (
            (f"/generate-test-cases/{task}/test-cases/0/regenerate", {"instruction": "add a declined card"}),
            (f"/generate-test-cases/{task}/extend", {"instruction": "more refunds", "num_test_cases": 1}),
        ):
            r = await http.post(url, json=body)
            assert r.status_code == 202, r.text
            events = await read_events(http, r.json()["events_url"])
            assert events[-1].event == "completed", events[-1].data
            refined.append(events[-1].data["result"])
    draft, regenerated, extended = provider.fake.requests
    for call in (regenerated, extended):
        ((media_type, data),) = call.images
        assert media_type == "image/png" and Image.open(io.BytesIO(data)).size == SCREEN
    for result in refined:
        assert [(a["file_name"], a["use"]) for a in result["attachments"]] == [("checkout.png", "image")]
    assert draft.images == regenerated.images
