"""``send`` and ``tail`` against a running ``claude-kafka dev`` stack (real broker, real emulator)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.procs import Cli, gone

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `claude-kafka dev` stack for this module; yields its bootstrap address, stops it after."""
    cwd = tmp_path_factory.mktemp("dev")
    cli = Cli("dev", "--port", "0", "--metrics-port", "0", "--plain", "--ttft-ms", "50",
              "--tokens-per-second", "400", cwd=cwd)  # fmt: skip
    try:
        bootstrap = cli.wait_for(r"Kafka bootstrap +(\S+)").group(1)
        cli.wait_for(r"claude-kafka dev is up in")
        children = cli.descendants()
        yield bootstrap
        cli.interrupt()
        assert cli.finish(within=20) == 0
        assert gone(children)
    finally:
        cli.kill()


def test_send_wait_prints_streamed_text_and_usage(stack: str, tmp_path: Path) -> None:
    """send --wait prints the answer's text on stdout, then usage and cost, and exits 0."""
    cli = Cli("send", "Write a haiku about Kafka", "-b", stack, "--wait", "--id", "send-wait-1",
              "--attr", "tenant=acme", cwd=tmp_path)  # fmt: skip
    assert cli.finish(within=30) == 0, cli.output
    out = cli.output
    assert "sent send-wait-1 to claude.prompts partition" in out
    summary = next(line for line in cli.lines if line.startswith("completed end_turn"))
    assert " in / " in summary and " out tokens" in summary and "$" in summary
    text = "\n".join(cli.lines[1 : cli.lines.index(summary)]).strip()
    assert len(text.split()) >= 5, out


def test_send_wait_reports_an_error_event_with_exit_1(stack: str, tmp_path: Path) -> None:
    """A prompt the API rejects (--json params with an emulator fault) ends as one error line, exit 1."""
    params = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hello"}],
        "metadata": {"user_id": "emu:status=400;error=invalid_request_error;message=nope"},
    }
    cli = Cli("send", "-b", stack, "--wait", "--json", json.dumps(params), cwd=tmp_path)
    assert cli.finish(within=30) == 1, cli.output
    assert cli.lines[-1] == "error invalid_request_error: nope", cli.output


def test_tail_json_emits_one_parseable_event_per_line(stack: str, tmp_path: Path) -> None:
    """tail --json prints each event as one JSON object with topic and kind, ending in the completion."""
    sent = Cli("send", "-b", stack, "--id", "tail-json-1", cwd=tmp_path, stdin="Tell me about offsets")
    assert sent.finish(within=30) == 0, sent.output
    tail = Cli("tail", "-b", stack, "--json", "--from-beginning", "--id", "tail-json-1", cwd=tmp_path)
    try:
        tail.wait_for(r'"kind": "completion"')
        tail.interrupt()
        assert tail.finish(within=30) == 0
    finally:
        tail.kill()
    events = [json.loads(line) for line in tail.lines]
    assert {e["custom_id"] for e in events} == {"tail-json-1"}
    deltas = [e for e in events if e["kind"] == "delta"]
    assert deltas and all(e["topic"] == "claude.deltas" for e in deltas)
    assert [e["seq"] for e in deltas] == list(range(len(deltas)))
    completion = events[-1]
    assert completion["topic"] == "claude.completions" and completion["message"]["content"]
    streamed = "".join(
        e["event"]["delta"].get("text", "") for e in deltas if e["event"]["type"] == "content_block_delta"
    )
    assert streamed == completion["message"]["content"][0]["text"]


def test_tail_reassembles_requests_as_prefixed_lines(stack: str, tmp_path: Path) -> None:
    """Piped tail shows each request's text and outcome on lines prefixed with its custom_id."""
    for custom_id in ("tail-a", "tail-b"):
        assert Cli("send", "Say something", "-b", stack, "--id", custom_id, cwd=tmp_path).finish(30) == 0
    tail = Cli("tail", "-b", stack, "--from-beginning", "--id", "tail-a", "--id", "tail-b", cwd=tmp_path)
    try:
        tail.wait_for(r"^\[tail-a\] completed ")
        tail.wait_for(r"^\[tail-b\] completed ")
        tail.interrupt()
        assert tail.finish(within=30) == 0
    finally:
        tail.kill()
    assert any(line.startswith("[tail-a] ") and "completed" not in line for line in tail.lines)


def test_send_without_a_broker_fails_in_one_line_with_exit_2(tmp_path: Path) -> None:
    """An unreachable broker is one readable line with a hint and exit code 2, no traceback."""
    cli = Cli("send", "hi", "-b", "127.0.0.1:1", cwd=tmp_path)
    assert cli.finish(within=30) == 2
    assert cli.lines == [cli.lines[0]] and "cannot reach Kafka at 127.0.0.1:1" in cli.lines[0]
    assert "hint:" in cli.lines[0]
