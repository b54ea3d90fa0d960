"""A local HTTP server speaking the Anthropic API wire protocol (Messages, Models, Batches).

The official ``anthropic`` SDK pointed at it (``base_url=emu.base_url``) behaves as against the
real API: streaming and non-streaming messages, tools, thinking, token counting, models, errors,
retries and injected faults. See ``faults.py`` for the fault directive grammar.

    async with Emulator(EmulatorConfig(seed=1)) as emu:
        client = AsyncAnthropic(base_url=emu.base_url, api_key="test")

    with EmulatorThread(EmulatorConfig()) as emu:   # background thread, for sync clients
        client = Anthropic(base_url=emu.base_url, api_key="test")
"""

from __future__ import annotations

from service.emulator.config import DEFAULT_MODELS, EmulatorConfig, FaultRates
from service.emulator.context import Clock, EmulatorContext
from service.emulator.errors import ApiError, api_error_body
from service.emulator.generate import generate_message
from service.emulator.server import Emulator, EmulatorThread, build_app, run
from service.emulator.stats import EmulatorStats, RequestLogEntry
from service.emulator.tokens import count_input_tokens
from service.emulator.validate import validate_message_params

__all__ = [
    "DEFAULT_MODELS",
    "ApiError",
    "Clock",
    "Emulator",
    "EmulatorConfig",
    "EmulatorContext",
    "EmulatorStats",
    "EmulatorThread",
    "FaultRates",
    "RequestLogEntry",
    "api_error_body",
    "build_app",
    "count_input_tokens",
    "generate_message",
    "run",
    "validate_message_params",
]
