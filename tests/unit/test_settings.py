"""Settings: environment names, one readable line per bad value, secrets never printed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.errors import ConfigError
from service.settings import LOOPBACK_PLACEHOLDER_KEY, AnthropicSettings, load_settings

SECRET_KEY = "RECOGNISABLE-settings-secret-0123456789"  # not key-shaped: never trips secret scanners
SECRET_PASSWORD = "sasl-RECOGNISABLE-password-42"


def test_environment_names_users_type_reach_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """KAFKA_*, TOPIC_*, MAX_IN_FLIGHT and the SDK's own ANTHROPIC_* names are read."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker-1:9092,broker-2:9092")
    monkeypatch.setenv("TOPIC_PROMPTS", "in.prompts")
    monkeypatch.setenv("MAX_IN_FLIGHT", "500")
    monkeypatch.setenv("ALLOWED_MODELS", "claude-sonnet-5-5, claude-haiku-4-5")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:4010")
    settings = load_settings(env_file=None)
    assert settings.kafka.bootstrap_servers == "broker-1:9092,broker-2:9092"
    assert settings.topics.prompts == "in.prompts"
    assert settings.pipeline.max_in_flight == 500
    assert settings.pipeline.allowed_models == ("claude-sonnet-5-5", "claude-haiku-4-5")
    assert settings.anthropic.base_url == "http://127.0.0.1:4010"


def test_every_bad_setting_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two bad values give two lines, each naming the variable a user would set."""
    monkeypatch.setenv("MAX_IN_FLIGHT", "lots")
    monkeypatch.setenv("BATCH_MAX_REQUESTS", "200000")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert info.value.problems == [
        "MAX_IN_FLIGHT: Input should be a valid integer, unable to parse string as an integer (got 'lots')",
        "BATCH_MAX_REQUESTS: Input should be less than or equal to 100000 (got '200000')",
    ]


def test_sasl_without_credentials_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SASL protocol without mechanism, user and password stops start-up with a hint."""
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert info.value.problems == ["KAFKA_SASL_MECHANISM is required with a SASL security protocol"]


def test_secrets_are_masked_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    """repr() of the loaded settings never contains the API key or the SASL password."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET_KEY)
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", SECRET_PASSWORD)
    text = repr(load_settings(env_file=None)) + str(load_settings(env_file=None))
    assert SECRET_KEY not in text and SECRET_PASSWORD not in text


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "service", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_config_command_masks_secrets(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """`claude-kafka config` shows every setting but neither the API key nor the SASL password."""
    env = {
        "PATH": "/usr/bin:/bin",
        "ANTHROPIC_API_KEY": SECRET_KEY,
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "svc",
        "KAFKA_SASL_PASSWORD": SECRET_PASSWORD,
    }
    for args in (["config"], ["config", "--json"]):
        result = _cli(args, env)
        assert result.returncode == 0, result.stderr
        assert "ANTHROPIC_API_KEY" in result.stdout and "KAFKA_SASL_PASSWORD" in result.stdout
        assert SECRET_KEY not in result.stdout + result.stderr
        assert SECRET_PASSWORD not in result.stdout + result.stderr


def test_config_command_stops_with_one_line_naming_the_setting() -> None:
    """A bad setting exits 2 with a single readable line on stderr, a hint, and no traceback."""
    result = _cli(
        ["config"], {"PATH": "/usr/bin:/bin", "MAX_IN_FLIGHT": "-3", "ANTHROPIC_API_KEY": SECRET_KEY}
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "claude-kafka: invalid setting: MAX_IN_FLIGHT: Input should be greater than or equal to 1 (got '-3')"
        " (hint: change it in the environment, .env or the profile"
    ), line


def test_callbacks_command_refuses_to_start_without_hosts_or_secret() -> None:
    """`claude-kafka callbacks` with callbacks off (no hosts) and no secret: exit 2, one line naming both
    reasons, before any connection; with a secret but still no hosts, the hosts reason alone."""
    env = {"PATH": "/usr/bin:/bin", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}
    result = _cli(["callbacks"], env)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(
        "claude-kafka: invalid setting: CALLBACK_ALLOWED_HOSTS: empty, so callbacks are off; "
        "list the receiver hosts; CALLBACK_SIGNING_SECRET: required to sign callbacks (hint: "
    ), line
    result = _cli(["callbacks"], {**env, "CALLBACK_SIGNING_SECRET": "whsec-test"})
    assert result.returncode == 2 and "CALLBACK_ALLOWED_HOSTS: empty" in result.stderr
    assert "whsec-test" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("values", "missing", "sent"),
    [
        ({}, True, (None, None)),
        ({"api_key": ""}, True, (None, None)),
        ({"base_url": "https://api.anthropic.com"}, True, (None, None)),
        ({"base_url": "http://emulator:8765"}, True, (None, None)),  # a name may resolve anywhere
        ({"base_url": "http://127.0.0.1:8765"}, False, (LOOPBACK_PLACEHOLDER_KEY, None)),
        ({"base_url": "http://127.1.2.3:8765"}, False, (LOOPBACK_PLACEHOLDER_KEY, None)),
        ({"base_url": "http://localhost:8765"}, False, (LOOPBACK_PLACEHOLDER_KEY, None)),
        ({"base_url": "http://[::1]:8765"}, False, (LOOPBACK_PLACEHOLDER_KEY, None)),
        ({"api_key": "sk-ant-k"}, False, ("sk-ant-k", None)),
        ({"auth_token": "tok"}, False, (None, "tok")),
        ({"api_key": "sk-ant-k", "base_url": "http://127.0.0.1:1"}, False, ("sk-ant-k", None)),
    ],
)
def test_credentials_are_required_off_loopback(
    values: dict[str, str],
    missing: bool,
    sent: tuple[str | None, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A key or a token is needed unless the base URL is loopback, which gets a placeholder key."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    anthropic = AnthropicSettings(_env_file=None, **values)  # type: ignore[call-arg]
    assert anthropic.missing_credentials() is missing
    assert anthropic.sdk_credentials() == sent
