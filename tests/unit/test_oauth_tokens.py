"""OAUTHBEARER tokens: an OIDC client-credentials provider against a local token endpoint, and MSK IAM."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlsplit

import pytest
from aiohttp import web
from aiokafka.conn import OAuthAuthenticator
from aiokafka.errors import KafkaError as AiokafkaError

from service.kafka.auth import token_provider
from service.kafka.oauth import (
    DEFAULT_LIFETIME_SECONDS,
    CachingTokenProvider,
    KafkaAuthError,
    msk_iam_fetch,
    oidc_fetch,
)
from service.settings import load_settings

CLIENT_ID, CLIENT_SECRET = "claude-kafka", "oidc-RECOGNISABLE-client-secret-7"
LIFETIME = 10


@dataclass
class Endpoint:
    """A token endpoint that checks the grant and counts the tokens it issues."""

    url: str
    issued: list[dict[str, str]] = field(default_factory=list)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def endpoint() -> AsyncIterator[Endpoint]:
    state = Endpoint(url="")

    async def token(request: web.Request) -> web.Response:
        scheme, _, encoded = request.headers["Authorization"].partition(" ")
        login, _, password = base64.b64decode(encoded).decode().partition(":")
        form = dict(await request.post())
        if (scheme, unquote_plus(login), unquote_plus(password)) != (
            "Basic",
            CLIENT_ID,
            CLIENT_SECRET,
        ) or form.get("grant_type") != "client_credentials":
            return web.json_response(
                {"error": "invalid_client", "error_description": "unknown client"}, status=401
            )
        state.issued.append({k: str(v) for k, v in form.items()})
        body: dict[str, Any] = {"access_token": f"token-{len(state.issued)}", "token_type": "Bearer"}
        if request.query.get("lifetime") != "none":
            body["expires_in"] = LIFETIME
        await asyncio.sleep(0.05)  # a slow endpoint: concurrent callers must still share one request
        return web.json_response(body)

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(text="<html>proxy error</html>", status=502)

    app = web.Application()
    app.router.add_post("/token", token)
    app.router.add_post("/garbage", garbage)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}"
    yield state
    await runner.cleanup()


async def test_tokens_are_shared_then_refreshed_before_they_expire(endpoint: Endpoint) -> None:
    """Concurrent connections share one token request; a new one is fetched at 80% of the lifetime."""
    clock = Clock()
    provider = CachingTokenProvider(
        oidc_fetch(f"{endpoint.url}/token", CLIENT_ID, CLIENT_SECRET, "kafka"), clock=clock
    )
    tokens = await asyncio.gather(*(provider.token() for _ in range(8)))
    assert tokens == ["token-1"] * 8 and len(endpoint.issued) == 1
    assert endpoint.issued[0] == {"grant_type": "client_credentials", "scope": "kafka"}
    clock.now += LIFETIME * 0.8 - 0.01
    assert await provider.token() == "token-1" and len(endpoint.issued) == 1
    clock.now += 0.02  # past the refresh point, still before the token's expiry
    assert await provider.token() == "token-2" and len(endpoint.issued) == 2
    assert await provider.token() == "token-2" and provider.fetches == 2


async def test_aiokafka_sends_the_token_and_extensions_on_the_wire(endpoint: Endpoint) -> None:
    """aiokafka's own OAUTHBEARER authenticator frames our token and SASL extensions (RFC 7628)."""
    provider = CachingTokenProvider(
        oidc_fetch(f"{endpoint.url}/token", CLIENT_ID, CLIENT_SECRET, None),
        extensions={"logicalCluster": "lkc-test"},
    )
    payload, expects_response = await OAuthAuthenticator(sasl_oauth_token_provider=provider).step(None)
    assert payload == b"n,,\x01auth=Bearer token-1\x01logicalCluster=lkc-test\x01\x01"
    assert expects_response is True
    assert endpoint.issued == [{"grant_type": "client_credentials"}]  # no scope asked when none is set


