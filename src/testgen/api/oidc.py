"""OpenID Connect sign-in as a relying party: the authorization code flow with PKCE (S256).

`OidcClient.start` makes the provider's authorization URL and keeps what the callback needs (PKCE
verifier, nonce, return path, redirect URI, the hash of the browser's binding cookie) in Redis for
ten minutes under the state; `OidcClient.finish` takes that record once (GETDEL), exchanges the code
and checks the ID token: signature through the provider's JWKS (cached, fetched again once for an
unknown key id), issuer, audience (and `azp` when there are several), expiry, issue time and nonce.
Claims the ID token lacks are read from the userinfo endpoint. No token ever appears in a message.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import secrets
from collections.abc import Mapping
from typing import Any

import httpx2
from authlib.common.errors import AuthlibBaseError  # type: ignore[import-untyped]
from authlib.integrations.httpx_client import AsyncOAuth2Client  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ClaimError,
    ExpiredTokenError,
    InvalidKeyIdError,
    JoseError,
    MissingKeyError,
)
from joserfc.jwk import KeySet
from pydantic import BaseModel, ConfigDict, ValidationError
from redis.asyncio import Redis

from testgen.core.config import Settings
from testgen.core.errors import AuthenticationError, ConfigurationError, ServiceUnavailableError
from testgen.core.redis_keys import oidc_state_key
from testgen.domain.roles import Role

logger = logging.getLogger(__name__)

STATE_TTL_S = 600  # a sign-in must come back from the provider within ten minutes
LEEWAY_S = 60  # clock skew allowed on exp and iat
MAX_STATE_CHARS = 200
MAX_SUBJECT_CHARS = 255  # the users table's limits
MAX_EMAIL_CHARS = 320
MAX_NAME_CHARS = 200
# Algorithms of keys published in a JWKS; HS* (the client secret as key) and "none" are refused.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"}
)
SIGN_IN_AGAIN = "sign in again"
_DISCOVERY_PATH = "/.well-known/openid-configuration"


class OidcIdentity(BaseModel):
    """Who the provider vouches for. `groups` holds the values of OIDC_ROLE_CLAIM (empty if unset)."""

    model_config = ConfigDict(frozen=True)

    issuer: str
    subject: str
    email: str
    name: str
    groups: list[str]


class OidcStart(BaseModel):
    """Where to send the browser, and the binding cookie value it must bring back to the callback."""

    url: str
    binding: str


class OidcResult(BaseModel):
    identity: OidcIdentity
    next_path: str


class _Pending(BaseModel):
    """What one sign-in under way keeps in Redis, under its state."""

    verifier: str
    nonce: str
    next_path: str
    redirect_uri: str
    binding_hash: str


class _Metadata(BaseModel):
    """The parts of the provider's discovery document the flow uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None = None
    id_token_signing_alg_values_supported: list[str] = ["RS256"]
    code_challenge_methods_supported: list[str] | None = None


def binding_hash(binding: str) -> str:
    return hashlib.sha256(binding.encode()).hexdigest()


def admin_role(identity: OidcIdentity, settings: Settings) -> bool | None:
    """Server admin when OIDC_ROLE_CLAIM holds one of OIDC_ADMIN_VALUES; None when no claim is set
    (the admin flag is then managed in testgen)."""
    if not settings.oidc_role_claim:
        return None
    wanted = set(settings.oidc_admin_value_list)
    return any(value in wanted for value in identity.groups)


def project_roles(identity: OidcIdentity, settings: Settings) -> dict[str, Role]:
    """The project roles OIDC_PROJECT_ROLES gives the claim's values: project name (or `*`, every
    project) to the highest role any of the values gives there."""
    mapping = settings.oidc_project_role_map
    granted: dict[str, Role] = {}
    for value in identity.groups:
        for project, name in mapping.get(value, {}).items():
            role = Role(name)
            if project not in granted or role.rank > granted[project].rank:
                granted[project] = role
    return granted


def _refused(what: str) -> AuthenticationError:
    return AuthenticationError(f"The sign-in was refused: {what}; {SIGN_IN_AGAIN}")


