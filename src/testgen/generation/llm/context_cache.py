"""An explicit provider cache of a job's shared prompt prefix, for the job's life.

Every batch of a job begins with the same prefix (prompt.py's `shared_prefix`), which providers'
implicit caching already serves at a discount. When that prefix is large (long attachments, images)
and the job has several batches, a provider that offers explicit caches (Gemini's cachedContents)
holds it once: each batch then sends only its own part. The cache is deleted when the job ends and
expires by itself after `ttl_s` if the worker dies first (a job run again makes a new one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Protocol, runtime_checkable

from testgen.generation.budget import call_tokens
from testgen.generation.llm.base import BatchRequest
from testgen.generation.llm.factory import BoundProvider
from testgen.generation.llm.prompt import SYSTEM_INSTRUCTION, shared_prefix


@runtime_checkable
class CachesContext(Protocol):
    async def cache_context(self, request: BatchRequest, model: str, ttl_s: int) -> str | None: ...

    async def drop_context(self, name: str) -> None: ...


def prefix_tokens(request: BatchRequest) -> int:
    """The estimated tokens every batch of the request's job shares (system rules, prefix, images)."""
    return call_tokens(SYSTEM_INSTRUCTION, shared_prefix(request), 0) + request.files.image_tokens


@asynccontextmanager
async def shared_context(
    provider: BoundProvider, batches: Sequence[BatchRequest], *, min_tokens: int, ttl_s: int
) -> AsyncIterator[list[BatchRequest]]:
    """The batches, reading their shared prefix from an explicit cache when the provider has them,
    the job asks two or more calls and the prefix reaches `min_tokens` (0: never); else as given."""
    inner = provider.provider
    if (
        min_tokens <= 0
        or len(batches) < 2
        or not isinstance(inner, CachesContext)
        or prefix_tokens(batches[0]) < min_tokens
    ):
        yield list(batches)
        return
    name = await inner.cache_context(batches[0], provider.model, ttl_s)
    if name is None:
        yield list(batches)
        return
    try:
        yield [dataclasses.replace(batch, cached_context=name) for batch in batches]
    finally:
        await inner.drop_context(name)
