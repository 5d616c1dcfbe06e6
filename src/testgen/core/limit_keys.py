"""Redis key names of the per-client limits (every limit key is named here and nowhere else)."""

from __future__ import annotations

PREFIX = "testgen:limit"


def requests_key(principal: str, window: int) -> str:
    """The request counter of one client in one minute-long window."""
    return f"{PREFIX}:{principal}:requests:{window}"


def jobs_key(principal: str) -> str:
    """The jobs a client has queued or running (a sorted set of task ids and reservations)."""
    return f"{PREFIX}:{principal}:jobs"
