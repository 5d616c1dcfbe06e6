"""The providers' implicit prompt caching as the fakes model it.

Gemini and OpenAI both serve a prompt's leading tokens from a cache when an earlier request to the same
model began with the same tokens, once the shared part reaches a minimum (1,024 tokens for OpenAI and
the Gemini 2.5 models; OpenAI then counts in steps of 128). A prompt is a sequence of pieces: texts,
counted as the fakes count tokens (4 characters each), and images, counted whole by the vendor's rule.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Piece:
    """A text, or an image (`text` its digest, `tokens` its tokens)."""

    text: str
    tokens: int | None = None  # None: a text, counted by its characters

    def count(self, chars: int | None = None) -> int:
        if self.tokens is not None:
            return self.tokens
        return (len(self.text) if chars is None else chars) // 4


def shared_tokens(a: list[Piece], b: list[Piece]) -> int:
    """The tokens of the longest common prefix of two prompts (an image counts only whole)."""
    total = 0
    for x, y in zip(a, b, strict=False):
        if x == y:
            total += x.count()
            continue
        if x.tokens is None and y.tokens is None:
            n = 0
            for cx, cy in zip(x.text, y.text, strict=False):
                if cx != cy:
                    break
                n += 1
            total += x.count(n)
        break
    return total


class PromptCache:
    """The recent prompts per model, and the cached tokens of a new one."""

    def __init__(self, min_tokens: int = 1024, step: int = 1, keep: int = 64) -> None:
        self.min_tokens = min_tokens
        self.step = step
        self.keep = keep
        self._recent: dict[str, deque[list[Piece]]] = {}
        self._lock = threading.Lock()

    def cached(self, model: str, prompt: list[Piece]) -> int:
        """The prompt's tokens served from the cache; the prompt is remembered for later ones."""
        with self._lock:
            recent = self._recent.setdefault(model, deque(maxlen=self.keep))
            best = max((shared_tokens(prompt, earlier) for earlier in recent), default=0)
            recent.append(prompt)
        if best < self.min_tokens:
            return 0
        return best - best % self.step
