"""Shared fixtures: one real Kafka-protocol broker per session, fresh topic names per test.

With ``KAFKA_BOOTSTRAP_SERVERS`` set, the suite uses that cluster instead of starting the embedded one.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from service.devbroker import EmbeddedBroker
from service.settings import Settings, load_settings
from tests.ports import free_port

# A run started in the background (`make test &`, `nohup`) ignores SIGINT, and children would inherit
# that: tests that press Ctrl-C on a child process need a terminal's disposition. A caught signal is
# reset to the default in an exec'd child; an ignored one is not.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup`` every ``xdist_group`` test must carry its group in its node id, which
    is how xdist keeps a group on one worker: a pytest that breaks this (pytest-dev/pytest-xdist#1386)
    fails the run instead of silently spreading a module's shared fixture over every worker."""
    if not config.getoption("loadgroup", False):
        return
    lost = [
        item.nodeid for item in items if item.get_closest_marker("xdist_group") and "@" not in item.nodeid
    ]
    if lost:
        raise pytest.UsageError(f"--dist loadgroup lost the xdist_group of {lost[0]} (pytest-xdist#1386)")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a real broker: the one in KAFKA_BOOTSTRAP_SERVERS, or an embedded Tansu."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    with EmbeddedBroker(port=free_port()) as broker:
        yield broker.bootstrap


@pytest.fixture(scope="session")
def embedded_idempotence() -> bool:
    """Tansu's memory engine refuses InitProducerId, so idempotence is on only for a real cluster."""
    return bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))


@pytest.fixture
def topic_prefix() -> str:
    """A unique prefix so each test has its own topics and consumer group on the shared broker."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def make_settings(kafka_bootstrap: str, topic_prefix: str, embedded_idempotence: bool) -> Any:
    """Build Settings pointing at the test broker with per-test topic names; kwargs override sections."""

    def build(**overrides: dict[str, Any]) -> Settings:
        sections: dict[str, dict[str, Any]] = {
            "kafka": {
                "bootstrap_servers": kafka_bootstrap,
                "group_id": f"{topic_prefix}-group",
                "enable_idempotence": embedded_idempotence,
                # Tansu holds a new group's first join for half the session timeout: keep it short.
                "session_timeout_ms": 6_000,
                "heartbeat_interval_ms": 500,
            },
            "topics": {
                "prompts": f"{topic_prefix}.prompts",
                "deltas": f"{topic_prefix}.deltas",
                "completions": f"{topic_prefix}.completions",
                "errors": f"{topic_prefix}.errors",
                "batches": f"{topic_prefix}.batches",
                "tool_calls": f"{topic_prefix}.tool-calls",
                "tool_results": f"{topic_prefix}.tool-results",
                "runs": f"{topic_prefix}.runs",
                "sessions": f"{topic_prefix}.sessions",
                "partitions": 3,
            },
            "anthropic": {"api_key": "sk-ant-test-key", "max_retries": 2},
            "observability": {"metrics_port": 0},
        }
        for name, values in overrides.items():
            sections[name] = {**sections.get(name, {}), **values}
        return load_settings(env_file=None, **sections)

    return build
