from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel

from testgen.api import access
from testgen.api.deps import (
    AuthConfigDep,
    PrincipalDep,
    SessionDep,
    SessionsDep,
    SignInLimiterDep,
    StreamTokensDep,
)
from testgen.api.openapi_doc import errors
from testgen.api.rate_limits import client_address
from testgen.api.schemas.accounts import (
    AuthConfigOut,
    LoginOut,
    LoginRequest,
    MeOut,
    TokenCreate,
    TokenCreated,
    TokenOut,
    UserOut,
)
from testgen.api.services import accounts
from testgen.api.sessions import SESSION_COOKIE, clear_session_cookie, request_is_https, set_session_cookie
from testgen.core.errors import NotConfiguredError

router = APIRouter(prefix="/auth", tags=["auth"])
MAX_TOKEN_ID = 2**31 - 1


class StreamToken(BaseModel):
    token: str
    expires_in: int


@router.get("/config", response_model=AuthConfigOut)
async def auth_config(config: AuthConfigDep) -> object:
    """Whether sign-in is required and which ways are offered (for the page's sign-in screen)."""
    return config


@router.post("/login", response_model=LoginOut, responses=errors(401, 429))
async def login(
    request: Request,
    data: LoginRequest,
    response: Response,
    session: SessionDep,
    sessions: SessionsDep,
    limiter: SignInLimiterDep,
) -> object:
    """Sign in with email and password: sets the session cookie (HTTP-only, SameSite=Lax, Secure over
    HTTPS) and answers the CSRF token that state-changing requests send back in X-CSRF-Token."""
    signed_in = await accounts.login(
        session,
        sessions,
        limiter,
        email=data.email,
        password=data.password,
        address=client_address(request.scope),
        old_sid=request.cookies.get(SESSION_COOKIE),
    )
    request.app.state.users_gate.mark()
    set_session_cookie(
        response, signed_in.session.sid, secure=request_is_https(request), max_age=sessions.ttl_s
    )
    return LoginOut(user=UserOut.model_validate(signed_in.user), csrf_token=signed_in.session.csrf_token)


@router.post("/logout", status_code=204)
async def logout(request: Request, sessions: SessionsDep) -> Response:
    """End this session on the server (its cookie no longer opens anything)."""
    sid = request.scope.get("state", {}).get("session_id")
    if sid is not None:
        await sessions.end(sid)
    response = Response(status_code=204)
    clear_session_cookie(response, secure=request_is_https(request))
    return response


@router.get("/me", response_model=MeOut)
async def me(request: Request, principal: PrincipalDep, session: SessionDep, sessions: SessionsDep) -> object:
    """Who is asking, their projects and roles; signed in by cookie, the session's CSRF token too."""
    sid = request.scope.get("state", {}).get("session_id")
    data = await sessions.get(sid) if sid is not None else None
    return await accounts.me(session, principal, data.csrf_token if data is not None else None)


@router.get("/tokens", response_model=list[TokenOut])
async def list_tokens(principal: PrincipalDep, session: SessionDep) -> object:
    """The caller's personal API tokens that are not revoked (never the tokens themselves)."""
    return await accounts.list_tokens(session, principal)


@router.post("/tokens", status_code=201, response_model=TokenCreated, responses=errors(400, 403))
async def create_token(
    request: Request, data: TokenCreate, principal: PrincipalDep, session: SessionDep
) -> object:
    """A personal API token for the CLI and integrations (`Authorization: Bearer <token>`), with the
    caller's roles. The answer is the only time the token is shown."""
    created = await accounts.create_token(session, principal, data)
    access.audit_object(request, "token", created.id)
    return created


@router.delete("/tokens/{token_id}", status_code=204, responses=errors(404))
async def revoke_token(
    principal: PrincipalDep, session: SessionDep, token_id: Annotated[int, Path(ge=1, le=MAX_TOKEN_ID)]
) -> Response:
    """Revoke one of the caller's tokens: refused from the next request on."""
    await accounts.revoke_token(session, principal, token_id)
    return Response(status_code=204)


@router.post("/stream-token", response_model=StreamToken, responses=errors(404))
async def stream_token(request: Request, principal: PrincipalDep, tokens: StreamTokensDep) -> StreamToken:
    """A short-lived token for `?access_token=` on event streams (EventSource cannot send headers)."""
    key = request.scope.get("state", {}).get("api_key")
    if key is not None:
        token, ttl = tokens.issue(key)
    elif principal.user_id is not None and tokens.secret:
        token, ttl = tokens.issue_for_user(principal.user_id)
    else:
        raise NotConfiguredError(
            "Event streams need no token here: open them directly (signed in, the session cookie opens them)"
        )
    return StreamToken(token=token, expires_in=ttl)
