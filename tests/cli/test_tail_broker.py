"""``tail`` against a broker of its own: it starts at the end, and says when the broker goes and comes back."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.devbroker import EmbeddedBroker
from service.kafka.topics import create_topics
from service.settings import Settings
from tests.cli.procs import Cli
from tests.kafkautil import produce
from tests.ports import free_port
from tests.services import settings_env
from tests.waiting import until

pytestmark = pytest.mark.integration


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of this test's own (never the session one): it is stopped and started again here."""
    broker = EmbeddedBroker(port=free_port())
    yield broker
    broker.stop(timeout=2.0)


def _marker(name: str) -> tuple[bytes, bytes]:
    return name.encode(), json.dumps({"custom_id": name, "note": "not an event; --json shows it"}).encode()


async def _produce_until_shown(settings: Settings, tail: Cli, name: str, within: float = 60.0) -> None:
    """Produce ``name`` markers until tail prints one: after a restart the broker is empty, and the
    consumer finds its positions gone only on its next fetch, so the first ones may land before it."""
    attempt = 0

    async def shown() -> bool:
        nonlocal attempt
        attempt += 1
        await produce(settings, settings.topics.deltas, [_marker(f"{name}-{attempt}")])
        try:
            tail.wait_for(rf'"custom_id": "{name}-\d+"', within=2.0)
        except AssertionError:
            return False
        return True

    await until(shown, within, lambda: f"tail showing a {name} marker:\n{tail.output}", every=0)


async def test_tail_starts_at_the_end_and_reports_the_broker_going_and_coming_back(
    make_settings: Any, own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """Old records are not shown; new ones are; a stopped broker is one line, its return another."""
    own_broker.start()
    settings = make_settings(kafka={"bootstrap_servers": own_broker.bootstrap, "enable_idempotence": False})
    await create_topics(settings)
    # Several in one record batch (the embedded broker's "latest offset" is that batch's start), a
    # minute old: what tail must not show however the broker answers.
    minute_ago = int(time.time() * 1000) - 60_000
    await produce(
        settings, settings.topics.deltas, [_marker("before") for _ in range(5)], timestamp_ms=minute_ago
    )
    env = settings_env(settings)
    args = ("-b", own_broker.bootstrap, "--json")
    tail = Cli("tail", *args, cwd=tmp_path, env=env)
    replay = Cli("tail", *args, "--from-beginning", cwd=tmp_path, env=env)
    try:
        tail.wait_for(r"^claude-kafka: following .* from the end$")
        replay.wait_for(r'"custom_id": "before"')
        replay.interrupt()
        assert replay.finish(within=30) == 0
        await produce(settings, settings.topics.deltas, [_marker("after")])
        tail.wait_for(r'"custom_id": "after"')
        assert '"before"' not in tail.output

        own_broker.stop()
        tail.wait_for(rf"^claude-kafka: broker {own_broker.bootstrap} unreachable; still trying", within=30)
        own_broker.start()
        tail.wait_for(rf"^claude-kafka: broker {own_broker.bootstrap} is back; following again$", within=30)
        await create_topics(settings)  # the embedded broker keeps nothing across a restart
        await _produce_until_shown(settings, tail, "restarted")
        assert tail.process.poll() is None, tail.output
        tail.interrupt()
        assert tail.finish(within=30) == 0
    finally:
        tail.kill()
        replay.kill()
    assert "Traceback" not in tail.output
    assert sum("unreachable" in line for line in tail.lines) == 1, tail.output
    assert sum(line.endswith("is back; following again") for line in tail.lines) == 1, tail.output
