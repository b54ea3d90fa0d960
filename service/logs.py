"""Logging set-up: JSON lines (or a console format on a TTY), context fields from ``extra=`` and ``bind``.

Per-prompt fields (custom_id, topic, partition, offset, attempt) are bound once with ``bind`` in the
prompt's own task; a filter copies them onto every record that task logs, so call sites do not repeat
them. Prompt or completion text is never logged at INFO. Secrets never reach a log call in the first
place (settings hold them as ``SecretStr``); as a second line of defence, ``configure(secrets=...)``
masks their values in every formatted line, whoever logged them (client libraries at DEBUG included).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has; anything else came in through ``extra=`` and is printed as a field.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
MASK = "**********"
# Shorter values would mask ordinary words; no real credential is this short.
MIN_SECRET_LENGTH = 8

_bound: ContextVar[dict[str, Any] | None] = ContextVar("claude_kafka_log_fields", default=None)


def bind(**fields: Any) -> None:
    """Add ``fields`` to every later record of the current context (an asyncio task has its own copy)."""
    _bound.set({**(_bound.get() or {}), **fields})


def bound() -> dict[str, Any]:
    return dict(_bound.get() or {})


class ContextFilter(logging.Filter):
    """Copies the fields bound in the current context onto the record; ``extra=`` wins on a clash."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_bound.get() or {}).items():
            if key not in record.__dict__:
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        document.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            document["exc"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD)
        line = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.getMessage()}"
        line = f"{line}  {fields}" if fields else line
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def maskable(secrets: Iterable[str]) -> tuple[str, ...]:
    """The values worth masking, longest first (so a secret containing another is masked whole)."""
    return tuple(sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True))


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every value of ``secrets`` (as returned by ``maskable``) replaced by ``MASK``."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactingFormatter(logging.Formatter):
    """Wraps a formatter and masks every secret value in its output."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = maskable(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self._inner.format(record), self._secrets)


def configure(level: str = "INFO", fmt: str = "auto", secrets: Iterable[str] = ()) -> None:
    handler = logging.StreamHandler(sys.stderr)
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    formatter = JsonFormatter() if use_json else ConsoleFormatter()
    handler.setFormatter(RedactingFormatter(formatter, secrets))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Client libraries are chatty at INFO (connection and metadata churn); their warnings still show.
    for name in ("aiokafka", "httpx2", "httpcore2", "anthropic"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
