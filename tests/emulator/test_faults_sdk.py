"""Injected faults surface in the SDK exactly as real API failures do."""

from __future__ import annotations

import itertools
import time
from typing import Any

import anthropic
import httpx2
import pytest
from anthropic.types import RawMessageStopEvent

from service.emulator import Emulator, EmulatorConfig, FaultRates
from tests.emulator.conftest import params


def with_fault(user_id: str, **overrides: Any) -> dict[str, Any]:
    return params(metadata={"user_id": user_id}, **overrides)


@pytest.mark.parametrize(
    ("directive", "error_class", "error_type"),
    [
        ("emu:status=529", anthropic.OverloadedError, "overloaded_error"),
        ("emu:status=429;retry_after_ms=10", anthropic.RateLimitError, "rate_limit_error"),
        ("emu:status=500", anthropic.InternalServerError, "api_error"),
        ("emu:status=400;message=nope", anthropic.BadRequestError, "invalid_request_error"),
    ],
)
async def test_status_directive_raises_the_sdk_error_class(
    aclient: anthropic.AsyncAnthropic, directive: str, error_class: type[Exception], error_type: str
) -> None:
    """emu:status=N answers with the error envelope and the SDK raises the matching class."""
    with pytest.raises(error_class) as caught:
        await aclient.with_options(max_retries=0).messages.create(**with_fault(directive))
    error = caught.value
    assert isinstance(error, anthropic.APIStatusError)
    assert error.type == error_type and error.request_id and error.request_id.startswith("req_")


async def test_rate_limit_carries_retry_after(emu: Emulator, key: str) -> None:
    """A 429 carries retry-after (and retry-after-ms when asked for)."""
    async with httpx2.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "k"}) as raw:
        plain = await raw.post("/v1/messages", json=with_fault("emu:status=429"))
        ms = await raw.post("/v1/messages", json=with_fault("emu:status=429;retry_after_ms=250"))
    assert plain.status_code == 429 and plain.headers["retry-after"] == "1"
    assert ms.headers["retry-after-ms"] == "250" and ms.headers["retry-after"] == "1"


async def test_sdk_retries_until_times_is_exhausted_honouring_retry_after(
    aclient: anthropic.AsyncAnthropic, emu: Emulator, key: str
) -> None:
    """times=2 fails the first two attempts; the SDK's retries wait retry-after-ms and then succeed."""
    user_id = f"{key} emu:status=429;retry_after_ms=150;times=2;key={key}"
    message = await aclient.messages.create(**with_fault(user_id))
    assert message.content
    log = emu.stats.entries(user_id=user_id)
    assert [(e.status, e.retry_count, e.fault) for e in log] == [
        (429, 0, "status_429"),
        (429, 1, "status_429"),
        (200, 2, None),
    ]
    gaps = [b.monotonic - a.monotonic for a, b in itertools.pairwise(log)]
    assert all(0.14 <= gap < 1.0 for gap in gaps), gaps


async def test_retry_after_seconds_spaces_attempts_at_least_that_long(
    aclient: anthropic.AsyncAnthropic, emu: Emulator, key: str
) -> None:
    """retry_after=1 (seconds) makes the SDK's second attempt arrive ≥ ~1 s after the first."""
    user_id = f"{key} emu:status=529;retry_after=1;times=1;key={key}"
    await aclient.messages.create(**with_fault(user_id))
    first, second = emu.stats.entries(user_id=user_id)
    assert (first.status, second.status) == (529, 200)
    assert second.monotonic - first.monotonic >= 0.95
    assert emu.stats.faults["status_529"] >= 1


async def test_header_directive_overrides_metadata(aclient: anthropic.AsyncAnthropic) -> None:
    """The x-emulator-fault header injects faults without touching the body."""
    with pytest.raises(anthropic.InternalServerError):
        await aclient.with_options(max_retries=0).messages.create(
            **params(), extra_headers={"x-emulator-fault": "status=500"}
        )


