from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from testgen.api.deps import StreamTokensDep

router = APIRouter(prefix="/auth", tags=["auth"])


class StreamToken(BaseModel):
    token: str
    expires_in: int


@router.post("/stream-token", response_model=StreamToken)
async def stream_token(tokens: StreamTokensDep) -> StreamToken:
    """A short-lived token for `?access_token=` on event streams (EventSource cannot send headers)."""
    token, ttl = tokens.issue()
    return StreamToken(token=token, expires_in=ttl)