class OidcClient:
    """One per process (the app's lifespan): holds the provider's metadata and keys once read."""

    def __init__(
        self, settings: Settings, redis: Redis, *, transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        if not settings.oidc_issuer or not settings.oidc_client_id:
            raise ConfigurationError("OpenID Connect needs OIDC_ISSUER and OIDC_CLIENT_ID")
        self.settings = settings
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.redis = redis
        secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        self._oauth = AsyncOAuth2Client(
            client_id=self.client_id,
            client_secret=secret or None,
            scope=settings.oidc_scopes,
            code_challenge_method="S256",
            timeout=settings.oidc_timeout_s,
            transport=transport,
            follow_redirects=False,
        )
        self._metadata: _Metadata | None = None
        self._keys: KeySet | None = None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        await self._oauth.aclose()

    # --- the flow ---------------------------------------------------------------------------------

    async def start(self, *, redirect_uri: str, next_path: str, binding: str | None = None) -> OidcStart:
        """The authorization URL of a new sign-in; `binding` is the browser's binding cookie if it has
        one (several sign-ins in one browser share it), else a new one is made."""
        metadata = await self.metadata()
        binding = binding or secrets.token_urlsafe(32)
        state = secrets.token_urlsafe(32)
        pending = _Pending(
            verifier=secrets.token_urlsafe(48),
            nonce=secrets.token_urlsafe(32),
            next_path=next_path,
            redirect_uri=redirect_uri,
            binding_hash=binding_hash(binding),
        )
        await self.redis.set(oidc_state_key(state), pending.model_dump_json(), ex=STATE_TTL_S)
        url, _ = self._oauth.create_authorization_url(
            metadata.authorization_endpoint,
            state=state,
            code_verifier=pending.verifier,
            nonce=pending.nonce,
            redirect_uri=redirect_uri,
        )
        return OidcStart(url=url, binding=binding)

    async def finish(self, *, code: str, state: str, binding: str | None) -> OidcResult:
        """The identity of a sign-in that came back with `code` and `state`, each state taken once."""
        pending = await self._take(state)
        if not binding or not hmac.compare_digest(binding_hash(binding), pending.binding_hash):
            raise _refused("it was started in another browser (or its cookie is gone)")
        metadata = await self.metadata()
        token = await self._exchange(metadata, code, pending)
        claims = await self.verify_id_token(token.get("id_token"), nonce=pending.nonce)
        claims = await self._with_userinfo(metadata, claims, token.get("access_token"))
        return OidcResult(identity=self._identity(claims), next_path=pending.next_path)

    async def abandon(self, state: str | None, error: str | None) -> AuthenticationError:
        """The error for a callback without a code (the provider's `error`, or nothing); its state, if
        any, is used up as well."""
        if state and len(state) <= MAX_STATE_CHARS:
            await self.redis.delete(oidc_state_key(state))
        if error is None:
            return _refused("the callback carries no code or no state")
        return _refused(f"the identity provider answered {_short_code(error)}")

    async def _take(self, state: str) -> _Pending:
        raw = await self.redis.getdel(oidc_state_key(state)) if 0 < len(state) <= MAX_STATE_CHARS else None
        if raw is None:
            raise _refused("this sign-in is unknown, expired (ten minutes) or already used")
        try:
            return _Pending.model_validate_json(raw)
        except ValidationError:
            raise _refused("this sign-in is unknown, expired (ten minutes) or already used") from None

    async def _exchange(self, metadata: _Metadata, code: str, pending: _Pending) -> Mapping[str, Any]:
        try:
            token = await self._oauth.fetch_token(
                metadata.token_endpoint,
                grant_type="authorization_code",
                code=code,
                code_verifier=pending.verifier,
                redirect_uri=pending.redirect_uri,
            )
        except AuthlibBaseError as exc:
            if exc.error == "invalid_client":
                raise ConfigurationError(
                    "The identity provider refused this server's client credentials: check "
                    "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET against the client registered there"
                ) from None
            raise _refused(f"the identity provider refused the code ({_short_code(exc.error)})") from None
        except httpx2.HTTPError as exc:
            raise _unreachable("token endpoint", exc) from None
        except ValueError:
            raise _refused("the identity provider's token answer is not a JSON object") from None
        if not isinstance(token, Mapping):
            raise _refused("the identity provider's token answer is not a JSON object")
        return token

    # --- the ID token -----------------------------------------------------------------------------

    async def verify_id_token(self, id_token: object, *, nonce: str) -> dict[str, Any]:
        """The claims of a valid ID token for this client and this sign-in's nonce."""
        if not isinstance(id_token, str) or not id_token:
            raise _refused("the identity provider sent no ID token (is `openid` in OIDC_SCOPES?)")
        metadata = await self.metadata()
        algorithms = [a for a in metadata.id_token_signing_alg_values_supported if a in ASYMMETRIC_ALGORITHMS]
        if not algorithms:
            raise ConfigurationError(
                "The identity provider signs ID tokens with no public-key algorithm: configure it for "
                "RS256 or ES256 ID tokens"
            )
        keys = await self._jwks(refresh=False)
        try:
            try:
                decoded = jwt.decode(id_token, keys, algorithms=algorithms)
            except InvalidKeyIdError:
                decoded = jwt.decode(id_token, await self._jwks(refresh=True), algorithms=algorithms)
        except InvalidKeyIdError:
            raise _refused("the ID token is signed by a key the provider does not publish") from None
        except BadSignatureError:
            raise _refused("the ID token's signature is not the identity provider's") from None
        except (JoseError, ValueError):
            raise _refused("the ID token cannot be read or uses an algorithm not allowed") from None
        self._check_claims(decoded.claims, metadata.issuer, nonce)
        return decoded.claims

    def _check_claims(self, claims: dict[str, Any], issuer: str, nonce: str) -> None:
        registry = jwt.JWTClaimsRegistry(
            leeway=LEEWAY_S,
            iss={"essential": True, "value": issuer},
            sub={"essential": True},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True},
        )
        try:
            registry.validate(claims)
        except ExpiredTokenError:
            raise _refused("the ID token has expired (if this repeats, check this server's clock)") from None
        except ClaimError as exc:
            raise _refused(
                f"the ID token's {_CLAIM_NAMES.get(exc.claim, 'claims')} did not check out"
            ) from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        azp = claims.get("azp")
        if (len(audiences) > 1 or azp is not None) and azp != self.client_id:
            raise _refused("the ID token was issued to another client (azp)")
        if not isinstance(claims["nonce"], str) or not hmac.compare_digest(claims["nonce"], nonce):
            raise _refused("the ID token's nonce is not this sign-in's")

    async def _with_userinfo(
        self, metadata: _Metadata, claims: dict[str, Any], access_token: object
    ) -> dict[str, Any]:
        """The ID token's claims, completed from the userinfo endpoint when some the sign-in needs are
        missing (many providers put profile claims there only)."""
        wanted = ["email", "name"] + (
            [self.settings.oidc_role_claim] if self.settings.oidc_role_claim else []
        )
        missing = [name for name in wanted if claims.get(name) is None]
        if not missing or not metadata.userinfo_endpoint or not isinstance(access_token, str):
            return claims
        try:
            response = await self._oauth.request(
                "GET",
                metadata.userinfo_endpoint,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                withhold_token=True,
            )
        except httpx2.HTTPError as exc:
            raise _unreachable("userinfo endpoint", exc) from None
        if response.status_code != 200:
            raise _refused(f"the identity provider's userinfo endpoint answered {response.status_code}")
        try:
            info = response.json()
        except ValueError:
            info = None
        if not isinstance(info, dict):
            raise _refused("the identity provider's userinfo answer is not a JSON object")
        if info.get("sub") != claims["sub"]:
            raise _refused("the userinfo answer is about another user than the ID token")
        taken = missing + (["email_verified"] if "email" in missing else [])
        return {**claims, **{name: info[name] for name in taken if name in info}}

    def _identity(self, claims: dict[str, Any]) -> OidcIdentity:
        email = claims.get("email")
        if len(claims["sub"]) > MAX_SUBJECT_CHARS:
            raise _refused(f"the subject (sub) is longer than {MAX_SUBJECT_CHARS} characters")
        if not isinstance(email, str) or "@" not in email or len(email) > MAX_EMAIL_CHARS:
            raise _refused(
                "the identity provider sent no email address (add `email` to OIDC_SCOPES and release "
                "the email claim to this client)"
            )
        if claims.get("email_verified") is False:
            raise _refused("the identity provider has not verified this email address")
        name = next(
            (v for k in ("name", "preferred_username") if isinstance(v := claims.get(k), str) and v.strip()),
            email,
        )
        return OidcIdentity(
            issuer=claims["iss"],
            subject=claims["sub"],
            email=email.strip(),
            name=name.strip()[:MAX_NAME_CHARS],
            groups=self._groups(claims),
        )

    def _groups(self, claims: dict[str, Any]) -> list[str]:
        claim = self.settings.oidc_role_claim
        value = claims.get(claim) if claim else None
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [v for v in value if isinstance(v, str)]
        return []

    # --- discovery and keys -----------------------------------------------------------------------

    async def metadata(self) -> _Metadata:
        """The provider's discovery document, read once (a failed read is tried again next time)."""
        if self._metadata is not None:
            return self._metadata
        async with self._lock:
            if self._metadata is None:
                self._metadata = await self._discover()
        return self._metadata

    async def _discover(self) -> _Metadata:
        url = self.issuer.rstrip("/") + _DISCOVERY_PATH
        document = await self._get_json(url, "discovery document")
        try:
            metadata = _Metadata.model_validate(document)
        except ValidationError:
            raise ServiceUnavailableError(
                "The identity provider's discovery document lacks the endpoints of the code flow: "
                "check OIDC_ISSUER"
            ) from None
        if metadata.issuer.rstrip("/") != self.issuer.rstrip("/"):
            raise ConfigurationError(
                f"The identity provider names itself {metadata.issuer[:300]}, not OIDC_ISSUER: set "
                "OIDC_ISSUER to the provider's issuer exactly"
            )
        methods = metadata.code_challenge_methods_supported
        if methods is not None and "S256" not in methods:
            raise ConfigurationError("The identity provider does not support PKCE with S256: enable it there")
        return metadata

    async def _jwks(self, *, refresh: bool) -> KeySet:
        if self._keys is not None and not refresh:
            return self._keys
        metadata = await self.metadata()
        async with self._lock:
            if self._keys is None or refresh:
                document = await self._get_json(metadata.jwks_uri, "signing keys (JWKS)")
                try:
                    self._keys = KeySet.import_key_set(document)
                except (JoseError, MissingKeyError, KeyError, TypeError, ValueError):
                    raise ServiceUnavailableError(
                        "The identity provider's signing keys (JWKS) cannot be read: check the provider"
                    ) from None
            return self._keys

    async def _get_json(self, url: str, what: str) -> Any:
        try:
            response = await self._oauth.request(
                "GET", url, headers={"Accept": "application/json"}, withhold_token=True
            )
        except httpx2.HTTPError as exc:
            raise _unreachable(what, exc) from None
        if response.status_code != 200:
            raise ServiceUnavailableError(
                f"The identity provider answered {response.status_code} for its {what}: check OIDC_ISSUER "
                "and the provider, then retry"
            )
        try:
            return response.json()
        except ValueError:
            raise ServiceUnavailableError(
                f"The identity provider's {what} is not JSON: check OIDC_ISSUER"
            ) from None


_CLAIM_NAMES = {
    "iss": "issuer (iss is not OIDC_ISSUER)",
    "aud": "audience (aud is not OIDC_CLIENT_ID)",
    "sub": "subject (sub)",
    "exp": "expiry (exp)",
    "iat": "issue time (iat)",
    "nbf": "start time (nbf)",
    "nonce": "nonce",
}


def _short_code(error: object) -> str:
    text = str(error or "an error")
    return text if text.replace("_", "").isalnum() and len(text) <= 50 else "an error"


def _unreachable(what: str, exc: Exception) -> ServiceUnavailableError:
    logger.warning("OpenID Connect %s: %s", what, type(exc).__name__)
    return ServiceUnavailableError(
        f"The identity provider's {what} did not answer ({type(exc).__name__}): check that this server "
        "reaches OIDC_ISSUER, then retry"
    )
