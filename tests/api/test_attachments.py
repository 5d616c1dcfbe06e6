"""Story attachments through the API: the type is found from the bytes, images lose their metadata and
are bounded, PDFs and text give their text, hostile files are refused with a 4xx and leave nothing
behind, the limits per story and per project hold, and one copy is kept per content."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from httpx import AsyncClient, Response
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from testgen.core.config import Settings
from testgen.data.models import StoryAttachment
from tests.support import attachment_files as files

STORY = {"title": "Checkout", "description": "Pay for the cart", "acceptance_criteria": ["Total shows VAT"]}


async def make_story(client: AsyncClient, story_id: str = "US-1", project: str = "Shop") -> str:
    found = (await client.get("/projects")).json()
    pid = next((p["id"] for p in found if p["name"] == project), None)
    if pid is None:
        created = await client.post("/projects", json={"name": project})
        assert created.status_code == 201, created.text
        pid = created.json()["id"]
    r = await client.post("/user-stories", json={**STORY, "id": story_id, "project_id": pid})
    assert r.status_code == 201, r.text
    return story_id


async def upload(
    client: AsyncClient, story_id: str, name: str, data: bytes, mime: str = "application/octet-stream"
) -> Response:
    return await client.post(f"/user-stories/{story_id}/attachments", files={"file": (name, data, mime)})


def stored_files(settings: Settings) -> list[Path]:
    root = settings.data_dir / "attachments"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def rows(sessionmaker: async_sessionmaker[AsyncSession]) -> list[StoryAttachment]:
    async with sessionmaker() as session:
        return list(await session.scalars(select(StoryAttachment)))


async def test_an_image_is_re_encoded_bounded_and_stripped_of_its_metadata(
    client: AsyncClient, settings: Settings
) -> None:
    story = await make_story(client)
    r = await upload(client, story, "screen.png", files.png(3000, 1500), "image/png")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["kind"], body["media_type"], body["width"], body["height"]) == (
        "image",
        "image/png",
        2048,
        1024,
    )
    got = await client.get(f"/user-stories/{story}/attachments/{body['id']}")
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert b"secret-author-name" not in got.content
    assert Image.open(io.BytesIO(got.content)).size == (2048, 1024)
    assert [p.read_bytes() for p in stored_files(settings)] == [got.content]
    listed = (await client.get(f"/user-stories/{story}/attachments")).json()
    assert [a["file_name"] for a in listed] == ["screen.png"]


async def test_jpeg_exif_and_gps_go(client: AsyncClient) -> None:
    story = await make_story(client)
    original = files.jpeg_with_gps()
    assert files.GPS_TAG in Image.open(io.BytesIO(original)).getexif()
    r = await upload(client, story, "photo.jpg", original)
    assert r.status_code == 201, r.text
    got = await client.get(f"/user-stories/{story}/attachments/{r.json()['id']}")
    assert got.headers["content-type"] == "image/jpeg"
    exif = Image.open(io.BytesIO(got.content)).getexif()
    assert files.GPS_TAG not in exif and files.ARTIST_TAG not in exif
    assert b"secret-artist" not in got.content


@pytest.mark.parametrize(
    ("make", "kind", "media_type"),
    [
        (files.webp, "image", "image/webp"),
        (files.gif, "image", "image/gif"),
        (lambda: files.pdf_with_text(["Given a cart"]), "pdf", "application/pdf"),
        (lambda: b"Plain notes\n", "text", "text/plain; charset=utf-8"),
    ],
)
async def test_the_type_comes_from_the_bytes_not_the_name(
    client: AsyncClient, make: Callable[[], bytes], kind: str, media_type: str
) -> None:
    story = await make_story(client)
    r = await upload(client, story, "misnamed.png.exe", make(), "image/svg+xml")
    assert r.status_code == 201, r.text
    assert (r.json()["kind"], r.json()["media_type"]) == (kind, media_type)


async def test_pdf_and_markdown_text_is_kept_for_generation(
    client: AsyncClient, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    story = await make_story(client)
    pdf = await upload(
        client, story, "spec.pdf", files.pdf_with_text(["The total shows VAT", "Coupons apply once"])
    )
    md = await upload(client, story, "notes.md", "# Notes\n- Café prices in € \n".encode())
    assert pdf.status_code == md.status_code == 201, (pdf.text, md.text)
    assert pdf.json()["pages"] == 1
    assert md.json()["media_type"] == "text/markdown; charset=utf-8"
    texts = {row.file_name: row.text for row in await rows(sessionmaker)}
    assert "Coupons apply once" in (texts["spec.pdf"] or "")
    assert texts["notes.md"] == "# Notes\n- Café prices in € \n"


@pytest.mark.parametrize(
    ("name", "make", "status"),
    [
        ("bomb.png", files.png_bomb, 400),  # past Pillow's own bomb limit
        ("big.png", lambda: files.png_bomb(10_000), 400),  # 100 megapixels: past ATTACHMENT_MAX_IMAGE_PIXELS
        ("book.pdf", lambda: files.pdf_with_pages(10_000), 413),
        ("logo.svg", lambda: files.SVG, 415),
        ("image.png", files.png_pdf_polyglot, 415),
        ("notes.txt", files.text_pdf_polyglot, 415),
        ("program.bin", lambda: bytes(range(256)) * 4, 415),
        ("broken.pdf", lambda: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage", 400),
        ("broken.png", lambda: files.png()[:60], 400),
        ("empty.txt", lambda: b"", 400),
    ],
)
async def test_a_hostile_or_unknown_file_is_refused_and_nothing_is_kept(
    client: AsyncClient,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    name: str,
    make: Callable[[], bytes],
    status: int,
) -> None:
    story = await make_story(client)
    r = await upload(client, story, name, make())
    assert r.status_code == status, r.text
    assert name in r.json()["detail"]
    assert await rows(sessionmaker) == []
    assert stored_files(settings) == []


async def test_the_size_limit_refuses_with_413(
    client: AsyncClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    settings.max_attachment_bytes = 4096
    story = await make_story(client)
    r = await upload(client, story, "long.txt", b"a" * 5000)
    assert r.status_code == 413, r.text
    assert "MAX_ATTACHMENT_BYTES" in r.json()["detail"]
    assert await rows(sessionmaker) == [] and stored_files(settings) == []


async def test_a_body_past_the_upload_limit_is_refused_before_it_is_read(
    client: AsyncClient, settings: Settings
) -> None:
    story = await make_story(client)
    r = await upload(client, story, "huge.txt", b"a" * (settings.max_attachment_bytes + 100_000))
    assert r.status_code == 413
    assert stored_files(settings) == []


async def test_limits_per_story_and_per_project(client: AsyncClient, settings: Settings) -> None:
    settings.max_attachments_per_story = 2
    story = await make_story(client)
    for n in range(2):
        assert (await upload(client, story, f"n{n}.txt", f"note {n}".encode())).status_code == 201
    third = await upload(client, story, "n2.txt", b"note 2")
    assert third.status_code == 409
    assert "MAX_ATTACHMENTS_PER_STORY" in third.json()["detail"]

    settings.max_attachment_bytes_per_project = 1100
    other = await make_story(client, "US-2")
    assert (await upload(client, other, "a.txt", b"a" * 1000)).status_code == 201
    over = await upload(client, other, "b.txt", b"b" * 200)
    assert over.status_code == 413
    assert "MAX_ATTACHMENT_BYTES_PER_PROJECT" in over.json()["detail"]
    elsewhere = await make_story(client, "OPS-1", project="Ops")
    assert (await upload(client, elsewhere, "b.txt", b"b" * 200)).status_code == 201


async def test_one_copy_per_content_kept_until_its_last_attachment_goes(
    client: AsyncClient, settings: Settings
) -> None:
    first, second = await make_story(client, "US-1"), await make_story(client, "US-2")
    image = files.png(100, 100)
    a = (await upload(client, first, "a.png", image)).json()
    b = (await upload(client, second, "b.png", image)).json()
    assert a["sha256"] == b["sha256"]
    assert len(stored_files(settings)) == 1
    assert (await client.delete(f"/user-stories/{first}/attachments/{a['id']}")).status_code == 204
    assert len(stored_files(settings)) == 1
    assert (await client.get(f"/user-stories/{second}/attachments/{b['id']}")).status_code == 200
    assert (await client.delete(f"/user-stories/{second}/attachments/{b['id']}")).status_code == 204
    assert stored_files(settings) == []
    assert (await client.get(f"/user-stories/{second}/attachments")).json() == []


async def test_deleting_a_story_deletes_the_content_only_it_named(
    client: AsyncClient, settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    first, second = await make_story(client, "US-1"), await make_story(client, "US-2")
    shared = files.png(100, 100)
    await upload(client, first, "shared.png", shared)
    await upload(client, first, "own.txt", b"only the first story's notes\n")
    kept = (await upload(client, second, "shared.png", shared)).json()
    assert len(stored_files(settings)) == 2

    assert (await client.delete(f"/user-stories/{first}")).status_code == 204
    assert [row.story_id for row in await rows(sessionmaker)] == [second]
    (left,) = stored_files(settings)
    assert kept["sha256"] in str(left)
    assert (await client.get(f"/user-stories/{second}/attachments/{kept['id']}")).status_code == 200
    assert (await client.delete(f"/user-stories/{second}")).status_code == 204
    assert stored_files(settings) == []


async def test_another_storys_attachment_is_not_found(client: AsyncClient) -> None:
    first, second = await make_story(client, "US-1"), await make_story(client, "US-2")
    a = (await upload(client, first, "a.txt", b"first")).json()
    assert (await client.get(f"/user-stories/{second}/attachments/{a['id']}")).status_code == 404
    assert (await client.delete(f"/user-stories/{second}/attachments/{a['id']}")).status_code == 404
    assert (await client.get(f"/user-stories/{first}/attachments/{a['id']}")).content == b"first"


async def test_json_is_still_refused_on_other_routes_as_multipart(client: AsyncClient) -> None:
    story = await make_story(client)
    r = await client.post(f"/user-stories/{story}/check", files={"file": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 415


async def test_another_method_with_a_multipart_body_is_not_allowed(client: AsyncClient) -> None:
    story = await make_story(client)
    r = await client.put(f"/user-stories/{story}/attachments", files={"file": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 405
