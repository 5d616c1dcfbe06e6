"""Keys a job's JSON carries only when they have a value (the worker has always left them out
otherwise): a field declared with `optional_key()` is None when the key is absent, and is left out
again when the model is dumped."""

from __future__ import annotations

from typing import Any

from pydantic import Field


def _is_none(value: object) -> bool:
    return value is None


def optional_key(**field: Any) -> Any:
    """A field that defaults to None and is not dumped while it is None."""
    return Field(default=None, exclude_if=_is_none, **field)
