"""The crash barrier's core: how an unexpected exception is described, counted, and published."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event

from schemas import ErrorDetail
from service.barrier import ERROR_EVENT_UNIT, MAX_MESSAGE_CHARS, CrashBarrier, describe
from service.emulator.errors import ApiError
from service.emulator.faults import directive_fault, parse_directive
from service.emulator.generate import plan_message
from service.emulator.sse import odd_shape, stream_frames
from service.logs import MASK, maskable
from service.metrics import Metrics
from service.pipeline.accumulate import MessageAccumulator

SECRET = "sk-ant-" + "api03-" + "very-secret-value"  # built at runtime: no key-shaped literal in the tree
BODY: dict[str, Any] = {"model": "m", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (IndexError("list index out of range"), "IndexError: list index out of range"),
        (KeyError("delta"), "KeyError: 'delta'"),
        (RuntimeError(), "RuntimeError"),
        (TypeError(f"Could not use key {SECRET}"), f"TypeError: Could not use key {MASK}"),
        (ValueError("x" * 5000), "ValueError: " + "x" * MAX_MESSAGE_CHARS + "..."),
    ],
)
def test_an_exception_is_described_by_class_and_message_without_secrets(exc: Exception, message: str) -> None:
    """The detail is ``internal_error`` with ``Class: message``, secrets masked, long text cut."""
    assert describe(exc, maskable([SECRET])) == ErrorDetail(type="internal_error", message=message)


class Published:
    """An ErrorEvent publisher standing in for ``publish_error_event``; fails ``failures`` times first."""

    def __init__(self, failures: int = 0) -> None:
        self.details: list[ErrorDetail] = []
        self.failures = failures

    async def __call__(self, detail: ErrorDetail) -> None:
        if self.failures:
            self.failures -= 1
            raise ValueError("cannot serialise the event")
        self.details.append(detail)


async def crash() -> None:
    raise IndexError("list index out of range")


def internal_errors(metrics: Metrics, unit: str) -> float | None:
    return metrics.registry.get_sample_value("claude_kafka_internal_errors_total", {"unit": unit})


async def test_a_crash_is_published_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """An unexpected exception becomes one published internal_error, one count, one log line with traceback."""
    metrics = Metrics()
    publish = Published()
    await CrashBarrier(metrics).guard("prompt", crash(), publish)
    assert publish.details == [
        ErrorDetail(type="internal_error", message="IndexError: list index out of range")
    ]
    assert internal_errors(metrics, "prompt") == 1
    [record] = [r for r in caplog.records if r.name == "service.barrier"]
    assert record.exc_info is not None and record.exc_info[0] is IndexError


async def test_work_that_succeeds_publishes_nothing() -> None:
    """No exception, no ErrorEvent and no count."""
    metrics, publish = Metrics(), Published()
    await CrashBarrier(metrics).guard("prompt", asyncio.sleep(0), publish)
    assert publish.details == [] and internal_errors(metrics, "prompt") is None


async def test_cancellation_is_not_a_crash() -> None:
    """A cancelled unit is redone by the partition's next owner: it propagates, nothing is published."""
    metrics, publish = Metrics(), Published()
    task = asyncio.ensure_future(CrashBarrier(metrics).guard("prompt", asyncio.sleep(60), publish))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert publish.details == [] and internal_errors(metrics, "prompt") is None


async def test_an_unpublishable_error_event_falls_back_to_the_bare_one() -> None:
    """When the full ErrorEvent fails unexpectedly, the fallback publishes the same detail, and it is counted."""
    metrics, publish, fallback = Metrics(), Published(failures=1), Published()
    await CrashBarrier(metrics).guard("prompt", crash(), publish, fallback)
    assert publish.details == [] and [d.type for d in fallback.details] == ["internal_error"]
    assert internal_errors(metrics, "prompt") == 1 and internal_errors(metrics, ERROR_EVENT_UNIT) == 1


@pytest.mark.parametrize("with_fallback", [False, True])
async def test_when_no_error_event_can_be_published_the_unit_fails_loudly(with_fallback: bool) -> None:
    """Nothing published: the exception propagates (the offset stays uncommitted), counted as error_event."""
    metrics = Metrics()
    fallback = Published(failures=1) if with_fallback else None
    with pytest.raises(ValueError, match="cannot serialise"):
        await CrashBarrier(metrics).guard("callback", crash(), Published(failures=1), fallback)
    assert internal_errors(metrics, "callback") == 1
    assert internal_errors(metrics, ERROR_EVENT_UNIT) == (2 if with_fallback else 1)


def test_the_orphan_delta_shape_breaks_our_fold_and_the_sdks() -> None:
    """emu:shape=orphan_delta adds a delta for an unopened block: our fold and the SDK's both raise."""
    fault = directive_fault(parse_directive("shape=orphan_delta"), stream=True, default_retry_after_s=1)
    assert fault.kind == "shape_orphan_delta" and fault.shape == "orphan_delta"
    plan = plan_message(BODY, seed=3)
    normal = stream_frames(plan)
    events = [json.loads(f.split(b"data: ", 1)[1]) for f, _ in odd_shape(normal, "orphan_delta", plan)]
    assert len(events) == len(normal) + 1
    assert events[2] == {
        "type": "content_block_delta",
        "index": len(plan.blocks),
        "delta": {"type": "text_delta", "text": "?"},
    }
    ours = MessageAccumulator()
    with pytest.raises(IndexError):
        for event in events:
            ours.add(event)
    snapshot = None
    with pytest.raises(IndexError):
        for event in events:
            if event["type"] != "ping":
                snapshot = accumulate_event(event=event, current_snapshot=snapshot, json_bufs={})  # type: ignore[arg-type]


def test_an_unknown_shape_is_a_400() -> None:
    """A typo in the shape is refused, naming the known shapes."""
    with pytest.raises(ApiError, match="orphan_delta"):
        parse_directive("shape=orphan")
