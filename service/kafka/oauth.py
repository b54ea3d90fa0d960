"""OAUTHBEARER token providers for aiokafka: OIDC client credentials, and AWS MSK IAM through its signer.

aiokafka asks its ``sasl_oauth_token_provider`` for a token on every new broker connection. Both
providers here cache the token and fetch a new one once 80% of its lifetime has passed (the Java client's
``sasl.login.refresh.window.factor``), so connections opened together share one request and none is
handed a token about to expire. A lock makes concurrent callers wait for the one fetch under way.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from aiokafka.abc import AbstractTokenProvider
from aiokafka.errors import KafkaConnectionError

from service.errors import KafkaError

REFRESH_FACTOR = 0.8
# Tokens whose endpoint states no lifetime are fetched again after this long.
DEFAULT_LIFETIME_SECONDS = 300.0

Fetch = Callable[[], Awaitable[tuple[str, float]]]


class KafkaAuthError(KafkaError, KafkaConnectionError):  # type: ignore[misc]  # aiokafka has no hints
    """A token for the brokers could not be had (the endpoint refused, or answered something else).

    Also aiokafka's (retriable) ``KafkaConnectionError``: raised inside aiokafka's connect, it is then
    logged and retried like a broker that cannot be reached, instead of escaping its background tasks.
    """

    type = "kafka_auth_error"


class CachingTokenProvider(AbstractTokenProvider):  # type: ignore[misc]  # aiokafka ships no type hints
    """The cache and refresh policy; ``fetch`` returns ``(token, lifetime in seconds)``."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        extensions: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._extensions = dict(extensions or {})
        self._clock = clock
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def _fresh(self) -> bool:
        return self._token is not None and self._clock() < self._refresh_at

    async def token(self) -> str:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():  # another caller may have fetched while this one waited
                    started = self._clock()
                    token, lifetime = await self._fetch()
                    self.fetches += 1
                    self._token, self._refresh_at = token, started + lifetime * REFRESH_FACTOR
        assert self._token is not None
        return self._token

    def extensions(self) -> dict[str, str]:
        return dict(self._extensions)


def oidc_fetch(
    token_url: str, client_id: str, client_secret: str, scope: str | None, *, timeout: float = 10.0
) -> Fetch:
    """A client-credentials grant (RFC 6749 section 4.4), credentials in HTTP Basic auth as librdkafka and
    the Java client send them (the header is built once; the secret never leaves this closure)."""

    # RFC 6749 section 2.3.1: each part form-encoded before the Basic encoding (as the Java client does).
    pair = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
    headers = {
        "Authorization": f"Basic {base64.b64encode(pair.encode()).decode()}",
        "Accept": "application/json",
    }

    async def fetch() -> tuple[str, float]:
        form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                session.post(token_url, data=form, headers=headers) as resp,
            ):
                text = await resp.text()
                status, content_type = resp.status, resp.content_type
        except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
            raise KafkaAuthError(f"token endpoint {token_url}: {type(exc).__name__}: {exc}") from None
        body = _json_object(text)
        if status != 200 or not isinstance(body.get("access_token"), str):
            # The OAuth error fields (RFC 6749 section 5.2) say why; they carry no secret.
            reason = " ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
            reason = reason or f"no access_token in the {content_type} body"
            raise KafkaAuthError(f"token endpoint {token_url} answered {status}: {reason}")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else DEFAULT_LIFETIME_SECONDS
        return body["access_token"], lifetime

    return fetch


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def msk_iam_fetch(region: str, *, wall_clock: Callable[[], float] = time.time) -> Fetch:
    """The MSK IAM signer's token (a SigV4-presigned URL) for ``region``, from the default AWS credential
    chain (environment, IRSA / pod identity, instance profile). Signing is synchronous and may ask the
    instance metadata service, so it runs in a thread."""
    from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

    async def fetch() -> tuple[str, float]:
        try:
            token, expiry_ms = await asyncio.to_thread(MSKAuthTokenProvider.generate_auth_token, region)
        except Exception as exc:  # botocore raises many types (no credentials, STS errors, ...)
            raise KafkaAuthError(f"MSK IAM signer ({region}): {type(exc).__name__}: {exc}") from None
        return str(token), max(0.0, expiry_ms / 1000 - wall_clock())

    return fetch
