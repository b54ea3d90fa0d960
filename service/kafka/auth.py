"""SASL keyword arguments for every aiokafka client, one mechanism at a time.

PLAIN and SCRAM take a user and password; OAUTHBEARER a token provider (OIDC client credentials, or
AWS MSK IAM through its signer); GSSAPI the brokers' Kerberos service and domain names (credentials come
from the Kerberos ticket cache or keytab, ``KRB5_CLIENT_KTNAME``, as for any Kerberos client).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from service.kafka.oauth import CachingTokenProvider, msk_iam_fetch, oidc_fetch
from service.settings import KafkaSettings


def sasl_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """The ``sasl_*`` arguments; empty unless the security protocol is SASL_*."""
    if not kafka.security_protocol.startswith("SASL"):
        return {}
    mechanism = kafka.sasl_mechanism
    kwargs: dict[str, Any] = {"sasl_mechanism": mechanism}
    if mechanism == "OAUTHBEARER":
        kwargs["sasl_oauth_token_provider"] = token_provider(kafka)
    elif mechanism == "GSSAPI":
        kwargs["sasl_kerberos_service_name"] = kafka.sasl_kerberos_service_name
        kwargs["sasl_kerberos_domain_name"] = kafka.sasl_kerberos_domain_name
    else:
        kwargs["sasl_plain_username"] = kafka.sasl_username
        kwargs["sasl_plain_password"] = (
            kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
        )
    return kwargs


def token_provider(kafka: KafkaSettings) -> CachingTokenProvider:
    """The process's one provider for these settings: every client (consumer, producers, admin) shares
    its cached token, so a start-up that opens many connections asks the endpoint once."""
    secret = kafka.sasl_oauth_client_secret
    # Each item was checked to hold "=" when the settings loaded.
    extensions = tuple(
        (key, value) for key, _, value in (i.partition("=") for i in kafka.sasl_oauth_extensions)
    )
    return _provider(
        kafka.sasl_oauth_provider,
        kafka.sasl_oauth_token_url or "",
        kafka.sasl_oauth_client_id or "",
        secret.get_secret_value() if secret else "",
        kafka.sasl_oauth_scope,
        extensions,
        kafka.sasl_oauth_aws_region or "",
    )


@cache
def _provider(
    kind: str,
    token_url: str,
    client_id: str,
    client_secret: str,
    scope: str | None,
    extensions: tuple[tuple[str, str], ...],
    region: str,
) -> CachingTokenProvider:
    fetch = (
        msk_iam_fetch(region)
        if kind == "aws-msk-iam"
        else oidc_fetch(token_url, client_id, client_secret, scope)
    )
    return CachingTokenProvider(fetch, extensions={k.strip(): v.strip() for k, v in extensions})
