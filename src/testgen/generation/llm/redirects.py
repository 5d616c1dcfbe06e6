"""A model server that answers with a redirect: the providers never follow one, since the SDKs would
send the key header (`x-goog-api-key`, `api-key`) on to wherever it points, another host included.
The call fails at once with a message naming where the redirect pointed and the setting to change."""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from testgen.core.redaction import Scrubber
from testgen.domain.job_errors import ErrorType
from testgen.generation.llm.base import LLMError

MAX_TARGET_CHARS = 200


def is_redirect(status: int) -> bool:
    return 300 <= status < 400


def redirect_error(
    display: str,
    where: str,
    setting: str,
    status: int,
    location: str | None,
    request_url: str | None,
    scrub: Scrubber,
) -> LLMError:
    """The failure of a call that `display` at `where` answered with redirect `status` to `location`
    (relative to `request_url`); `setting` is the one that names the server."""
    target = _target(location, request_url, scrub)
    return LLMError(
        ErrorType.configuration,
        f"{display} at {where} answered HTTP {status}, a redirect to {target}; it is not followed, so "
        "that the API key is not sent to another address. "
        f"Set {setting} to the final base URL, then try again.",
    )


def _target(location: str | None, request_url: str | None, scrub: Scrubber) -> str:
    """Where a redirect points, without its credentials, query or fragment, printable and bounded."""
    if not location or not location.strip():
        return "an address it did not give"
    try:
        parts = urlsplit(urljoin(request_url or "", location.strip()[:2000]))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an address that is not a URL"
    if ":" in host:
        host = f"[{host}]"
    shown = f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme and host else parts.path
    shown = "".join(c for c in shown if c.isprintable() and not c.isspace())
    if len(shown) > MAX_TARGET_CHARS:
        shown = shown[: MAX_TARGET_CHARS - 1] + "…"
    return scrub(shown) or "an address it did not give"
