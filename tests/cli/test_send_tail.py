"""``send`` and ``tail`` against a running ``claude-kafka dev`` stack (real broker, real emulator)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.procs import Cli, gone

# One worker runs the module, so the `stack` fixture (a whole dev stack) starts once under xdist.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("send-tail-dev")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `claude-kafka dev` stack for this module; yields its bootstrap address, stops it after."""
    cwd = tmp_path_factory.mktemp("dev")
    cli = Cli("dev", "--port", "0", "--metrics-port", "0", "--plain", "--ttft-ms", "50",
              "--tokens-per-second", "400", cwd=cwd)  # fmt: skip
    try:
        bootstrap = cli.wait_for(r"Kafka bootstrap +(\S+)", within=60).group(1)
        cli.wait_for(r"claude-kafka dev is up in", within=60)  # start-up on a loaded box (xdist)
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
        # --id ends by itself at the final event: a Ctrl-C racing that exit could meet Python's
        # finalisation (SIGINT back at its default) and kill tail with -2, as it did under xdist load.
        assert tail.finish(within=30) == 0, tail.output
    finally:
        tail.kill()
    assert tail.lines[0].startswith("claude-kafka: following ")  # on stderr: stdout is only JSON
    events = [json.loads(line) for line in tail.lines[1:]]
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
        assert tail.finish(within=30) == 0, tail.output  # --id ends by itself once both are final
    finally:
        tail.kill()
    for custom_id in ("tail-a", "tail-b"):
        assert any(line.startswith(f"[{custom_id}] completed ") for line in tail.lines), tail.output
    assert any(line.startswith("[tail-a] ") and "completed" not in line for line in tail.lines)


def test_send_without_a_broker_fails_in_one_line_with_exit_2(tmp_path: Path) -> None:
    """An unreachable broker is one readable line with a hint and exit code 2, no traceback."""
    cli = Cli("send", "hi", "-b", "127.0.0.1:1", cwd=tmp_path)
    assert cli.finish(within=30) == 2
    assert cli.lines == [cli.lines[0]] and "cannot reach Kafka at 127.0.0.1:1" in cli.lines[0]
    assert "hint:" in cli.lines[0]


def test_tail_starts_at_the_end_unless_from_beginning(stack: str, tmp_path: Path) -> None:
    """A request finished before tail started is not shown; one sent after is; --from-beginning replays."""
    assert Cli("send", "Earlier", "-b", stack, "--id", "end-old", "--wait", cwd=tmp_path).finish(30) == 0
    tail = Cli("tail", "-b", stack, cwd=tmp_path)
    replay = Cli("tail", "-b", stack, "--json", "--from-beginning", cwd=tmp_path)
    try:
        tail.wait_for(r"^following .* from the end$")
        assert Cli("send", "Later", "-b", stack, "--id", "end-new", cwd=tmp_path).finish(30) == 0
        tail.wait_for(r"^\[end-new\] completed ")
        replay.wait_for(r'"custom_id": "end-old".*"kind"|"kind": "completion".*"custom_id": "end-old"')
        tail.interrupt()
        replay.interrupt()
        assert tail.finish(within=30) == 0 and replay.finish(within=30) == 0
    finally:
        tail.kill()
        replay.kill()
    # Its completion was on the broker before tail started (send --wait saw it), so tail never shows it.
    assert not [line for line in tail.lines if line.startswith("[end-old] completed")], tail.output


def test_send_batch_wait_says_it_waits_for_the_submit_then_polls(stack: str, tmp_path: Path) -> None:
    """Batch mode --wait announces the submit wait and its timeout, shows progress lines, then answers."""
    # The dev stack submits within 2 s and polls every 1 s; this CLI is told the same settings.
    env = {"BATCH_MAX_WAIT_SECONDS": "2", "BATCH_POLL_SECONDS": "1"}
    cli = Cli("send", "Half price please", "-b", stack, "--mode", "batch", "--wait", "--id", "bw-1",
              cwd=tmp_path, env=env)  # fmt: skip
    assert cli.finish(within=60) == 0, cli.output
    announce = cli.wait_for(r"^batch mode: the service submits a batch within 2 s .* waiting up to (\d+) s")
    assert announce.group(1) == "3602"  # BATCH_MAX_WAIT_SECONDS + an hour of polling
    done = next(i for i, line in enumerate(cli.lines) if line.startswith("completed "))
    progress = [line for line in cli.lines[:done] if line.startswith("waiting for the batch")]
    assert progress, cli.output
    assert all(
        re.fullmatch(r"waiting for the batch('s results| to be submitted) \(\d+ s.*\)", p) for p in progress
    )


def test_ctrl_c_during_send_wait_says_how_to_follow_and_tail_id_finishes_it(
    stack: str, tmp_path: Path
) -> None:
    """Ctrl-C while waiting exits 130 with the tail --id command; that command then shows the answer."""
    cli = Cli("send", "Take your time", "-b", stack, "--mode", "batch", "--wait", "--id", "cc-1",
              cwd=tmp_path)  # fmt: skip
    try:
        cli.wait_for(r"^batch mode: ")
        cli.interrupt()
        assert cli.finish(within=30) == 130, cli.output
    finally:
        cli.kill()
    assert cli.lines[-1] == (
        "claude-kafka: stopped waiting; cc-1 is still being answered "
        "(follow it with `claude-kafka tail --id cc-1`)"
    ), cli.output
    assert "Traceback" not in cli.output
    follow = Cli("tail", "--id", "cc-1", "-b", stack, cwd=tmp_path)
    try:
        assert follow.finish(within=60) == 0, follow.output  # ends by itself at the final event
    finally:
        follow.kill()
    assert any(line.startswith("[cc-1] completed ") for line in follow.lines), follow.output


def test_send_refuses_an_oversize_prompt_before_sending(stack: str, tmp_path: Path) -> None:
    """A 2 MB prompt is one line naming MAX_PROMPT_BYTES, exit 2, and is never sent."""
    big = tmp_path / "big.txt"
    big.write_text("word " * 400_000)
    cli = Cli("send", "--file", str(big), "-b", stack, "--wait", cwd=tmp_path)
    assert cli.finish(within=30) == 2, cli.output
    assert len(cli.lines) == 1 and "the service refuses records over 1,048,576 bytes" in cli.lines[0]
    assert "MAX_PROMPT_BYTES" in cli.lines[0] and "sent " not in cli.output
