"""Attachment content in an S3-compatible bucket (AWS S3, MinIO, Ceph, ...), for API and worker
processes on several hosts: objects `<prefix><2 hex>/<sha256>`, written whole (a PUT is atomic), read
and deleted by key. boto3 is synchronous: each call runs in a thread. The client is made on first use
(no I/O before)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from testgen.core.config import Settings

MISSING = ("NoSuchKey", "404", "NotFound")
CONNECT_TIMEOUT_S = 10
READ_TIMEOUT_S = 60
ATTEMPTS = 3


class S3Store:
    def __init__(self, settings: Settings) -> None:
        assert settings.attachment_s3_bucket is not None
        self.bucket = settings.attachment_s3_bucket
        self.prefix = settings.attachment_s3_prefix
        self._settings = settings
        self._client: Any = None
        self._lock = threading.Lock()

    def object_key(self, key: str) -> str:
        return f"{self.prefix}{key[:2]}/{key}"

    def _s3(self) -> Any:
        with self._lock:
            if self._client is None:
                settings = self._settings
                secret = settings.attachment_s3_secret_access_key
                self._client = boto3.session.Session().client(
                    "s3",
                    endpoint_url=settings.attachment_s3_endpoint_url,
                    region_name=settings.attachment_s3_region,
                    aws_access_key_id=settings.attachment_s3_access_key_id,
                    aws_secret_access_key=secret.get_secret_value() if secret else None,
                    config=Config(
                        connect_timeout=CONNECT_TIMEOUT_S,
                        read_timeout=READ_TIMEOUT_S,
                        retries={"max_attempts": ATTEMPTS, "mode": "standard"},
                        s3={"addressing_style": "path"},
                    ),
                )
            return self._client

    async def put(self, key: str, content: bytes) -> None:
        await asyncio.to_thread(
            self._s3().put_object, Bucket=self.bucket, Key=self.object_key(key), Body=content
        )

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> bytes | None:
        try:
            found = self._s3().get_object(Bucket=self.bucket, Key=self.object_key(key))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in MISSING:
                return None
            raise
        body: bytes = found["Body"].read()
        return body

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._s3().delete_object, Bucket=self.bucket, Key=self.object_key(key))
