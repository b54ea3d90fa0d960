"""The pure core of tool loops: the next request, the run record, the reference tools."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from schemas import ToolCallEvent
from service.agents import turns
from service.agents.run import Run
from service.agents.tools import ToolFailed, calculate, clock, run_tool
from service.agents.worker import answer

PARAMS: dict[str, Any] = {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "sum it"}]}


def answer_with(*calls: str, usage: int = 5) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": "Let me."}]
    content += [
        {"type": "tool_use", "id": c, "name": "calculator", "input": {"expression": "1+1"}} for c in calls
    ]
    return {
        "content": content,
        "stop_reason": "tool_use" if calls else "end_turn",
        "usage": {"input_tokens": usage, "output_tokens": 1},
    }


def test_next_request_appends_each_turn_and_its_results_in_call_order() -> None:
    """History is (assistant content, user tool_results) per finished turn, after the prompt's messages."""
    run = Run(custom_id="c").with_turn(answer_with("a", "b"))
    run = run.with_result(turns.result_block("b", "2", False)).with_result(
        turns.result_block("a", "1", False)
    )
    request = turns.next_request(PARAMS, run.history())
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]
    assert [b["tool_use_id"] for b in request["messages"][2]["content"]] == ["a", "b"]
    assert request["messages"][1]["content"] == answer_with("a", "b")["content"]
    assert turns.next_request(PARAMS, []) is PARAMS


def test_a_prefilled_prompt_gets_its_assistant_turn_completed() -> None:
    """A prompt ending with an assistant prefill is continued, not followed by a second assistant turn."""
    params = {**PARAMS, "messages": [*PARAMS["messages"], {"role": "assistant", "content": "Sure:"}]}
    request = turns.next_request(
        params, [(answer_with("a")["content"], [turns.result_block("a", "1", False)])]
    )
    assert [m["role"] for m in request["messages"]] == ["user", "assistant", "user"]
    assert request["messages"][1]["content"][0] == {"type": "text", "text": "Sure:"}


@pytest.mark.parametrize(
    ("results", "open_ids"),
    [([], ["a", "b"]), (["a"], ["b"]), (["a", "b"], []), (["zzz"], ["a", "b"]), (["a", "a"], ["b"])],
)
def test_open_calls_are_the_last_turns_calls_without_a_result(
    results: list[str], open_ids: list[str]
) -> None:
    """Only unanswered calls are open; a result for no call, or a second one, changes nothing."""
    run = Run(custom_id="c").with_turn(answer_with("a", "b"))
    for tool_use_id in results:
        run = run.with_result(turns.result_block(tool_use_id, "x", False))
    assert [c["id"] for c in run.open_calls()] == open_ids


def test_a_run_record_round_trips_and_sums_usage() -> None:
    """The record survives JSON (TOPIC_RUNS); the final message carries every turn's usage summed."""
    run = Run(custom_id="c").with_turn(answer_with("a", usage=5))
    run = run.with_result(turns.result_block("a", "2", False)).with_turn(answer_with(usage=7))
    assert Run.model_validate_json(run.model_dump_json()) == run
    final = turns.final_message(run.last or {}, run.usages())
    assert final["usage"] == {"input_tokens": 12, "output_tokens": 2}
    assert not turns.wants_tools(final) and run.open_calls() == []


def test_a_timed_out_call_is_an_error_result_naming_the_tool() -> None:
    """Claude is told which tool did not answer, as an is_error tool_result."""
    block = turns.timed_out_block("a", "weather", 1.5)
    assert block["is_error"] is True and "weather" in block["content"] and "1.5" in block["content"]
    assert "is_error" not in turns.result_block("a", "ok", False)


@pytest.mark.parametrize(
    ("expression", "value"),
    [("17 * 23", 391), ("(1 + 2) * -3", -9), ("7 / 2", 3.5), ("7 // 2", 3), ("2 ** 10", 1024), ("10 % 4", 2)],
)
def test_calculator_evaluates_arithmetic(expression: str, value: float) -> None:
    """Numbers, the arithmetic operators and parentheses are evaluated."""
    assert calculate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os')",
        "x + 1",
        "1 / 0",
        "9 ** 999",
        "[1]",
        "",
        "1 +",
        "10 ** 60 * 10 ** 60",
        "(-1) ** 0.5",
    ],
)
def test_calculator_refuses_anything_else(expression: str) -> None:
    """Names, calls, huge powers, division by zero and syntax errors become a tool error, never eval."""
    with pytest.raises(ToolFailed):
        calculate(expression)


def test_clock_answers_in_the_asked_zone_and_refuses_unknown_ones() -> None:
    """The clock formats ``now`` in an IANA zone; a bad zone is a tool error."""
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert clock("Europe/Berlin", now) == "2026-12-02T13:00:00+01:00"
    assert run_tool("clock", {}, now) == "2026-12-02T12:00:00+00:00"
    with pytest.raises(ToolFailed):
        clock("Mars/Olympus", now)


