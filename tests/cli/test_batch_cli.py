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


async def test_batch_submit_reports_bad_lines_and_waits_for_every_result(
    make_settings: Any, tmp_path: Path
) -> None:
    """A JSONL file with two bad lines: both reported by line number, the good ones all end, exit 1."""
    lines = [
        json.dumps({"custom_id": f"jsonl-{i}", "params": {"model": MODEL, "max_tokens": 16,
                    "messages": [{"role": "user", "content": f"Summarise item {i}"}]}})
        for i in range(5)
    ]  # fmt: skip
    lines.insert(2, "{not json")
    lines.append(json.dumps({"custom_id": "bad id!", "params": {}}))
    file = tmp_path / "requests.jsonl"
    file.write_text("\n".join(lines) + "\n")
    async with Emulator(EmulatorConfig(seed=3, batch_time_scale=0.001, output_tokens=8)) as emu:
        settings = batch_settings(make_settings, emu.base_url)
        await create_topics(settings)
        env = settings_env(settings)
        async with InProcessService(settings):
            code, out, err = await _cli(env, "submit", str(file), "--timeout", "60")
            status_code, status_out, _ = await _cli(env, "status")
    assert code == 1, (out, err)  # bad lines make the exit code say so, after the good ones ended
    assert f"{file}:3: " in err and f"{file}:7: " in err
    assert "published 5 batch prompts" in out
    assert emu.stats.batches["requests_submitted"] == 5
    assert status_code == 0
    assert "no open batches" in status_out or "msgbatch_" in status_out  # just finished: either
