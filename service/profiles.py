"""Profiles: named sets of settings in TOML files, so a second terminal needs no flags.

A profile is ``$XDG_CONFIG_HOME/claude-kafka/profiles/NAME.toml`` (``~/.config`` without XDG) with
one table of settings under their environment names, the same names as everywhere else::

    dev_pid = 4242                  # only in the profile `claude-kafka dev` writes

    [settings]
    KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
    ANTHROPIC_BASE_URL = "http://127.0.0.1:46903"

The active profile is the one named by ``--profile`` or ``CLAUDE_KAFKA_PROFILE``, else the ``dev``
profile while the ``claude-kafka dev`` that wrote it (``dev_pid``) is alive; a stale one is ignored.
Its settings rank below flags, the environment and ``.env``, above the defaults (``service.settings``).
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.errors import ConfigError

DEV = "dev"
ENV_VAR = "CLAUDE_KAFKA_PROFILE"

Value = str | int | float | bool


def profiles_dir(environ: Mapping[str, str] = os.environ) -> Path:
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".config")
    return Path(base) / "claude-kafka" / "profiles"


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    path: Path
    settings: Mapping[str, Value]
    dev_pid: int | None = None

    def stale(self) -> bool:
        """Written by a `claude-kafka dev` that is no longer running."""
        return self.dev_pid is not None and not pid_alive(self.dev_pid)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    with contextlib.suppress(OSError):  # a reused pid: alive, but not a claude-kafka dev
        return b"dev" in cmdline.read_bytes()
    return True


def read(path: Path, name: str) -> Profile:
    """The profile at ``path``; ``ConfigError`` naming the file when it is not a readable profile."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"profile {name}: cannot read {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"profile {name}: {path} is not valid TOML: {exc}") from None
    settings = data.get("settings", {})
    pid = data.get("dev_pid")
    if not isinstance(settings, dict) or (pid is not None and not isinstance(pid, int)):
        raise ConfigError(f"profile {name}: {path} wants a [settings] table (and an integer dev_pid)")
    bad = [key for key, value in settings.items() if not isinstance(value, Value | list)]
    if bad:
        raise ConfigError(f"profile {name}: {path}: {bad[0]} must be a string, number or boolean")
    return Profile(name, path, settings, pid)


def active(name: str | None, environ: Mapping[str, str] = os.environ) -> Profile | None:
    """The profile commands use: ``name`` (from ``--profile``/``CLAUDE_KAFKA_PROFILE``) or a live dev one."""
    folder = profiles_dir(environ)
    if name:
        path = folder / f"{name}.toml"
        if not path.is_file():
            known = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
            also = f" (there: {', '.join(known)})" if known else ""
            raise ConfigError(f"profile {name}: no file {path}{also}")
        profile = read(path, name)
        if profile.stale():
            raise ConfigError(
                f"profile {name} was written by `claude-kafka dev` (pid {profile.dev_pid}), which has stopped"
            )
        return profile
    path = folder / f"{DEV}.toml"
    if not path.is_file():
        return None
    profile = read(path, DEV)
    return None if profile.stale() else profile


def dumps(settings: Mapping[str, Value], *, dev_pid: int | None = None, comment: str = "") -> str:
    """A profile file's text. Only flat strings, numbers and booleans: all a profile holds."""
    lines = [f"# {line}" for line in comment.splitlines()]
    if dev_pid is not None:
        lines.append(f"dev_pid = {dev_pid}")
    lines += ["", "[settings]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _toml_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # A TOML basic string is a JSON string for everything JSON escapes (quotes, backslashes, controls).
    import json

    return json.dumps(value, ensure_ascii=False)


def write(name: str, settings: Mapping[str, Value], *, dev_pid: int | None = None, comment: str = "",
          environ: Mapping[str, str] = os.environ) -> Path:  # fmt: skip
    """Write the profile atomically (readers never see half a file), private to the user."""
    folder = profiles_dir(environ)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.toml"
    partial = path.with_suffix(f".toml.{os.getpid()}.tmp")
    partial.write_text(dumps(settings, dev_pid=dev_pid, comment=comment), encoding="utf-8")
    partial.chmod(0o600)
    partial.replace(path)
    return path


def remove_own(path: Path, dev_pid: int) -> None:
    """Remove the dev profile at ``path`` if ``dev_pid`` wrote it (a newer dev may have replaced it)."""
    with contextlib.suppress(OSError, ConfigError):
        if read(path, path.stem).dev_pid == dev_pid:
            path.unlink()


def as_field_values(
    profile: Profile | None, names: Mapping[str, tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    """The profile's settings by section and field, ``names`` mapping each env name to both;
    ``ConfigError`` for a name no setting has (a typo would otherwise be ignored silently)."""
    if profile is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for key, value in profile.settings.items():
        if key.upper() not in names:
            raise ConfigError(f"profile {profile.name}: {profile.path}: unknown setting {key}")
        section, field = names[key.upper()]
        out.setdefault(section, {})[field] = value
    return out
