"""Sessions end to end: the service keeps the history, across a replica restart."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from schemas import CompletionEvent
from service.emulator.tokens import count_input_tokens
from service.kafka.topics import create_topics
from tests.kafkautil import Collector, produce
from tests.services import MODEL, ServiceProcess, prompt

pytestmark = pytest.mark.integration


def session_prompt(custom_id: str, text: str, reset: bool = False) -> tuple[bytes, bytes]:
    """A prompt of session ``chat-1``, keyed by the session id so the partition keeps their order."""
    _, value = prompt(custom_id, text, max_tokens=60)
    document = {**json.loads(value), "session": {"id": "chat-1", "reset": reset}}
    return b"chat-1", json.dumps(document).encode()


async def test_a_session_of_five_prompts_keeps_its_history_across_a_restart(
    make_settings: Any, emulator_url: str, tmp_path: Path
) -> None:
    """Each request is the history so far plus the new turn, also after the replica is replaced; reset empties it."""
    settings = make_settings(anthropic={"base_url": emulator_url})
    await create_topics(settings)
    topics = settings.topics
    texts = [f"Question {n}: tell me about partition {n}." for n in range(1, 6)]
    async with Collector(settings, [topics.completions, topics.errors]) as seen:

        def done(n: int) -> Any:
            return lambda rs: len(rs) >= n

        with ServiceProcess(settings, tmp_path / "a.log") as first:
            first.wait_ready()
            await produce(
                settings, topics.prompts, [session_prompt(f"s{n}", texts[n - 1]) for n in (1, 2, 3)]
            )
            await seen.until(done(3), within=60)
            first.signal(signal.SIGTERM)
            assert first.wait(60) == 0
        with ServiceProcess(settings, tmp_path / "b.log") as second:
            second.wait_ready()
            await produce(settings, topics.prompts, [session_prompt(f"s{n}", texts[n - 1]) for n in (4, 5)])
            await produce(settings, topics.prompts, [session_prompt("s6", "Start over.", reset=True)])
            await seen.until(done(6), within=60)
    assert not seen.on(topics.errors)
    completions = {
        e.custom_id: e for e in (CompletionEvent.model_validate_json(r.value or b"") for r in seen.records)
    }
    history: list[dict[str, Any]] = []
    for n in range(1, 6):
        history.append({"role": "user", "content": texts[n - 1]})
        completion = completions[f"s{n}"]
        expected = count_input_tokens({"model": MODEL, "max_tokens": 60, "messages": history})
        assert completion.message["usage"]["input_tokens"] == expected, f"prompt {n} did not get the history"
        history.append({"role": "assistant", "content": completion.message["content"]})
    fresh = [{"role": "user", "content": "Start over."}]
    assert completions["s6"].message["usage"]["input_tokens"] == count_input_tokens(
        {"model": MODEL, "messages": fresh}
    )
