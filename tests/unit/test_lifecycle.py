"""The one signal helper of the long-running commands: first signal drains, second exits at once."""

from __future__ import annotations

import signal

import pytest

from service import lifecycle
from service.lifecycle import EXIT_FORCED, GracefulSignals


async def test_the_first_signal_sets_the_flag_and_the_second_exits_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One SIGTERM sets ``requested`` and calls on_first; a second one is os._exit(130), no drain."""
    exits: list[int] = []

    def exit_now(code: int) -> None:
        exits.append(code)
        raise SystemExit(code)  # os._exit never returns

    monkeypatch.setattr(lifecycle.os, "_exit", exit_now)
    drains: list[None] = []
    signals = GracefulSignals(lambda: drains.append(None))
    signals.handle(signal.SIGTERM)
    assert signals.requested.is_set() and drains == [None] and exits == []
    with pytest.raises(SystemExit):
        signals.handle(signal.SIGINT)
    assert exits == [EXIT_FORCED] == [130] and drains == [None]
