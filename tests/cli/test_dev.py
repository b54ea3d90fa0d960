"""``claude-kafka dev``: the whole stack in a subprocess, the demo, and shutdown without orphans."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import psutil
import pytest

from service.devbroker import die_with_parent
from tests.cli.procs import Cli, gone
from tests.waiting import until_sync

pytestmark = pytest.mark.integration

DEV = ("dev", "--port", "0", "--metrics-port", "0", "--plain")
# Start-up is four processes and a handful of imports: on a loaded 2-core box (a parallel suite) it has
# taken over 30 s. A hang still fails; how fast start-up is belongs to bench/.
DEV_UP = 60.0


def test_demo_streams_every_prompt_and_exits_cleanly(tmp_path: Path) -> None:
    """--demo --exit-after-demo streams text, a tool call, thinking and a tool loop, reports the batch, exits 0."""
    cli = Cli(*DEV, "--demo", "--exit-after-demo", "--tokens-per-second", "300", cwd=tmp_path)
    try:
        cli.wait_for(r"claude-kafka dev is up in", within=DEV_UP)
        broker_pid = int(cli.wait_for(r"Kafka bootstrap .*pid (\d+)").group(1))
        children = cli.descendants()
        assert broker_pid in {p.pid for p in children}
        cli.wait_for(r"demo: 4/4 streamed prompts completed; batch prompt: ", within=45)
        assert cli.finish() == 0
    finally:
        cli.kill()
    out = cli.output
    for custom_id in ("demo-plain", "demo-tool", "demo-thinking", "demo-loop"):
        assert re.search(rf"^\[{custom_id}\] completed ", out, re.MULTILINE), out
    assert re.search(r"^\[demo-plain\] \w+", out, re.MULTILINE)  # streamed text lines
    assert re.search(r'^\[demo-tool\] tool_use get_weather \{"city": ', out, re.MULTILINE)
    assert re.search(r"^\[demo-thinking\] \(thinking\) \w+", out, re.MULTILINE)
    # The dev stack's tool worker answered the loop's calculator call; the loop went on to a text answer.
    assert re.search(r'^\[demo-loop\] tool_use calculator \{"expression": ', out, re.MULTILINE), out
    assert "stopped" in cli.lines[-1]
    assert gone(children)


def test_ctrl_c_mid_demo_stops_everything(tmp_path: Path) -> None:
    """SIGINT while the demo streams drains the service and leaves no broker or other child behind."""
    cli = Cli(*DEV, "--demo", cwd=tmp_path)
    try:
        cli.wait_for(r"claude-kafka dev is up in", within=DEV_UP)
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

        def forked() -> list[psutil.Process]:
            assert cli.process.poll() is None, cli.output
            return cli.descendants()

        children = until_sync(forked, 10, "the broker forked", every=0.005)  # right after the first line
    finally:
        cli.kill()
    assert gone(children)


MARK = "CLAUDE_KAFKA_TEST_MARK"
# Kill points: from the spawn (across imports, settings, the broker's fork, topics, emulator, service
# start) and from the "starting:" line, printed just before the broker is forked, where the race was.
FROM_SPAWN = tuple(i * 0.25 for i in range(12))  # 0 .. 2.75 s
FROM_STARTING = (0.0, 0.002, 0.005, 0.01, 0.02, 0.05)


def marked(mark: str) -> list[psutil.Process]:
    """Live processes whose environment carries ``mark`` (orphans included, wherever they were re-parented)."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get(MARK) == mark and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


@pytest.mark.parametrize(
    ("after_starting", "delay"), [(False, d) for d in FROM_SPAWN] + [(True, d) for d in FROM_STARTING]
)
def test_sigkill_at_any_point_of_start_up_leaves_no_survivor(
    after_starting: bool, delay: float, tmp_path: Path
) -> None:
    """SIGKILL of `claude-kafka dev` anywhere in its start-up leaves no broker (or any other child) running."""
    mark = uuid.uuid4().hex
    cli = Cli(*DEV, cwd=tmp_path, env={MARK: mark})
    try:
        if after_starting:
            cli.wait_for(r"^starting: ")
        time.sleep(delay)  # the kill point under test, not a wait for a condition
    finally:
        cli.kill()
    survivors: list[psutil.Process] = []

    def none_left() -> bool:
        survivors[:] = marked(mark)
        return not survivors

    def named() -> str:
        with contextlib.suppress(psutil.Error):
            return f"no survivor of {[p.cmdline() for p in survivors]}"
        return f"no survivor ({len(survivors)} left)"

    try:
        until_sync(none_left, 10, named, every=0.05)
    finally:
        for process in survivors:  # leave nothing behind, then fail
            with contextlib.suppress(psutil.Error):
                process.kill()


def test_a_child_whose_parent_changed_before_the_signal_was_set_exits() -> None:
    """The parent-death hook exits the child (before exec) when its parent is not the pid taken before fork."""
    wrong = functools.partial(
        die_with_parent, os.getpid() + 1_000_000
    )  # not our pid, so not the child's parent
    right = functools.partial(die_with_parent, os.getpid())
    stray = subprocess.Popen(["sleep", "30"], preexec_fn=wrong)  # noqa: PLW1509 - no threads of ours fork
    try:
        assert stray.wait(10) == 1
    finally:
        stray.kill()
    kept = subprocess.Popen(["sleep", "30"], preexec_fn=right)  # noqa: PLW1509
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            kept.wait(0.5)
    finally:
        kept.kill()
        kept.wait()


def test_a_second_terminal_needs_no_flags_while_dev_runs(tmp_path: Path) -> None:
    """While dev runs, send --wait and batch status from another process find the stack through the
    dev profile (no -b, no key); the banner fits 80 columns; the profile goes when dev stops."""
    # A home of the test's own: the banner shows the profile as ~/.config/..., as on a user's machine.
    xdg = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / ".config")}
    profile = tmp_path / ".config" / "claude-kafka" / "profiles" / "dev.toml"
    dev = Cli(*DEV, "--tokens-per-second", "300", cwd=tmp_path, env=xdg)
    try:
        dev.wait_for(r"^  \S*claude-kafka doctor$", within=60)  # the banner's last line
        assert profile.is_file()
        banner = dev.lines[dev.lines.index(next(x for x in dev.lines if "dev is up" in x)) :]
        assert [line for line in banner if len(line) > 80] == []
        send = Cli("send", "Write a haiku about Kafka", "--wait", cwd=tmp_path, env=xdg)
        assert send.finish(within=60) == 0, send.output
        assert re.search(r"^completed end_turn ", send.output, re.MULTILINE), send.output
        status = Cli("batch", "status", cwd=tmp_path, env=xdg)
        assert status.finish(within=60) == 0, status.output
        assert "no open batches" in status.output
        dev.interrupt()
        assert dev.finish(within=30) == 0
    finally:
        dev.kill()
    assert not profile.exists()
