"""The pure fold from output events back to one readable request per custom_id."""

from __future__ import annotations

from typing import Any

from schemas import CompletionEvent, DeltaEvent, ErrorEvent
from service.cli.reassemble import Board, Finished, Restarted, Status, TextAppended, ToolCalled


def delta(seq: int, event: dict[str, Any], attempt: int = 1, cid: str = "r1") -> DeltaEvent:
    return DeltaEvent(custom_id=cid, generation=1, attempt=attempt, seq=seq, event=event)


def text(seq: int, piece: str, attempt: int = 1) -> DeltaEvent:
    return delta(seq, {"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": piece}}, attempt)  # fmt: skip


def completion(content: list[dict[str, Any]], attempt: int = 1) -> CompletionEvent:
    return CompletionEvent.model_validate({
        "custom_id": "r1", "generation": 1, "attempt": attempt, "mode": "stream",
        "message": {"content": content, "stop_reason": "end_turn", "usage": {"input_tokens": 3, "output_tokens": 4}},
        "timings": {"queued_ms": 1, "ttft_ms": 2, "duration_ms": 30}, "cost_usd": 0.001,
    })  # fmt: skip


def test_completion_emits_only_the_text_the_deltas_did_not_deliver() -> None:
    """Text already streamed is not repeated; the rest comes from the completion's message."""
    board = Board()
    updates = [u for e in (text(0, "Hello "), completion([{"type": "text", "text": "Hello world"}]))
               for u in board.apply(e)]  # fmt: skip
    assert [u.text for u in updates if isinstance(u, TextAppended)] == ["Hello ", "world"]
    assert isinstance(updates[-1], Finished) and board.get("r1").text == "Hello world"


def test_a_higher_attempt_discards_the_partial_output_and_stale_events_are_ignored() -> None:
    """attempt 2 restarts the request; a late attempt-1 delta changes nothing."""
    board = Board()
    board.apply(text(0, "partial"))
    assert board.apply(text(0, "fresh", attempt=2)) == [
        Restarted("r1", 1, 2), TextAppended("r1", "text", "fresh")
    ]  # fmt: skip
    assert board.apply(text(1, " stale")) == []
    assert board.get("r1").text == "fresh"


def test_tool_call_is_reported_once_with_its_parsed_input() -> None:
    """input_json_delta pieces are joined and parsed at block stop; the completion does not repeat it."""
    board = Board()
    events = [
        delta(0, {"type": "content_block_start", "index": 0,
                  "content_block": {"type": "tool_use", "name": "get_weather", "input": {}}}),
        delta(1, {"type": "content_block_delta", "index": 0,
                  "delta": {"type": "input_json_delta", "partial_json": '{"city": "Li'}}),
        delta(2, {"type": "content_block_delta", "index": 0,
                  "delta": {"type": "input_json_delta", "partial_json": 'sbon"}'}}),
        delta(3, {"type": "content_block_stop", "index": 0}),
        completion([{"type": "tool_use", "name": "get_weather", "input": {"city": "Lisbon"}}]),
    ]  # fmt: skip
    calls = [u for e in events for u in board.apply(e) if isinstance(u, ToolCalled)]
    assert calls == [ToolCalled("r1", "get_weather", {"city": "Lisbon"})]


def test_unparseable_prompt_error_is_shown_under_its_source_offset() -> None:
    """An ErrorEvent without custom_id is keyed topic/partition@offset and ends errored."""
    board = Board()
    event = ErrorEvent.model_validate({
        "custom_id": None, "generation": 1, "attempt": 1, "retryable": False, "original": "nope",
        "error": {"type": "invalid_json", "message": "Expecting value"},
        "source": {"topic": "claude.prompts", "partition": 2, "offset": 7},
    })  # fmt: skip
    [finished] = board.apply(event)
    assert isinstance(finished, Finished) and finished.request.custom_id == "claude.prompts/2@7"
    assert finished.request.status is Status.ERRORED
