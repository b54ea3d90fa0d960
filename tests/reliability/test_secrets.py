"""Secrets and isolation: a recognisable API key and SASL password never show up anywhere we can read;
Kafka TLS and SASL settings reach aiokafka as meant (checked on the built configuration and a handshake)."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from service.errors import ConfigError
from service.kafka.config import common_kwargs, consumer_kwargs, producer_kwargs
from service.kafka.topics import create_topics
from service.settings import KafkaSettings, load_settings
from tests.kafkautil import Collector, produce
from tests.reconcile import final_ids, tally
from tests.reliability.harness import Row
from tests.services import prompt, settings_env

API_KEY = "CANARY-apikey-7f3a9c1e5b"  # not key-shaped on purpose: never trips secret scanners
SASL_PASSWORD = "sasl-CANARY-91c2d4-PASSWORD"
KEY_PASSWORD = "tls-key-CANARY-5e6f"
SECRETS = (API_KEY, SASL_PASSWORD, KEY_PASSWORD)


def assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} contains a secret"
        assert secret[8:24] not in text, f"{where} contains part of a secret"


# -- configuration that reaches aiokafka --------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA, a server certificate for localhost and a client certificate with an encrypted key."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-days", "1", "-subj", "/CN=reliability-test-ca", cwd=d)  # fmt: skip
    for name, extra in (("server", "subjectAltName=DNS:localhost,IP:127.0.0.1"), ("client", "")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        ext = ["-extfile", f"{name}.ext"] if extra else []
        if extra:
            (d / f"{name}.ext").write_text(extra + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "1", *ext, cwd=d)  # fmt: skip
    openssl("pkey", "-in", "client.key", "-out", "client-enc.key", "-aes256", "-passout", f"pass:{KEY_PASSWORD}",
            cwd=d)  # fmt: skip
    return d


def test_sasl_ssl_scram_settings_become_aiokafka_arguments(pki: Path) -> None:
    """SASL_SSL + SCRAM-SHA-512: mechanism, user and password go to aiokafka, over a verifying TLS context."""
    kafka = KafkaSettings(
        _env_file=None, bootstrap_servers="broker:9093", security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512", sasl_username="svc-claude", sasl_password=SASL_PASSWORD,
        ssl_cafile=pki / "ca.pem",
    )  # fmt: skip
    for kwargs in (common_kwargs(kafka), producer_kwargs(kafka), consumer_kwargs(kafka)):
        assert kwargs["security_protocol"] == "SASL_SSL"
        assert kwargs["sasl_mechanism"] == "SCRAM-SHA-512"
        assert kwargs["sasl_plain_username"] == "svc-claude"
        assert kwargs["sasl_plain_password"] == SASL_PASSWORD
        context = kwargs["ssl_context"]
        assert isinstance(context, ssl.SSLContext)
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert any(
            dict(c["subject"][0]).get("commonName") == "reliability-test-ca" for c in context.get_ca_certs()
        )
    assert_clean(repr(kafka) + str(kafka) + kafka.model_dump_json(), "KafkaSettings repr")


def test_sasl_without_credentials_is_refused_without_echoing_the_password() -> None:
    """A SASL protocol with a missing mechanism fails start-up; the error text never carries the password."""
    with pytest.raises(ConfigError) as caught:
        load_settings(
            env_file=None,
            kafka={"security_protocol": "SASL_SSL", "sasl_password": SASL_PASSWORD},
            anthropic={"api_key": API_KEY, "max_retries": "not-a-number"},
        )
    text = "\n".join([str(caught.value), repr(caught.value), *caught.value.problems])
    assert "KAFKA_SASL_MECHANISM" in text and "ANTHROPIC_MAX_RETRIES" in text
    assert_clean(text, "ConfigError")


def test_ssl_with_client_certificate_builds_a_context_that_handshakes(pki: Path) -> None:
    """SSL with CA, client certificate and encrypted key: the built context completes a mutual-TLS
    handshake with a server that demands a client certificate signed by that CA."""
    kafka = KafkaSettings(
        _env_file=None, security_protocol="SSL", ssl_cafile=pki / "ca.pem", ssl_certfile=pki / "client.pem",
        ssl_keyfile=pki / "client-enc.key", ssl_password=KEY_PASSWORD,
    )  # fmt: skip
    kwargs = producer_kwargs(kafka)
    assert kwargs["security_protocol"] == "SSL" and "sasl_mechanism" not in kwargs
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    server.load_cert_chain(str(pki / "server.pem"), str(pki / "server.key"))
    server.verify_mode = ssl.CERT_REQUIRED
    peers: list[str] = []

    async def handshake() -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            cert = writer.get_extra_info("peercert")
            peers.append(dict(cert["subject"][0])["commonName"])
            writer.close()

        listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server)
        port = listener.sockets[0].getsockname()[1]
        async with listener:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=kwargs["ssl_context"], server_hostname="localhost"
            )
            await reader.read()
            writer.close()

    asyncio.run(handshake())
    assert peers == ["client"]


async def test_built_arguments_are_accepted_by_aiokafka_clients(pki: Path) -> None:
    """aiokafka's producer and consumer take the built arguments as they are (no unknown or bad keys)."""
    kafka = KafkaSettings(
        _env_file=None, security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", sasl_username="u",
        sasl_password=SASL_PASSWORD, ssl_cafile=pki / "ca.pem",
    )  # fmt: skip
    producer = AIOKafkaProducer(**producer_kwargs(kafka))
    consumer = AIOKafkaConsumer(**consumer_kwargs(kafka))
    assert producer.client._sasl_mechanism == "SCRAM-SHA-256"
    assert consumer._client._security_protocol == "SASL_SSL"
    await producer.stop()
    await consumer.stop()


