"""CloudEvents Kafka protocol binding (binary mode) headers for every output message. Pure."""

from __future__ import annotations

from datetime import UTC, datetime

SPEC_VERSION = b"1.0"
CONTENT_TYPE = b"application/json"
TYPE_PREFIX = "com.anthropic.claude-kafka."

Headers = list[tuple[str, bytes]]


def event_type(kind: str) -> bytes:
    """``delta`` -> ``com.anthropic.claude-kafka.delta.v1``."""
    return f"{TYPE_PREFIX}{kind}.v1".encode()


def rfc3339_now() -> bytes:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z").encode()


def headers(
    kind: bytes, source: bytes, event_id: str, subject: str | None, traceparent: bytes | None
) -> Headers:
    """The binary-mode header set.

    ``kind`` is a value from ``event_type``; ``source`` is ``/claude-kafka/<instance>``.
    """
    out: Headers = [
        ("ce_specversion", SPEC_VERSION),
        ("ce_type", kind),
        ("ce_source", source),
        ("ce_id", event_id.encode()),
        ("ce_time", rfc3339_now()),
        ("content-type", CONTENT_TYPE),
    ]
    if subject is not None:
        out.append(("ce_subject", subject.encode()))
    if traceparent is not None:
        out.append(("traceparent", traceparent))
    return out