async def test_sse_error_event_raises_api_status_error_with_status_200(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """emu:sse_error_after=N → event: error mid-stream → APIStatusError(status 200, overloaded_error)."""
    seen: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with aclient.messages.stream(**with_fault("emu:sse_error_after=4")) as stream:
            async for event in stream:
                seen.append(event.type)
    assert caught.value.status_code == 200 and caught.value.type == "overloaded_error"
    assert not isinstance(caught.value, anthropic.OverloadedError)
    assert seen[0] == "message_start" and "message_stop" not in seen


async def test_drop_aborts_the_chunked_body_with_remote_protocol_error(
    aclient: anthropic.AsyncAnthropic,
) -> None:
    """emu:drop_after=N aborts the body; iteration raises a raw httpx2.RemoteProtocolError."""
    events: list[str] = []
    with pytest.raises(httpx2.RemoteProtocolError):
        stream = await aclient.messages.create(**with_fault("emu:drop_after=5"), stream=True)
        async for event in stream:
            events.append(event.type)
    assert 0 < len(events) <= 4  # five frames, one of them a ping the SDK skips


async def test_truncate_ends_cleanly_without_message_stop(aclient: anthropic.AsyncAnthropic) -> None:
    """emu:truncate_after=N ends the body cleanly; only the missing message_stop reveals it."""
    stream = await aclient.messages.create(**with_fault("emu:truncate_after=6"), stream=True)
    events = [event async for event in stream]
    assert events and not any(isinstance(e, RawMessageStopEvent) for e in events)


async def test_directive_faults_are_counted_by_kind(aclient: anthropic.AsyncAnthropic, emu: Emulator) -> None:
    """stats.faults counts every injected fault by kind."""
    before = emu.stats.faults["truncate"]
    stream = await aclient.messages.create(**with_fault("emu:truncate_after=3"), stream=True)
    _ = [e async for e in stream]
    assert emu.stats.faults["truncate"] == before + 1


async def test_malformed_directive_is_a_bad_request(aclient: anthropic.AsyncAnthropic) -> None:
    """A typo in a directive is answered with 400, not silently ignored."""
    with pytest.raises(anthropic.BadRequestError, match="unknown key 'stauts'"):
        await aclient.messages.create(**with_fault("emu:stauts=529"))


async def test_ttft_directive_delays_the_first_content_delta(aclient: anthropic.AsyncAnthropic) -> None:
    """emu:ttft_ms=300 delays the first text delta by ≥ 0.3 s after the stream opens."""
    async with aclient.messages.stream(**with_fault("emu:ttft_ms=300")) as stream:
        opened = time.monotonic()
        async for event in stream:
            if event.type == "content_block_delta":
                break
        assert time.monotonic() - opened >= 0.28


async def test_rate_faults_follow_the_seed() -> None:
    """Rate-based faults are drawn from the seeded RNG: same seed, same fault sequence."""

    async def sequence() -> list[int]:
        config = EmulatorConfig(seed=11, faults=FaultRates(status_529=0.3, status_500=0.2))
        async with Emulator(config) as emu, httpx2.AsyncClient(base_url=emu.base_url) as raw:
            return [
                (await raw.post("/v1/messages", json=params(), headers={"x-api-key": "k"})).status_code
                for _ in range(20)
            ]

    first, second = await sequence(), await sequence()
    assert first == second and {529, 500, 200} <= set(first)


async def test_paced_stream_sends_pings_while_idle() -> None:
    """With pacing, pings go out during long waits (the raw body shows event: ping between deltas)."""
    config = EmulatorConfig(ttft_ms=250, ping_interval_ms=50, output_tokens=3, tokens_per_delta=1)
    async with (
        Emulator(config) as emu,
        httpx2.AsyncClient(base_url=emu.base_url, headers={"x-api-key": "k"}) as raw,
    ):
        response = await raw.post("/v1/messages", json=params(stream=True))
    body = response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    assert body.count("event: ping") >= 3 and body.endswith(
        'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
