"""Logging configuration, applied once by each entry point (API, worker, CLI)."""

from __future__ import annotations

import json
import logging
import re
import sys
from contextvars import ContextVar
from typing import IO, Any
from urllib.parse import unquote_plus

from opentelemetry import trace

task_context: ContextVar[dict[str, str] | None] = ContextVar("task_context", default=None)

# HTTP client internals log whole response headers at DEBUG, and a server or proxy may echo the API
# key in one: they stay at WARNING even when LOG_LEVEL=DEBUG. (google-genai uses httpx2/httpcore2.)
QUIET_LOGGERS = ("httpx", "httpcore", "httpx2", "httpcore2", "google_genai.models")

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class _ContextFilter(logging.Filter):
    """Copy task_id/story_id of the job being run onto every record logged inside it, and the
    trace_id/span_id of the current span when tracing is on (core/tracing.py)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (task_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        span = trace.get_current_span().get_span_context()
        if span.is_valid and not hasattr(record, "trace_id"):
            record.trace_id = format(span.trace_id, "032x")
            record.span_id = format(span.span_id, "016x")
        return True


SECRET_QUERY_PARAMS = ("access_token", "token", "api_key", "apikey", "key", "password", "secret")
_QUERY_PARAM = re.compile(r"([?&][^=&#\s]*=)[^&#\s]*")
# A secret's plain name anywhere, even inside another parameter's value (`?next=/x?token=abc`).
_SECRET_NAMED = re.compile(r"([?&](?:" + "|".join(SECRET_QUERY_PARAMS) + r")=)[^&#\s]*", re.IGNORECASE)


def _is_secret_param(name: str) -> bool:
    """`name` is one of SECRET_QUERY_PARAMS however it is spelt: any case, percent-encoded (at any depth)."""
    while (decoded := unquote_plus(name)) != name:
        name = decoded
    return name.lower() in SECRET_QUERY_PARAMS


def redact_query_secrets(text: str) -> str:
    """`/x?access_token=abc&y=1` -> `/x?access_token=[redacted]&y=1`; `access%5Ftoken=abc` too."""
    text = _QUERY_PARAM.sub(lambda m: m[1] + "[redacted]" if _is_secret_param(m[1][1:-1]) else m[0], text)
    return _SECRET_NAMED.sub(r"\1[redacted]", text)


class RedactQuerySecrets(logging.Filter):
    """uvicorn's access log line carries the full path with its query: hide secrets in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_query_secrets(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = redact_query_secrets(record.msg)
        return True


def redact_access_log() -> None:
    """Attach the filter to uvicorn's access logger (once), however the API is started."""
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuerySecrets) for f in access.filters):
        access.addFilter(RedactQuerySecrets())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = [f"{k}={getattr(record, k)}" for k in ("task_id", "story_id") if hasattr(record, k)]
        return f"{line} [{' '.join(ids)}]" if ids else line


def make_handler(fmt: str = "text", stream: IO[str] | None = None) -> logging.Handler:
    """A handler that writes our lines (JSON or text) with the job's and the trace's ids."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_ContextFilter())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-5s %(name)s: %(message)s"))
    return handler


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    handler = make_handler(fmt)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for own_handlers in ("arq", "uvicorn", "uvicorn.error", "uvicorn.access"):
        # their CLIs attach text handlers; everything goes through ours (JSON when asked)
        logging.getLogger(own_handlers).handlers.clear()
        logging.getLogger(own_handlers).propagate = True
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
