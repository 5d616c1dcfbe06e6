from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from testgen.api.deps import StreamTokensDep
from testgen.api.openapi_doc import errors
from testgen.core.errors import NotConfiguredError

router = APIRouter(prefix="/auth", tags=["auth"])


class StreamToken(BaseModel):
    token: str
    expires_in: int


@router.post("/stream-token", response_model=StreamToken, responses=errors(404))
async def stream_token(request: Request, tokens: StreamTokensDep) -> StreamToken:
    """A short-lived token for `?access_token=` on event streams (EventSource cannot send headers)."""
    key = request.scope.get("state", {}).get("api_key")
    if key is None:
        raise NotConfiguredError("API_KEYS is not set: event streams need no token, open them directly")
    token, ttl = tokens.issue(key)
    return StreamToken(token=token, expires_in=ttl)
