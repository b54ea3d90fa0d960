"""`X_FILE` for every secret `X`: read, stripped of its trailing newline, conflicts and bad files one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from service.errors import ConfigError
from service.secretfiles import file_field
from service.settings import SECTIONS, env_name, load_settings, masked, secret_values

VALUE = "RECOGNISABLE-file-secret-0123456789"


def secret_fields() -> list[tuple[str, str]]:
    """(section, field) of every SecretStr setting."""
    return [
        (name, field)
        for name, section in SECTIONS.items()
        for field, info in section.model_fields.items()
        if "SecretStr" in str(info.annotation)
    ]


SECRETS = secret_fields()
IDS = [env_name(SECTIONS[s], f) for s, f in SECRETS]


@pytest.fixture(autouse=True)
def _no_secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for section, field in SECRETS:
        for name in (field, file_field(field)):
            monkeypatch.delenv(env_name(SECTIONS[section], name), raising=False)


def test_every_secret_setting_has_a_file_variant() -> None:
    """Each SecretStr setting has its `_FILE` path setting beside it (a new secret cannot forget it)."""
    assert len(SECRETS) >= 6
    for section, field in SECRETS:
        assert file_field(field) in SECTIONS[section].model_fields, env_name(SECTIONS[section], field)


@pytest.mark.parametrize(("section", "field"), SECRETS, ids=IDS)
@pytest.mark.parametrize("ending", ["\n", "", "\r\n"])
def test_a_secret_file_gives_the_secret_without_its_trailing_newline(
    section: str, field: str, ending: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's content, one trailing newline stripped, is the secret; it stays a masked SecretStr."""
    path = tmp_path / "secret"
    path.write_bytes(f"{VALUE}{ending}".encode())
    monkeypatch.setenv(env_name(SECTIONS[section], file_field(field)), str(path))
    settings = load_settings(env_file=None)
    value = getattr(getattr(settings, section), field)
    assert isinstance(value, SecretStr) and value.get_secret_value() == VALUE
    assert VALUE not in repr(settings) and VALUE not in str(masked(settings))
    assert VALUE in secret_values(settings)  # so the log filter redacts it too


@pytest.mark.parametrize(("section", "field"), SECRETS, ids=IDS)
def test_a_secret_and_its_file_together_are_refused(
    section: str, field: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setting both is one line naming both variables, and shows neither value."""
    (tmp_path / "s").write_text(VALUE)
    name = env_name(SECTIONS[section], field)
    monkeypatch.setenv(name, "other-value")
    monkeypatch.setenv(f"{name}_FILE", str(tmp_path / "s"))
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    assert info.value.problems == [f"{name} and {name}_FILE are both set; keep one"]


def _bad_file(kind: str, directory: Path) -> Path:
    contents = {"empty": b"", "not-utf8": b"\xff\xfe\x00"}
    if kind in contents:
        (directory / kind).write_bytes(contents[kind])
        return directory / kind
    return directory if kind == "directory" else directory / "absent"


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "No such file or directory"),
        ("directory", "Is a directory"),
        ("empty", "is empty"),
        ("not-utf8", "UnicodeDecodeError"),
    ],
)
def test_an_unreadable_secret_file_is_one_line_naming_the_variable(
    kind: str, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing, directory, empty or binary file stops loading with the _FILE variable and why."""
    path = _bad_file(kind, tmp_path)
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", str(path))
    with pytest.raises(ConfigError) as info:
        load_settings(env_file=None)
    [line] = info.value.problems
    assert line.startswith("KAFKA_SASL_PASSWORD_FILE: ") and reason in line and str(path) in line


def test_an_empty_file_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """`X_FILE=` (compose's `${X_FILE:-}`) is no file: the secret stays unset, the path None."""
    monkeypatch.setenv("KAFKA_SASL_PASSWORD_FILE", "")
    kafka = load_settings(env_file=None).kafka
    assert kafka.sasl_password is None and kafka.sasl_password_file is None


def test_a_file_password_satisfies_the_sasl_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SASL's 'password required' check sees the password read from KAFKA_SASL_PASSWORD_FILE."""
    (tmp_path / "pw").write_text(f"{VALUE}\n")
    for name, value in {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": "svc",
        "KAFKA_SASL_PASSWORD_FILE": str(tmp_path / "pw"),
    }.items():
        monkeypatch.setenv(name, value)
    from service.kafka.config import common_kwargs

    assert common_kwargs(load_settings(env_file=None).kafka)["sasl_plain_password"] == VALUE


def _config(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`claude-kafka config` in a child with exactly ``env``."""
    return subprocess.run(
        [sys.executable, "-m", "service", "config"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_reports_a_bad_secret_file_in_one_line(tmp_path: Path) -> None:
    """`claude-kafka config` with a missing ANTHROPIC_API_KEY_FILE: exit 2, one line, no traceback."""
    env = {"PATH": "/usr/bin:/bin", "ANTHROPIC_API_KEY_FILE": str(tmp_path / "nope")}
    result = _config(env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        f"claude-kafka: invalid setting: ANTHROPIC_API_KEY_FILE: cannot read {tmp_path / 'nope'}: "
        "No such file or directory (hint: "
    )
    (tmp_path / "key").write_text(f"{VALUE}\n")
    env["ANTHROPIC_API_KEY_FILE"] = str(tmp_path / "key")
    result = _config(env)
    assert result.returncode == 0, result.stderr
    assert "ANTHROPIC_API_KEY_FILE" in result.stdout and VALUE not in result.stdout + result.stderr
