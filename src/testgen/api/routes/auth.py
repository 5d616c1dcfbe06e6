from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

router = APIRouter(prefix="/auth", tags=["auth"])


class StreamToken(BaseModel):
    token: str
    expires_in: int


@router.post("/stream-token", response_model=StreamToken)
async def stream_token(request: Request) -> StreamToken:
    """A short-lived token for `?access_token=` on event streams (EventSource cannot send headers)."""
    token, ttl = request.app.state.stream_tokens.issue()
    return StreamToken(token=token, expires_in=ttl)
