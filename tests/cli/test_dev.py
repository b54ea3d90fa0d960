"""``claude-kafka dev``: the whole stack in a subprocess, the demo, and shutdown without orphans."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.cli.procs import Cli, gone

pytestmark = pytest.mark.integration

DEV = ("dev", "--port", "0", "--metrics-port", "0", "--plain")


def test_demo_streams_every_prompt_and_exits_cleanly(tmp_path: Path) -> None:
    """--demo --exit-after-demo streams text, a tool call and thinking, reports the batch, exits 0."""
    cli = Cli(*DEV, "--demo", "--exit-after-demo", "--tokens-per-second", "300", cwd=tmp_path)
    try:
        cli.wait_for(r"claude-kafka dev is up in")
        broker_pid = int(cli.wait_for(r"Kafka bootstrap .*pid (\d+)").group(1))
        children = cli.descendants()
        assert broker_pid in {p.pid for p in children}
        cli.wait_for(r"demo: 3/3 streamed prompts completed; batch prompt: ", within=45)
        assert cli.finish() == 0
    finally:
        cli.kill()
    out = cli.output
    for custom_id in ("demo-plain", "demo-tool", "demo-thinking"):
        assert re.search(rf"^\[{custom_id}\] completed ", out, re.MULTILINE), out
    assert re.search(r"^\[demo-plain\] \w+", out, re.MULTILINE)  # streamed text lines
    assert re.search(r'^\[demo-tool\] tool_use get_weather \{"city": ', out, re.MULTILINE)
    assert re.search(r"^\[demo-thinking\] \(thinking\) \w+", out, re.MULTILINE)
    assert "stopped" in cli.lines[-1]
    assert gone(children)


def test_ctrl_c_mid_demo_stops_everything(tmp_path: Path) -> None:
    """SIGINT while the demo streams drains the service and leaves no broker or other child behind."""
    cli = Cli(*DEV, "--demo", cwd=tmp_path)
    try:
        cli.wait_for(r"claude-kafka dev is up in")
        children = cli.descendants()
        assert children, "the embedded broker should be a child process"
        cli.wait_for(r"^\[demo-\w+\] ")  # something is streaming
        cli.interrupt()
        assert cli.finish(within=20) == 0
    finally:
        cli.kill()
    assert cli.lines[-1] == "stopped"
    assert gone(children)


def test_broker_dies_with_a_killed_dev_process(tmp_path: Path) -> None:
    """SIGKILL of `claude-kafka dev` still takes the broker down (parent-death signal)."""
    cli = Cli(*DEV, cwd=tmp_path)
    try:
        cli.wait_for(r"^starting: ")
        children = cli.descendants()
        while not children:  # the broker is forked right after the first line
            assert cli.process.poll() is None, cli.output
            children = cli.descendants()
    finally:
        cli.kill()
    assert gone(children)