@pytest.mark.parametrize(
    ("name", "answer_unknown", "expected"),
    [("calculator", False, ("2", False)), ("weather", False, None), ("weather", True, "error")],
)
def test_the_worker_answers_its_tools_and_leaves_others(
    name: str, answer_unknown: bool, expected: Any
) -> None:
    """A call for another worker's tool is left alone unless the worker answers unknown tools with an error."""
    call = ToolCallEvent(
        custom_id="c", generation=0, attempt=1, turn=1, tool_use_id="t", name=name,
        input={"expression": "1+1"}, timeout_seconds=5,
    )  # fmt: skip
    result = answer(call, {"calculator", "clock"}, datetime.now(UTC), answer_unknown)
    if expected is None:
        assert result is None
    elif expected == "error":
        assert result is not None and result.is_error and "weather" in str(result.content)
    else:
        assert result is not None and (result.content, result.is_error) == expected


@pytest.mark.parametrize(
    "content",
    [
        [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "t1", "name": "calc", "input": {"x": [1, 2]}},
        ],
        [{"type": "thinking", "thinking": "hmm", "signature": "c2ln"}, {"type": "text", "text": "Done."}],
        [
            {"type": "server_tool_use", "id": "s1", "name": "web_search", "input": {"query": "kafka"}},
            {"type": "web_search_tool_result", "tool_use_id": "s1", "content": []},
            {"type": "text", "text": ""},
        ],
    ],
)
def test_a_recorded_turn_replays_as_a_stream_the_sdk_accumulates_to_it(content: list[dict[str, Any]]) -> None:
    """Replayed SSE events of a recorded answer fold, in the SDK's own accumulator, to that answer."""
    from anthropic.lib.streaming._messages import accumulate_event

    message = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-haiku-4-5", "content": content,
        "stop_reason": "tool_use", "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 7},
    }  # fmt: skip
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event in turns.replay_events(message):
        snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs=json_bufs)  # type: ignore[arg-type]
    assert snapshot is not None
    rebuilt = snapshot.model_dump(exclude_none=True, exclude={"content": {"__all__": {"parsed_output"}}})
    assert rebuilt["content"] == [{k: v for k, v in b.items() if v is not None} for b in content]
    assert (rebuilt["stop_reason"], rebuilt["usage"]) == ("tool_use", message["usage"])


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


TOOL_TURN = [
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "calculator", "input": {}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "2"}]},
]


@pytest.mark.parametrize(
    ("messages", "max_tokens", "kept_from"),
    [
        ([user("a"), assistant("b")], 1000, 0),
        ([user("a" * 400), assistant("b"), user("c"), assistant("d")], 50, 2),
        # A tool round is never split: its tool_result turn cannot start a history.
        ([user("a" * 400), *TOOL_TURN, assistant("x"), user("c"), assistant("d")], 60, 4),
        # The newest exchange stays even when it alone is over the limit.
        ([user("a"), assistant("b"), user("c" * 4000), assistant("d")], 50, 2),
    ],
)
def test_session_history_drops_the_oldest_whole_turns(
    messages: list[dict[str, Any]], max_tokens: int, kept_from: int
) -> None:
    """Trimming drops from the front, only whole turns, and keeps at least the last exchange."""
    from service.agents.sessions import trim

    kept, dropped = trim(messages, max_tokens)
    assert (kept, dropped) == (messages[kept_from:], kept_from)


def test_a_loop_cut_at_max_iterations_leaves_its_unanswered_calls_out_of_the_session() -> None:
    """A tool_use nobody answers would make the session's next request invalid: only its text is kept."""
    from service.agents.sessions import exchange

    cut = answer_with("a")
    assert exchange([user("q")], cut, looped=True) == [
        user("q"),
        {"role": "assistant", "content": cut["content"][:1]},
    ]
    assert (
        exchange([user("q")], cut, looped=False)[-1]["content"] == cut["content"]
    )  # the producer answers it


async def test_results_reach_only_the_calls_in_flight_and_only_once() -> None:
    """A result for a waiting call resolves it; another's, a duplicate, or a non-event is dropped."""
    from service.kafka.tool_results import Waiters

    results = Waiters()
    futures = results.expect("c", ["a"])
    result = b'{"custom_id": "c", "tool_use_id": "a", "content": "2"}'
    assert results.deliver(b'{"custom_id": "other", "tool_use_id": "a"}') == "unexpected"
    assert results.deliver(b"not json") == "invalid"
    assert results.deliver(result) == "matched"
    assert results.deliver(result) == "unexpected"
    assert futures["a"].result().content == "2"
    results.forget("c", ["a"])
    assert results.deliver(result) == "unexpected"
