"""The requests that upload a file (multipart/form-data) instead of sending JSON: the JSON check lets
them through, and the body limit gives them MAX_ATTACHMENT_BYTES and the multipart framing."""

from __future__ import annotations

import re

from starlette.types import Scope

UPLOAD_PATH = re.compile(r"^/user-stories/[^/]+/attachments$")
UPLOAD_MEDIA_TYPE = "multipart/form-data"
UPLOAD_OVERHEAD_BYTES = 65_536  # the multipart boundaries and part headers around one file


def is_upload_path(scope: Scope) -> bool:
    """A path that takes uploads (whatever the method: another one is answered 405 by the router)."""
    return bool(UPLOAD_PATH.match(scope.get("path", "")))


def is_upload(scope: Scope) -> bool:
    return scope.get("method") == "POST" and is_upload_path(scope)
