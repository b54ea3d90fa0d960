"""``X_FILE`` for every secret ``X``: the Docker and Kubernetes secret-file convention.

A settings section declares, beside each ``SecretStr`` field ``name``, a ``name_file`` path field. Before
validation the file's content (one trailing newline stripped, as ``echo`` and ``kubectl create secret
--from-file`` leave one) becomes the secret's value, so every later check (SASL needs a password, ...)
sees it as if the variable itself were set. The value stays a ``SecretStr``; problems name the variable,
never the content.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SUFFIX = "_file"


def file_field(secret: str) -> str:
    return f"{secret}{SUFFIX}"


def describe(variable: str) -> str:
    """The ``_FILE`` field's description in the config table."""
    return f"File holding {variable} (Docker/Kubernetes secret files); one trailing newline is stripped."


def read_secret(path: Path | str) -> str:
    """The file's text without its trailing newline; ``OSError``/``UnicodeDecodeError`` if unreadable."""
    return Path(path).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")


def _is_set(value: Any) -> bool:
    # An empty variable counts as unset (compose's `${X:-}`, the chart's optional Secret keys).
    if value is None:
        return False
    secret = getattr(value, "get_secret_value", None)
    return bool(secret() if callable(secret) else value)


def resolve(data: Any, secrets: Iterable[str], env_name: Callable[[str], str]) -> Any:
    """``data`` (a section's raw input, by field name) with each ``secret_file`` read into ``secret``.

    Raises ``ValueError`` with one line per problem: both the variable and its file set, or a file that
    cannot be read (missing, a directory, not UTF-8) or is empty.
    """
    if not isinstance(data, dict):
        return data
    out = dict(data)
    problems = []
    for secret in secrets:
        path = out.get(file_field(secret))
        if not _is_set(path):
            if path is not None:
                out[file_field(secret)] = None  # "" would validate as Path(".")
            continue
        variable, file_variable = env_name(secret), env_name(file_field(secret))
        if _is_set(out.get(secret)):
            problems.append(f"{variable} and {file_variable} are both set; keep one")
            continue
        try:
            value = read_secret(str(path))
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            problems.append(f"{file_variable}: cannot read {path}: {reason}")
            continue
        if not value:
            problems.append(f"{file_variable}: {path} is empty")
            continue
        out[secret] = value
    if problems:
        raise ValueError("; ".join(problems))
    return out
