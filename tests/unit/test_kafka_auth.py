"""Every way a cluster authenticates: the settings of each method and the aiokafka arguments they build."""

from __future__ import annotations

import importlib.machinery
import ssl
import sys
import types
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from service.errors import ConfigError
from service.kafka.auth import token_provider
from service.kafka.config import common_kwargs, consumer_kwargs, producer_kwargs
from service.kafka.oauth import CachingTokenProvider
from service.settings import SECTIONS, KafkaSettings, load_settings

PASSWORD = "sasl-RECOGNISABLE-password-42"
CLIENT_SECRET = "oidc-RECOGNISABLE-client-secret-7"

OIDC = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
    "KAFKA_SASL_OAUTH_TOKEN_URL": "https://idp.example/realms/kafka/protocol/openid-connect/token",
    "KAFKA_SASL_OAUTH_CLIENT_ID": "claude-kafka",
    "KAFKA_SASL_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
    "KAFKA_SASL_OAUTH_SCOPE": "kafka",
    "KAFKA_SASL_OAUTH_EXTENSIONS": "logicalCluster=lkc-test,identityPoolId=pool-test",
}
MSK = {
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "OAUTHBEARER",
    "KAFKA_SASL_OAUTH_PROVIDER": "aws-msk-iam",
    "KAFKA_SASL_OAUTH_AWS_REGION": "eu-west-1",
}

# (method, environment, the connection arguments every client gets). "<SSLContext>" and
# "<provider>" stand for the objects built; secrets appear as the value aiokafka receives.
AUTH_METHODS: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("PLAINTEXT", {}, {"security_protocol": "PLAINTEXT"}),
    (
        "TLS (mutual TLS adds KAFKA_SSL_CERTFILE/KEYFILE)",
        {"KAFKA_SECURITY_PROTOCOL": "SSL"},
        {"security_protocol": "SSL", "ssl_context": "<SSLContext>"},
    ),
    (
        "SASL PLAIN",
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": "svc",
            "KAFKA_SASL_PASSWORD": PASSWORD,
        },
        {
            "security_protocol": "SASL_SSL",
            "ssl_context": "<SSLContext>",
            "sasl_mechanism": "PLAIN",
            "sasl_plain_username": "svc",
            "sasl_plain_password": PASSWORD,
        },
    ),
    (
        "SASL SCRAM-SHA-512",
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": "svc",
            "KAFKA_SASL_PASSWORD": PASSWORD,
        },
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "svc",
            "sasl_plain_password": PASSWORD,
        },
    ),
    (
        "OAUTHBEARER, OIDC client credentials",
        OIDC,
        {
            "security_protocol": "SASL_SSL",
            "ssl_context": "<SSLContext>",
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_provider": "<provider>",
        },
    ),
    (
        "OAUTHBEARER, AWS MSK IAM",
        MSK,
        {
            "security_protocol": "SASL_SSL",
            "ssl_context": "<SSLContext>",
            "sasl_mechanism": "OAUTHBEARER",
            "sasl_oauth_token_provider": "<provider>",
        },
    ),
    (
        "GSSAPI (Kerberos)",
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "KAFKA_SASL_MECHANISM": "GSSAPI",
            "KAFKA_SASL_KERBEROS_DOMAIN_NAME": "kafka.corp.example",
        },
        {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "GSSAPI",
            "sasl_kerberos_service_name": "kafka",
            "sasl_kerberos_domain_name": "kafka.corp.example",
        },
    ),
]


def _clear(monkeypatch: pytest.MonkeyPatch) -> None:
    for section in SECTIONS.values():
        for field in section.model_fields:
            monkeypatch.delenv(f"{section.model_config.get('env_prefix', '')}{field}".upper(), raising=False)


