"""The OpenID Connect relying party (api/oidc.py) against a fake provider on 127.0.0.1: the code flow
with PKCE, the ID token's checks, the one-time state, the JWKS cache and the userinfo fallback."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from testgen.api.oidc import OidcClient, OidcIdentity, OidcResult, admin_role
from testgen.core.config import Settings
from testgen.core.errors import AuthenticationError, ConfigurationError, ServiceUnavailableError
from testgen.core.redis_keys import oidc_state_key
from tests.support.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOidc

REDIRECT = "http://127.0.0.1:9/auth/oidc/callback"  # never called: the test reads the Location


@pytest.fixture
def provider() -> Iterator[FakeOidc]:
    fake = FakeOidc(
        claims={"email": "ada@example.com", "email_verified": True, "name": "Ada", "groups": ["qa"]}
    )
    fake.start()
    yield fake
    fake.stop()


def oidc_settings(settings: Settings, issuer: str, **update: object) -> Settings:
    return settings.model_copy(
        update={
            "oidc_issuer": issuer,
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr(CLIENT_SECRET),
            "oidc_role_claim": "groups",
            "oidc_admin_values": "testgen-admins, ops",
            **update,
        }
    )


@pytest.fixture
async def oidc(settings: Settings, provider: FakeOidc, redis: Redis) -> AsyncIterator[OidcClient]:
    client = OidcClient(oidc_settings(settings, provider.issuer), redis)
    yield client
    await client.aclose()


async def authorize(url: str) -> tuple[str, str]:
    """What a browser does at the provider: follow the authorization URL, read code and state back."""
    async with httpx.AsyncClient(timeout=10) as browser:
        answer = await browser.get(url)
    assert answer.status_code == 302, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    assert "code" in query, query
    return query["code"][0], query["state"][0]


async def sign_in(oidc: OidcClient, next_path: str = "/") -> OidcResult:
    started = await oidc.start(redirect_uri=REDIRECT, next_path=next_path)
    code, state = await authorize(started.url)
    return await oidc.finish(code=code, state=state, binding=started.binding)


async def refusal(oidc: OidcClient) -> str:
    with pytest.raises(AuthenticationError) as caught:
        await sign_in(oidc)
    return caught.value.message


async def test_a_sign_in_gives_the_providers_identity(oidc: OidcClient, provider: FakeOidc) -> None:
    result = await sign_in(oidc, "/projects/3")
    assert result.next_path == "/projects/3"
    assert result.identity == OidcIdentity(
        issuer=provider.issuer, subject="user-1", email="ada@example.com", name="Ada", groups=["qa"]
    )


async def test_the_authorization_url_asks_for_code_with_pkce_s256_and_a_nonce(
    oidc: OidcClient, provider: FakeOidc, redis: Redis
) -> None:
    started = await oidc.start(redirect_uri=REDIRECT, next_path="/")
    query = {k: v[0] for k, v in parse_qs(urlsplit(started.url).query).items()}
    assert started.url.startswith(f"{provider.issuer}/authorize?")
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == REDIRECT
    assert query["scope"] == "openid email profile"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43 and len(query["nonce"]) >= 32 and len(query["state"]) >= 32
    assert 0 < await redis.ttl(oidc_state_key(query["state"])) <= 600


async def test_a_state_is_used_once(oidc: OidcClient) -> None:
    started = await oidc.start(redirect_uri=REDIRECT, next_path="/")
    code, state = await authorize(started.url)
    await oidc.finish(code=code, state=state, binding=started.binding)
    with pytest.raises(AuthenticationError, match=r"unknown, expired .* or already used"):
        await oidc.finish(code=code, state=state, binding=started.binding)


async def test_an_unknown_state_is_refused_before_the_provider_is_asked(
    oidc: OidcClient, provider: FakeOidc
) -> None:
    with pytest.raises(AuthenticationError, match="unknown, expired"):
        await oidc.finish(code="any", state="never-issued", binding="b")
    assert provider.token_requests == 0


async def test_a_callback_in_another_browser_is_refused_and_uses_the_state_up(
    oidc: OidcClient, provider: FakeOidc
) -> None:
    started = await oidc.start(redirect_uri=REDIRECT, next_path="/")
    code, state = await authorize(started.url)
    with pytest.raises(AuthenticationError, match="another browser"):
        await oidc.finish(code=code, state=state, binding="another-browsers-cookie")
    with pytest.raises(AuthenticationError, match="already used"):
        await oidc.finish(code=code, state=state, binding=started.binding)
    assert provider.token_requests == 0


async def test_sign_ins_of_one_browser_share_its_binding(oidc: OidcClient) -> None:
    first = await oidc.start(redirect_uri=REDIRECT, next_path="/a")
    second = await oidc.start(redirect_uri=REDIRECT, next_path="/b", binding=first.binding)
    assert second.binding == first.binding
    code, state = await authorize(first.url)
    assert (await oidc.finish(code=code, state=state, binding=first.binding)).next_path == "/a"


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "another-client"}, "audience"),
        ({"aud": [CLIENT_ID, "another-client"]}, "another client \\(azp\\)"),
        ({"aud": [CLIENT_ID, "another-client"], "azp": "another-client"}, "another client \\(azp\\)"),
        ({"iss": "http://127.0.0.1:1"}, "issuer"),
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, "expired"),
        ({"iat": int(time.time()) + 3600}, "issue time"),
        ({"nonce": "another-sign-ins-nonce"}, "nonce is not this sign-in's"),
        ({"nonce": None}, "nonce"),
        ({"email_verified": False}, "not verified"),
        ({"email": None}, "no email address"),
    ],
)
async def test_an_id_token_that_does_not_check_out_is_refused(
    oidc: OidcClient, provider: FakeOidc, claims: dict[str, object], reason: str
) -> None:
    provider.id_token_claims = claims
    if claims.get("email", "") is None:
        provider.claims.pop("email")  # not in userinfo either
    message = await refusal(oidc)
    assert message.startswith("The sign-in was refused")
    assert re.search(reason, message), message


async def test_several_audiences_are_accepted_with_azp_naming_this_client(
    oidc: OidcClient, provider: FakeOidc
) -> None:
    provider.id_token_claims = {"aud": [CLIENT_ID, "api"], "azp": CLIENT_ID}
    assert (await sign_in(oidc)).identity.subject == "user-1"


async def test_a_signature_by_a_key_the_provider_does_not_publish_is_refused(
    oidc: OidcClient, provider: FakeOidc
) -> None:
    provider.signing = "stranger"
    assert "signature" in await refusal(oidc)
    assert provider.jwks_requests == 1


async def test_keys_are_cached_and_fetched_again_once_for_a_new_key_id(
    oidc: OidcClient, provider: FakeOidc
) -> None:
    await sign_in(oidc)
    await sign_in(oidc)
    assert provider.jwks_requests == 1
    provider.rotate()
    assert (await sign_in(oidc)).identity.subject == "user-1"
    assert provider.jwks_requests == 2


async def test_a_key_id_still_unknown_after_fetching_again_is_refused(
    oidc: OidcClient, provider: FakeOidc
) -> None:
    await sign_in(oidc)
    provider.signing = "unpublished"
    assert "not publish" in await refusal(oidc)
    assert provider.jwks_requests == 2
    assert "not publish" in await refusal(oidc)
    assert provider.jwks_requests == 3  # once per sign-in, never more


async def test_claims_missing_from_the_id_token_are_read_from_userinfo(
    oidc: OidcClient, provider: FakeOidc
) -> None:
    provider.claims_in_id_token = False
    identity = (await sign_in(oidc)).identity
    assert (identity.email, identity.name, identity.groups) == ("ada@example.com", "Ada", ["qa"])


async def test_an_unverified_email_from_userinfo_is_refused(oidc: OidcClient, provider: FakeOidc) -> None:
    provider.claims_in_id_token = False
    provider.claims["email_verified"] = False
    assert "not verified" in await refusal(oidc)


async def test_a_refused_code_is_an_authentication_error(oidc: OidcClient) -> None:
    started = await oidc.start(redirect_uri=REDIRECT, next_path="/")
    _, state = await authorize(started.url)
    with pytest.raises(AuthenticationError, match=r"refused the code \(invalid_grant\)"):
        await oidc.finish(code="not-a-code", state=state, binding=started.binding)


async def test_wrong_client_credentials_say_which_settings_to_check(
    settings: Settings, provider: FakeOidc, redis: Redis
) -> None:
    client = OidcClient(
        oidc_settings(settings, provider.issuer, oidc_client_secret=SecretStr("wrong-secret")), redis
    )
    try:
        with pytest.raises(ConfigurationError, match="OIDC_CLIENT_SECRET") as caught:
            await sign_in(client)
        assert "wrong-secret" not in caught.value.message
    finally:
        await client.aclose()


async def test_an_issuer_that_names_itself_otherwise_is_a_configuration_error(
    settings: Settings, provider: FakeOidc, redis: Redis
) -> None:
    client = OidcClient(oidc_settings(settings, provider.issuer + "/realms/other"), redis)
    try:
        with pytest.raises(ServiceUnavailableError, match="answered 404 for its discovery document"):
            await client.start(redirect_uri=REDIRECT, next_path="/")
    finally:
        await client.aclose()
    provider.discovery_issuer = "https://elsewhere.example"
    client = OidcClient(oidc_settings(settings, provider.issuer), redis)
    try:
        with pytest.raises(ConfigurationError, match="not OIDC_ISSUER"):
            await client.start(redirect_uri=REDIRECT, next_path="/")
    finally:
        await client.aclose()


async def test_an_unreachable_provider_is_unavailable_and_tried_again_later(
    settings: Settings, provider: FakeOidc, redis: Redis
) -> None:
    issuer = provider.issuer
    provider.stop()
    client = OidcClient(oidc_settings(settings, issuer, oidc_timeout_s=2.0), redis)
    try:
        with pytest.raises(ServiceUnavailableError, match="did not answer"):
            await client.start(redirect_uri=REDIRECT, next_path="/")
    finally:
        await client.aclose()


def test_the_role_claim_maps_to_the_server_admin_flag(settings: Settings) -> None:
    identity = OidcIdentity(issuer="i", subject="s", email="e@x", name="n", groups=["staff", "ops"])
    mapped = oidc_settings(settings, "http://i")
    assert admin_role(identity, mapped) is True
    assert admin_role(identity.model_copy(update={"groups": ["staff"]}), mapped) is False
    assert admin_role(identity, oidc_settings(settings, "http://i", oidc_role_claim=None)) is None
