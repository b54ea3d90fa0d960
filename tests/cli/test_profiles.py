"""Profiles: the file format, which one is active, and where it ranks among the settings' sources."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from service import profiles
from service.cli.dev import Banner, banner
from service.errors import ConfigError
from service.settings import load_settings

DEAD = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


@pytest.fixture(scope="module")
def dev_pid() -> Iterator[int]:
    """A live process that looks like `claude-kafka dev` (its command line says dev)."""
    # Alive until the teardown kills it: the module's tests may take over a minute on a loaded box
    # (xdist), and a fake dev that had exited made the live-profile case see a stale one.
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)", "dev"])
    try:
        yield process.pid
    finally:
        process.kill()
        process.wait()


def env_for(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path)}


@pytest.mark.parametrize(
    "values",
    [
        {
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
            "KAFKA_ENABLE_IDEMPOTENCE": False,
            "METRICS_PORT": 9464,
        },
        {"ANTHROPIC_BASE_URL": 'http://h/"quoted"\\back\tslash', "RETRY_BACKOFF_SECONDS": 0.25},
        {"SERVICE_INSTANCE": "ünïcode"},
    ],
)
def test_a_written_profile_reads_back_the_same(values: dict[str, profiles.Value], tmp_path: Path) -> None:
    """dumps() writes TOML that tomllib reads back to the same values and pid."""
    text = profiles.dumps(values, dev_pid=42, comment="two\nlines")
    assert tomllib.loads(text) == {"dev_pid": 42, "settings": values}


@pytest.mark.parametrize(
    ("name", "files", "active"),
    [
        (None, {}, None),
        (None, {"dev": "live"}, "dev"),
        (None, {"dev": DEAD}, None),  # a stale dev profile is ignored
        ("prod", {"prod": None, "dev": "live"}, "prod"),  # named beats the live dev one
    ],
)
def test_the_active_profile_is_the_named_one_else_a_live_dev_one(
    name: str | None, files: dict[str, int | str | None], active: str | None, dev_pid: int, tmp_path: Path
) -> None:
    """--profile/CLAUDE_KAFKA_PROFILE names it; without a name, dev only while its pid is alive."""
    for file, pid in files.items():
        owner = dev_pid if pid == "live" else pid
        assert not isinstance(owner, str)
        profiles.write(file, {"KAFKA_GROUP_ID": file}, dev_pid=owner, environ=env_for(tmp_path))
    found = profiles.active(name, env_for(tmp_path))
    assert (found.name if found else None) == active


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("nope", None, "no file"),
        ("broken", "[settings\n", "not valid TOML"),
        ("stale", f"dev_pid = {DEAD}\n[settings]\n", "has stopped"),
        ("odd", "settings = 3\n", r"wants a \[settings\] table"),
    ],
)
def test_a_named_profile_that_cannot_be_used_is_a_config_error(
    name: str, text: str | None, problem: str, tmp_path: Path
) -> None:
    """A missing, broken or stale named profile stops with a ConfigError saying which and why."""
    folder = profiles.profiles_dir(env_for(tmp_path))
    folder.mkdir(parents=True)
    if text is not None:
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=problem):
        profiles.active(name, env_for(tmp_path))


@pytest.mark.parametrize(
    ("env", "flag", "expected"),
    [
        ({}, None, "profile:1"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "env:2"}, None, "env:2"),
        ({"KAFKA_BOOTSTRAP_SERVERS": "env:2"}, "flag:3", "flag:3"),
    ],
)
def test_flags_beat_the_environment_which_beats_dotenv_which_beats_the_profile(
    env: dict[str, str], flag: str | None, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Precedence: flags > environment > .env > profile > defaults."""
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("KAFKA_GROUP_ID", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    dotenv = tmp_path / ".env"
    dotenv.write_text("KAFKA_GROUP_ID=from-dotenv\n", encoding="utf-8")
    path = profiles.write("p", {"KAFKA_BOOTSTRAP_SERVERS": "profile:1", "KAFKA_GROUP_ID": "from-profile",
                               "METRICS_PORT": 1234}, environ=env_for(tmp_path))  # fmt: skip
    profile = profiles.read(path, "p")
    overrides = {"kafka": {"bootstrap_servers": flag}} if flag else {}
    settings = load_settings(dotenv, profile=profile, **overrides)
    assert settings.kafka.bootstrap_servers == expected
    assert settings.kafka.group_id == "from-dotenv"  # .env beats the profile
    assert settings.observability.metrics_port == 1234  # the profile beats the default
    assert load_settings(None).observability.metrics_port == 9464


def test_an_unknown_name_in_a_profile_is_refused(tmp_path: Path) -> None:
    """A typo in a profile is a ConfigError, not a setting silently ignored."""
    path = profiles.write("p", {"KAFKA_BOOTSTRAP_SERVER": "x:1"}, environ=env_for(tmp_path))
    with pytest.raises(ConfigError, match="unknown setting KAFKA_BOOTSTRAP_SERVER"):
        load_settings(None, profile=profiles.read(path, "p"))


def test_dev_removes_only_the_profile_it_wrote(tmp_path: Path) -> None:
    """A dev that stops removes its profile, not the one a newer dev wrote over it."""
    path = profiles.write("dev", {}, dev_pid=1, environ=env_for(tmp_path))
    profiles.remove_own(path, dev_pid=2)
    assert path.exists()
    profiles.remove_own(path, dev_pid=1)
    assert not path.exists()


@pytest.mark.parametrize("emulated", [True, False])
def test_every_banner_line_fits_80_columns(emulated: bool) -> None:
    """The dev banner, with long but realistic values, never wraps at 80 columns."""
    api = (
        "emulator http://127.0.0.1:46903, ttft 300 ms, 60 tokens/s"
        if emulated
        else "the real API (api.anthropic.com, key from ANTHROPIC_API_KEY)"
    )
    lines = banner(
        Banner(
            took=12.3,
            bootstrap="127.0.0.1:65535",
            broker_pid=4_194_304,
            api=api,
            emulated=emulated,
            group="claude-kafka",
            max_in_flight=100_000,
            metrics_url="http://127.0.0.1:65535/metrics",
            prompts="claude.prompts",
            outputs=("claude.deltas", "claude.completions", "claude.errors"),
            batches="claude.batches",
            logs_dir=Path("/tmp/claude-kafka-dev-d8zraeta"),
            profile=Path.home() / ".config/claude-kafka/profiles/dev.toml",
            cli=".venv/bin/claude-kafka",
        )
    )
    too_long = [line for line, _ in lines if len(line) > 80]
    assert not too_long, too_long
    commands = [line.strip() for line, style in lines if style == "cyan"]
    assert commands and all(" -b " not in command for command in commands)  # the profile has the address
