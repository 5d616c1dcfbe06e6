"""Attachment content in an S3-compatible bucket: moto's S3 server on 127.0.0.1 (its server mode,
spoken to by the real boto3 client), through the API and a generation job. Nothing lands in DATA_DIR;
one object per content; the last attachment's deletion deletes it."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from httpx import AsyncClient
from moto.server import ThreadedMotoServer
from PIL import Image
from pydantic import SecretStr

from testgen.core.config import Settings
from testgen.core.embedded_redis import free_port
from testgen.data.attachment_store import store_for
from testgen.data.s3_store import S3Store
from testgen.worker.resources import WorkerResources
from testgen.worker.story_files import load_story_files
from tests.api.test_attachments import make_story, stored_files, upload
from tests.support import attachment_files as files

BUCKET = "testgen-attachments"
KEY_ID, SECRET = "test-key-id", "test-secret-key"


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_url: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    client = boto3.client(
        "s3",
        endpoint_url=s3_url,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


@pytest.fixture
def settings(settings: Settings, s3_url: str, bucket: Any) -> Settings:
    settings.attachment_s3_bucket = BUCKET
    settings.attachment_s3_endpoint_url = s3_url
    settings.attachment_s3_region = "us-east-1"
    settings.attachment_s3_access_key_id = KEY_ID
    settings.attachment_s3_secret_access_key = SecretStr(SECRET)
    return settings


def objects(bucket: Any) -> list[str]:
    return sorted(item["Key"] for item in bucket.list_objects_v2(Bucket=BUCKET).get("Contents", []))


async def test_the_store_keeps_reads_and_deletes_objects(settings: Settings, bucket: Any) -> None:
    store = store_for(settings)
    assert isinstance(store, S3Store)
    key = "ab" + "0" * 62
    assert await store.get(key) is None
    await store.put(key, b"content")
    assert objects(bucket) == [f"attachments/ab/{key}"]
    assert await store.get(key) == b"content"
    await store.delete(key)
    assert objects(bucket) == [] and await store.get(key) is None


async def test_uploads_go_to_the_bucket_once_per_content(
    client: AsyncClient, settings: Settings, bucket: Any
) -> None:
    first, second = await make_story(client, "US-1"), await make_story(client, "US-2")
    image = files.png(3000, 1000)
    a = (await upload(client, first, "a.png", image)).json()
    b = (await upload(client, second, "b.png", image)).json()
    assert objects(bucket) == [f"attachments/{a['sha256'][:2]}/{a['sha256']}"] and a["sha256"] == b["sha256"]
    assert stored_files(settings) == []
    got = await client.get(f"/user-stories/{first}/attachments/{a['id']}")
    assert got.status_code == 200 and Image.open(io.BytesIO(got.content)).size == (2048, 683)
    refused = await upload(client, first, "logo.svg", files.SVG)
    assert refused.status_code == 415 and len(objects(bucket)) == 1
    assert (await client.delete(f"/user-stories/{first}/attachments/{a['id']}")).status_code == 204
    assert len(objects(bucket)) == 1
    assert (await client.delete(f"/user-stories/{second}/attachments/{b['id']}")).status_code == 204
    assert objects(bucket) == []


async def test_a_generation_job_reads_images_from_the_bucket(
    client: AsyncClient, settings: Settings, bucket: Any, resources: WorkerResources
) -> None:
    story = await make_story(client, "US-1")
    added = (await upload(client, story, "screen.png", files.png(500, 300))).json()
    kept = (await client.get(f"/user-stories/{story}/attachments/{added['id']}")).content
    chosen, used = await load_story_files(resources, story, "gemini", "gemini-2.5-flash")
    assert [image.data for image in chosen.images] == [kept]
    assert [u.use.value for u in used] == ["image"]
