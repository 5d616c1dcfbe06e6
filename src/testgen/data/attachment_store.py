"""Where the content of attachments is kept: one copy per content, named by its sha256.

`LocalStore` keeps files under DATA_DIR/attachments/<2 hex>/<64 hex>, written to a temporary file
and renamed into place, so a reader never sees half a file and two writers of one content agree.
Nothing is touched until the first write (no I/O at import or construction). With
ATTACHMENT_S3_BUCKET set, `store_for` gives the bucket's store instead (data/s3_store.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from testgen.core.config import Settings

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def content_key(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


class AttachmentStore(Protocol):
    async def put(self, key: str, content: bytes) -> None:
        """Keep `content` under `key` (its sha256); a content kept already is not written again."""

    async def get(self, key: str) -> bytes | None:
        """The content kept under `key`, or None."""

    async def delete(self, key: str) -> None:
        """Forget `key` (nothing happens when it is not kept)."""


class LocalStore:
    """Files under a folder (DATA_DIR/attachments)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        if not _SHA256.fullmatch(key):
            raise ValueError("an attachment key is a sha256 in lower-case hex")
        return self.root / key[:2] / key

    async def put(self, key: str, content: bytes) -> None:
        await asyncio.to_thread(self._put, key, content)

    def _put(self, key: str, content: bytes) -> None:
        target = self.path(key)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise

    async def get(self, key: str) -> bytes | None:
        return await asyncio.to_thread(self._get, key)

    def _get(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._delete, key)

    def _delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()


def local_store(data_dir: Path) -> LocalStore:
    return LocalStore(data_dir / "attachments")


_STORES: dict[int, tuple[Settings, AttachmentStore]] = {}


def store_for(settings: Settings) -> AttachmentStore:
    """The store `settings` name: the ATTACHMENT_S3_BUCKET when set (data/s3_store.py), else
    DATA_DIR/attachments. One per settings object, so a bucket's client is made once a process."""
    found = _STORES.get(id(settings))
    if found is not None and found[0] is settings:
        return found[1]
    store: AttachmentStore
    if settings.attachment_s3_bucket:
        from testgen.data.s3_store import S3Store  # boto3 is imported only when a bucket is used

        store = S3Store(settings)
    else:
        store = local_store(settings.data_dir)
    _STORES[id(settings)] = (settings, store)
    return store