async def test_a_token_without_a_lifetime_is_kept_the_default_time(endpoint: Endpoint) -> None:
    """An endpoint that states no expires_in gets asked again after the default lifetime's 80%."""
    clock = Clock()
    provider = CachingTokenProvider(
        oidc_fetch(f"{endpoint.url}/token?lifetime=none", CLIENT_ID, CLIENT_SECRET, None), clock=clock
    )
    assert await provider.token() == "token-1"
    clock.now += DEFAULT_LIFETIME_SECONDS * 0.8 - 1
    assert await provider.token() == "token-1"
    clock.now += 2
    assert await provider.token() == "token-2"


async def test_a_refusal_is_one_line_without_the_secret_and_is_not_cached(endpoint: Endpoint) -> None:
    """A 401 names the endpoint and the OAuth error; the next call asks again (no cached failure)."""
    wrong = CachingTokenProvider(oidc_fetch(f"{endpoint.url}/token", CLIENT_ID, "wrong-secret", None))
    for _ in range(2):
        with pytest.raises(KafkaAuthError) as info:
            await wrong.token()
        assert str(info.value) == (
            f"kafka_auth_error: token endpoint {endpoint.url}/token answered 401: invalid_client unknown client"
        )
    assert "wrong-secret" not in str(info.value) and wrong.fetches == 0
    # aiokafka's connect catches its own KafkaError: a refused token is retried like an unreachable broker.
    assert isinstance(info.value, AiokafkaError) and info.value.retriable
    with pytest.raises(KafkaAuthError, match="answered 502: no access_token"):
        await CachingTokenProvider(
            oidc_fetch(f"{endpoint.url}/garbage", CLIENT_ID, CLIENT_SECRET, None)
        ).token()


async def test_an_unreachable_endpoint_is_one_line() -> None:
    """A closed port gives a KafkaAuthError naming the endpoint (aiokafka then retries the connection)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = CachingTokenProvider(
        oidc_fetch(f"http://127.0.0.1:{port}/token", CLIENT_ID, CLIENT_SECRET, None)
    )
    with pytest.raises(
        KafkaAuthError, match=rf"token endpoint http://127.0.0.1:{port}/token: ClientConnectorError"
    ):
        await provider.token()


async def test_the_settings_build_a_provider_that_talks_to_the_endpoint(
    endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """KAFKA_SASL_OAUTH_* (the secret from its _FILE) give a working provider shared by every client."""
    (tmp_path / "secret").write_text(f"{CLIENT_SECRET}\n")
    for name, value in {
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
        "KAFKA_SASL_OAUTH_TOKEN_URL": f"{endpoint.url}/token",
        "KAFKA_SASL_OAUTH_CLIENT_ID": CLIENT_ID,
        "KAFKA_SASL_OAUTH_CLIENT_SECRET_FILE": str(tmp_path / "secret"),
        "KAFKA_SASL_OAUTH_SCOPE": "kafka.read kafka.write",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KAFKA_SASL_OAUTH_CLIENT_SECRET", raising=False)
    kafka = load_settings(env_file=None).kafka
    provider = token_provider(kafka)
    assert provider is token_provider(load_settings(env_file=None).kafka)
    assert await provider.token() == await provider.token() == "token-1"
    assert endpoint.issued == [{"grant_type": "client_credentials", "scope": "kafka.read kafka.write"}]


async def test_msk_iam_tokens_come_from_the_aws_signer(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real MSK signer (offline, test credentials) gives a presigned kafka-cluster:Connect URL, 900 s."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test-access-key-id",
        "AWS_SECRET_ACCESS_KEY": "test-secret-access-key",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": "/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    token, lifetime = await msk_iam_fetch("eu-west-1")()
    url = urlsplit(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    query = parse_qs(url.query)
    assert (url.scheme, url.hostname) == ("https", "kafka.eu-west-1.amazonaws.com")
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert query["X-Amz-Credential"][0].startswith("test-access-key-id/")
    assert query["X-Amz-Expires"] == ["900"]
    assert 880 < lifetime <= 900
    assert "test-secret-access-key" not in token


async def test_msk_iam_without_credentials_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS credentials anywhere: the signer's failure becomes one KafkaAuthError line."""
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    with pytest.raises(KafkaAuthError, match=r"^kafka_auth_error: MSK IAM signer \(eu-west-1\): \w+"):
        await CachingTokenProvider(msk_iam_fetch("eu-west-1")).token()
