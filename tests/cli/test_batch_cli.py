"""`claude-kafka batch submit` and `batch status` against the real broker, service and emulator."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from service.emulator import Emulator, EmulatorConfig
from service.kafka.topics import create_topics
from tests.integration.batch_helpers import InProcessService, batch_settings
from tests.kafkautil import Collector
from tests.services import MODEL, settings_env

pytestmark = pytest.mark.integration


async def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "service", "batch", *args,
        env={"PATH": os.environ.get("PATH", ""), **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def _line(custom_id: str, directive: str | None = None, **params: Any) -> str:
    body: dict[str, Any] = {"model": MODEL, "max_tokens": 16,
                            "messages": [{"role": "user", "content": f"Summarise {custom_id}"}], **params}  # fmt: skip
    if directive:
        body["metadata"] = {"user_id": directive}
    return json.dumps({"custom_id": custom_id, "params": body})


async def test_batch_submit_refuses_a_file_with_bad_lines_naming_line_and_field(
    make_settings: Any, tmp_path: Path
) -> None:
    """Bad lines are each named by line and field, nothing is published, and the exit code is 2."""
    lines = [_line("jsonl-0"), _line("jsonl-1"), "{not json", _line("jsonl-3", max_tokens="many"),
             json.dumps({"custom_id": "bad id!", "params": {}}), _line("jsonl-0")]  # fmt: skip
    file = tmp_path / "requests.jsonl"
    file.write_text("\n".join(lines) + "\n")
    async with Emulator(EmulatorConfig(seed=3)) as emu:
        settings = batch_settings(make_settings, emu.base_url)
        await create_topics(settings)
        code, out, err = await _cli(settings_env(settings), "submit", str(file))
        async with Collector(settings, [settings.topics.prompts]) as prompts:
            await prompts.drain()
    assert code == 2, (out, err)
    assert f"{file}: line 3: not JSON: " in err
    assert f"{file}: line 4: params.max_tokens: Input should be a valid integer" in err
    assert f"{file}: line 5: custom_id: String should match pattern" in err
    assert f"{file}: line 6: custom_id: 'jsonl-0' repeats line 1" in err
    assert "4 bad lines" in err and "nothing was published" in err and "Traceback" not in err
    assert prompts.records == []


async def test_batch_submit_counts_only_this_runs_results_and_exits_by_outcome(
    make_settings: Any, tmp_path: Path
) -> None:
    """A clean file exits 0 once its results arrive; run again, it waits for new results, not the old."""
    clean = tmp_path / "clean.jsonl"
    clean.write_text("\n".join(_line(f"run-{i}") for i in range(3)) + "\n")
    failing = tmp_path / "failing.jsonl"
    failing.write_text(_line("ok-1") + "\n" + _line("err-1", "emu:batch=errored") + "\n")
    async with Emulator(EmulatorConfig(seed=3, batch_time_scale=0.001, output_tokens=8)) as emu:
        settings = batch_settings(make_settings, emu.base_url)
        await create_topics(settings)
        env = settings_env(settings)
        async with InProcessService(settings):
            first = await _cli(env, "submit", str(clean), "--timeout", "60")
            submitted_after_first = emu.stats.batches["requests_submitted"]
            second = await _cli(env, "submit", str(clean), "--timeout", "60")
            # Results of the second run exist only once its requests were submitted again.
            submitted_after_second = emu.stats.batches["requests_submitted"]
            mixed = await _cli(env, "submit", str(failing), "--timeout", "60")
            status_code, status_out, _ = await _cli(env, "status")
    for code, out, err in (first, second):
        assert code == 0, (out, err)
        assert "published 3 batch prompts" in out and "3 completed, 0 errored" in out
    assert (submitted_after_first, submitted_after_second) == (3, 6)
    code, out, err = mixed
    assert code == 1, (out, err)
    assert "1 completed, 1 errored" in out and "Traceback" not in err
    assert status_code == 0
    assert "no open batches" in status_out or "msgbatch_" in status_out  # just finished: either


async def test_batch_submit_skip_bad_lines_publishes_the_valid_ones(
    make_settings: Any, tmp_path: Path
) -> None:
    """With --skip-bad-lines the bad line is reported, the others are published and all end, exit 0."""
    lines = [_line(f"skip-{i}") for i in range(3)]
    lines.insert(1, json.dumps({"custom_id": "skip-x", "params": {"model": MODEL}}))
    file = tmp_path / "requests.jsonl"
    file.write_text("\n".join(lines) + "\n")
    async with Emulator(EmulatorConfig(seed=3, batch_time_scale=0.001, output_tokens=8)) as emu:
        settings = batch_settings(make_settings, emu.base_url)
        await create_topics(settings)
        async with InProcessService(settings):
            code, out, err = await _cli(settings_env(settings), "submit", str(file), "--skip-bad-lines")
    assert code == 0, (out, err)
    assert f"{file}: line 2: params.max_tokens: Field required" in err
    assert "published 3 batch prompts" in out and "3 completed, 0 errored" in out
    assert emu.stats.batches["requests_submitted"] == 3
