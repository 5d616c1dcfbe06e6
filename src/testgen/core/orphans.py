"""Child processes that die with their parent, however it dies (even by SIGKILL)."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable


def die_with_parent(signum: int) -> Callable[[], None] | None:
    """A `preexec_fn`: the child gets `signum` when its parent dies, however it dies (Linux only).

    Only for single-threaded parents (what runs between fork and exec must take no lock)."""
    parent = os.getpid()
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def _set() -> None:
        prctl(1, signum)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the line above
            os._exit(1)

    return _set