def _kafka(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> KafkaSettings:
    _clear(monkeypatch)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(env_file=None).kafka


@pytest.fixture
def gssapi_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stands in for the optional gssapi package (absent here: it needs libkrb5 headers to build)."""
    module = types.ModuleType("gssapi")
    module.__spec__ = importlib.machinery.ModuleSpec("gssapi", None)
    monkeypatch.setitem(sys.modules, "gssapi", module)


def shown(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The connection arguments, with the built objects named by what they are."""
    out = {k: v for k, v in kwargs.items() if k not in ("bootstrap_servers", "client_id")}
    if "ssl_context" in out:
        assert isinstance(out["ssl_context"], ssl.SSLContext)
        out["ssl_context"] = "<SSLContext>"
    if "sasl_oauth_token_provider" in out:
        assert isinstance(out["sasl_oauth_token_provider"], CachingTokenProvider)
        out["sasl_oauth_token_provider"] = "<provider>"
    return out


@pytest.mark.parametrize(("method", "env", "expected"), AUTH_METHODS, ids=[m for m, _, _ in AUTH_METHODS])
async def test_each_auth_method_builds_the_client_arguments_aiokafka_takes(
    method: str,
    env: dict[str, str],
    expected: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    gssapi_installed: None,
) -> None:
    """Each method's settings give exactly its connection arguments, which both aiokafka clients accept."""
    kafka = _kafka(monkeypatch, env)
    assert shown(common_kwargs(kafka)) == expected
    # aiokafka validates these in its constructors (mechanism, PLAIN credentials, ssl_context).
    for client in (AIOKafkaProducer(**producer_kwargs(kafka)), AIOKafkaConsumer(**consumer_kwargs(kafka))):
        await client.stop()
    assert PASSWORD not in repr(kafka) and CLIENT_SECRET not in repr(kafka)


def test_every_client_shares_one_token_provider(monkeypatch: pytest.MonkeyPatch) -> None:
    """Consumer, producer and admin arguments carry the same provider, so they share its cached token."""
    kafka = _kafka(monkeypatch, OIDC)
    providers = {
        id(kw["sasl_oauth_token_provider"])
        for kw in (common_kwargs(kafka), producer_kwargs(kafka), consumer_kwargs(kafka))
    }
    assert len(providers) == 1
    assert token_provider(kafka).extensions() == {"logicalCluster": "lkc-test", "identityPoolId": "pool-test"}


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "KAFKA_SASL_MECHANISM is required with a SASL security protocol",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-256"},
            "KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required with SCRAM-SHA-256",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "OAUTHBEARER"},
            "KAFKA_SASL_OAUTH_TOKEN_URL and KAFKA_SASL_OAUTH_CLIENT_ID and KAFKA_SASL_OAUTH_CLIENT_SECRET "
            "required with OAUTHBEARER (KAFKA_SASL_OAUTH_PROVIDER=oidc)",
        ),
        (
            {**OIDC, "KAFKA_SASL_OAUTH_CLIENT_SECRET": ""},
            "KAFKA_SASL_OAUTH_CLIENT_SECRET required with OAUTHBEARER (KAFKA_SASL_OAUTH_PROVIDER=oidc)",
        ),
        (
            {**MSK, "KAFKA_SASL_OAUTH_AWS_REGION": ""},
            "KAFKA_SASL_OAUTH_AWS_REGION is required with KAFKA_SASL_OAUTH_PROVIDER=aws-msk-iam",
        ),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "GSSAPI"},
            "KAFKA_SASL_MECHANISM=GSSAPI needs the gssapi package and the system's Kerberos libraries: "
            "pip install 'claude-kafka[gssapi]'",
        ),
        (
            {**OIDC, "KAFKA_SASL_OAUTH_EXTENSIONS": "logicalCluster"},
            "KAFKA_SASL_OAUTH_EXTENSIONS: 'logicalCluster' is not key=value (got 'logicalCluster')",
        ),
    ],
)
def test_an_incomplete_auth_method_stops_start_up_with_one_line(
    env: dict[str, str], line: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a method lacks is one line naming the variables (gssapi is really absent on this machine)."""
    with pytest.raises(ConfigError) as info:
        _kafka(monkeypatch, env)
    assert info.value.problems == [line]
    assert CLIENT_SECRET not in " ".join(info.value.problems)


def test_the_msk_signer_missing_is_named_with_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the `msk` extra installed, aws-msk-iam is refused with the pip line that fixes it."""
    monkeypatch.setitem(sys.modules, "aws_msk_iam_sasl_signer", None)  # import (and find_spec) now fail
    with pytest.raises((ConfigError, ValueError)) as info:
        _kafka(monkeypatch, MSK)
    assert "pip install 'claude-kafka[msk]'" in str(getattr(info.value, "problems", info.value))


async def test_static_membership_reaches_the_prompt_consumer_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """KAFKA_GROUP_INSTANCE_ID goes to the prompt consumer (aiokafka takes it); producers never see it."""
    kafka = _kafka(monkeypatch, {"KAFKA_GROUP_INSTANCE_ID": "claude-kafka-0"})
    assert consumer_kwargs(kafka)["group_instance_id"] == "claude-kafka-0"
    assert "group_instance_id" not in producer_kwargs(kafka)
    assert "group_instance_id" not in consumer_kwargs(_kafka(monkeypatch, {"KAFKA_GROUP_INSTANCE_ID": ""}))
    consumer = AIOKafkaConsumer(**consumer_kwargs(kafka))
    assert consumer._group_instance_id == "claude-kafka-0"  # what aiokafka hands its group coordinator
    await consumer.stop()