# -- nothing leaks at run time ------------------------------------------------------------------------


def test_config_command_masks_every_secret(pki: Path) -> None:
    """``claude-kafka config`` (text and --json) shows the secret settings masked."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ANTHROPIC_API_KEY": API_KEY,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": "svc",
        "KAFKA_SASL_PASSWORD": SASL_PASSWORD,
        "KAFKA_SSL_PASSWORD": KEY_PASSWORD,
    }
    for extra in ([], ["--json"]):
        out = subprocess.run(
            [sys.executable, "-m", "service", "config", *extra],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert "ANTHROPIC_API_KEY" in out.stdout and "KAFKA_SASL_USERNAME" in out.stdout
        assert_clean(out.stdout + out.stderr, f"config {' '.join(extra)}")


@pytest.mark.integration
async def test_secrets_never_reach_logs_metrics_or_events(
    make_settings: Any, emulator_url: str, fleet_factory: Any, results_table: list[Row]
) -> None:
    """Debug logging, failures of every kind (401, 400, bad records): the key and password appear in no
    log line, metric, delta, completion or error event (the 401's error event included)."""
    settings = make_settings(
        kafka={"sasl_password": SASL_PASSWORD, "sasl_username": "svc"},
        anthropic={"base_url": emulator_url, "api_key": API_KEY},
        observability={"log_level": "DEBUG"},
    )
    await create_topics(settings)
    assert settings_env(settings)["ANTHROPIC_API_KEY"] == API_KEY  # the child really runs with them
    topics = settings.topics
    records: list[tuple[bytes | None, bytes]] = [prompt(f"ok{i}") for i in range(5)]
    records += [prompt("unauth", metadata={"user_id": "emu:status=401;error=authentication_error"})]
    records += [prompt("refused", metadata={"user_id": "emu:status=400;error=invalid_request_error"})]
    records += [prompt("cut", metadata={"user_id": "emu:drop_after=4;times=1;key=cut"})]
    records += [(b"junk", b"\xff not a prompt")]
    expected = {f"ok{i}" for i in range(5)} | {"unauth", "refused", "cut"}
    fleet = fleet_factory(settings)
    service = fleet.start("secrets")
    await produce(settings, topics.prompts, records)
    async with Collector(
        settings, [topics.deltas, topics.completions, topics.errors, topics.batches]
    ) as seen:
        await seen.until(lambda r: final_ids(topics)(r) >= expected, within=60)
        await seen.until(lambda r: any(x.topic == topics.errors and x.key is None for x in r), within=30)
        await seen.drain()
    result = tally(seen.records, topics, expected)
    unauth = result.last["unauth"]
    assert unauth["error"]["type"] == "authentication_error" and unauth["retryable"] is False
    for record in seen.records:
        assert_clean(
            repr(record.key) + repr(record.value) + repr(record.headers), f"record on {record.topic}"
        )
    assert_clean(service.get("/metrics")[1], "/metrics")
    assert_clean(service.get("/readyz")[1] + service.get("/healthz")[1], "health endpoints")
    log = service.log()
    assert '"level": "debug"' in log, "debug logging must have been on"
    assert_clean(log, "service log")
    results_table.append(
        Row.of("Secrets: failures of every kind, debug logs", result, "401, 400, retried drop")
    )
