"""A fake OpenID Provider on 127.0.0.1 (stdlib threaded server): discovery, JWKS, an authorization
endpoint that signs its one user in at once, the token endpoint and userinfo, as OpenID Connect Core
and Discovery 1.0 and RFC 6749 / 7636 (PKCE) describe them.

It checks what a provider checks (client authentication, one-time codes, the redirect URI, the PKCE
verifier) and can mint a bad ID token on demand for the refusal tests: `id_token_claims` overrides
claims (a wrong `aud`, an `exp` in the past, another `nonce`; None leaves a claim out), `signing`
"stranger" signs with a key it does not publish under a published key id, "unpublished" under a key
id the JWKS lacks, and `rotate()` starts signing with a new key that the JWKS lists from then on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "testgen-client"
CLIENT_SECRET = "fake-oidc-client-secret"


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    nonce: str | None
    code_challenge: str
    scope: str


@dataclass
class FakeOidc:
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    subject: str = "user-1"
    claims: dict[str, Any] = field(
        default_factory=lambda: {"email": "ada@example.com", "email_verified": True, "name": "Ada Lovelace"}
    )
    id_token_claims: dict[str, Any] = field(default_factory=dict)  # overrides of the minted ID token
    signing: str = "published"  # or "stranger", "unpublished"
    discovery_issuer: str | None = None  # the issuer the discovery document names, if not its own
    claims_in_id_token: bool = True  # False: profile claims only from userinfo
    token_requests: int = 0
    jwks_requests: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._keys = [_signing_key("key-1")]
        self._grants: dict[str, Grant] = {}
        self._access: dict[str, str] = {}
        self._server: ThreadingHTTPServer | None = None
        self.issuer = ""

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> FakeOidc:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._get(self)

            def do_POST(self) -> None:
                fake._post(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        ThreadingHTTPServer.request_queue_size = 64
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.issuer = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def rotate(self) -> None:
        """Sign with a new key from now on; the JWKS lists both."""
        with self._lock:
            kid = f"key-{len(self._keys) + 1}"
            self._keys.append(_signing_key(kid))

    # --- endpoints --------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.discovery_issuer or self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "groups"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", "email", "name", "groups"],
        }

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        url = urlsplit(handler.path)
        if url.path == "/.well-known/openid-configuration":
            self._reply(handler, 200, self.discovery())
        elif url.path == "/jwks":
            with self._lock:
                self.jwks_requests += 1
                keys = [key.as_dict(private=False) for key in self._keys]
            self._reply(handler, 200, {"keys": keys})
        elif url.path == "/authorize":
            self._authorize(handler, {k: v[0] for k, v in parse_qs(url.query).items()})
        elif url.path == "/userinfo":
            self._userinfo(handler)
        else:
            self._reply(handler, 404, {"error": "not_found"})

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length).decode()
        if urlsplit(handler.path).path != "/token":
            self._reply(handler, 404, {"error": "not_found"})
            return
        self._token(handler, {k: v[0] for k, v in parse_qs(body).items()})

    def _authorize(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        """The user is signed in at once; errors that a redirect URI cannot be trusted for are shown
        here, the rest go back to the client (RFC 6749 4.1.2.1)."""
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != self.client_id or not redirect_uri.startswith("http://127.0.0.1:"):
            self._reply(handler, 400, {"error": "invalid_request"})
            return
        back = {"state": query["state"]} if "state" in query else {}
        if (
            query.get("response_type") != "code"
            or "openid" not in query.get("scope", "").split()
            or query.get("code_challenge_method") != "S256"
            or not query.get("code_challenge")
        ):
            back["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(24)
            with self._lock:
                self._grants[code] = Grant(
                    self.client_id, redirect_uri, query.get("nonce"), query["code_challenge"], query["scope"]
                )
            back["code"] = code
        back["iss"] = self.issuer  # RFC 9207
        handler.send_response(302)
        handler.send_header("Location", f"{redirect_uri}?{urlencode(back)}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _client_authenticated(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> bool:
        header = handler.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
            return (unquote(user), unquote(password)) == (self.client_id, self.client_secret)
        return (form.get("client_id"), form.get("client_secret")) == (self.client_id, self.client_secret)

    def _token(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        with self._lock:
            self.token_requests += 1
        if not self._client_authenticated(handler, form):
            self._reply(handler, 401, {"error": "invalid_client"}, {"WWW-Authenticate": 'Basic realm="fake"'})
            return
        if form.get("grant_type") != "authorization_code":
            self._reply(handler, 400, {"error": "unsupported_grant_type"})
            return
        with self._lock:
            grant = self._grants.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if (
            grant is None
            or grant.redirect_uri != form.get("redirect_uri")
            or challenge != grant.code_challenge
        ):
            self._reply(handler, 400, {"error": "invalid_grant"})
            return
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._access[access] = self.subject
        answer = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": grant.scope,
            "id_token": self.mint_id_token(grant.nonce),
        }
        self._reply(handler, 200, answer, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _userinfo(self, handler: BaseHTTPRequestHandler) -> None:
        header = handler.headers.get("Authorization", "")
        with self._lock:
            subject = self._access.get(header[7:]) if header.startswith("Bearer ") else None
        if subject is None:
            challenge_header = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            self._reply(handler, 401, {"error": "invalid_token"}, challenge_header)
            return
        self._reply(handler, 200, {"sub": subject, **self.claims})

    # --- tokens -----------------------------------------------------------------------------------

    def mint_id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": self.subject,
            "aud": self.client_id,
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if self.claims_in_id_token:
            claims.update(self.claims)
        claims.update(self.id_token_claims)
        claims = {name: value for name, value in claims.items() if value is not None}
        with self._lock:
            key = self._keys[-1]
        if self.signing != "published":
            kid = key.kid if self.signing == "stranger" else "unpublished"
            key = _signing_key(kid or "key-1")
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    # --- plumbing ---------------------------------------------------------------------------------

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)


def _signing_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})
