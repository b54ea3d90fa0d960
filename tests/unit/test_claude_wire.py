"""What the adapters put on the wire, seen by a request-capturing HTTP server (not the emulator)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from schemas import SourceRecord
from service.batch.api import BatchApi
from service.batch.assembly import Assembler
from service.batch.records import Entry
from service.errors import ClaudeFatal, ClaudeRetryable
from service.pipeline.claude import Claude
from service.settings import AnthropicSettings

MODEL = "claude-sonnet-5-5"
BETAS = ["files-api-2025-04-14", "context-management-2025-06-27"]
SSE = "".join(
    f"event: {name}\ndata: {json.dumps(data)}\n\n"
    for name, data in [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": MODEL, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "text_delta", "text": "hi"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                           "usage": {"output_tokens": 2}}),
        ("message_stop", {"type": "message_stop"}),
    ]
)  # fmt: skip
BATCH = {
    "id": "msgbatch_1", "type": "message_batch", "processing_status": "in_progress",
    "request_counts": {"processing": 1, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
    "ended_at": None, "created_at": "2026-12-01T00:00:00Z", "expires_at": "2026-12-02T00:00:00Z",
    "archived_at": None, "cancel_initiated_at": None, "results_url": None,
}  # fmt: skip


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class CaptureServer:
    """Records every request; answers a minimal valid SSE stream, a batch, or the queued error."""

    requests: list[Captured] = field(default_factory=list)
    errors: list[tuple[int, dict[str, Any], dict[str, str]]] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(
            Captured(request.method, request.path, {k.lower(): v for k, v in request.headers.items()}, body)
        )
        if self.errors:
            status, envelope, headers = self.errors[0]
            return web.json_response(envelope, status=status, headers=headers)
        if request.path == "/v1/messages/batches":
            return web.json_response(BATCH)
        return web.Response(text=SSE, content_type="text/event-stream")


@pytest.fixture
async def capture() -> AsyncIterator[CaptureServer]:
    server = CaptureServer()
    app = web.Application()
    app.router.add_post("/v1/messages", server.handle)
    app.router.add_post("/v1/messages/batches", server.handle)
    async with TestServer(app) as test_server:
        server.url = str(test_server.make_url(""))
        yield server


def settings(url: str, max_retries: int = 2, transport: str = "aiohttp") -> AnthropicSettings:
    return AnthropicSettings(
        _env_file=None,  # type: ignore[call-arg]
        api_key=SecretStr("sk-test"),
        base_url=url,
        max_retries=max_retries,
        http_transport=transport,  # type: ignore[arg-type]
    )


def params(**extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}], **extra}


async def run_stream(
    url: str, p: dict[str, Any], max_retries: int = 2, transport: str = "aiohttp"
) -> list[str]:
    claude = Claude(settings(url, max_retries, transport))
    try:
        return [event["type"] async for _, event in claude.stream(p)]
    finally:
        await claude.close()


async def test_stream_sends_betas_workspace_and_profile_as_headers_never_body_keys(
    capture: CaptureServer,
) -> None:
    """betas -> anthropic-beta (comma-joined), workspace_id/user_profile_id -> their headers; none in the body."""
    extra = {"betas": BETAS, "workspace_id": "wrkspc_1", "user_profile_id": "uprof_1", "tools": []}
    types = await run_stream(capture.url, params(**extra))
    assert types[-1] == "message_stop"
    (sent,) = capture.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["anthropic-beta"] == ",".join(BETAS)
    assert sent.headers["anthropic-workspace-id"] == "wrkspc_1"
    assert sent.headers["anthropic-user-profile-id"] == "uprof_1"
    assert not {"betas", "workspace_id", "user_profile_id"} & sent.body.keys()
    assert sent.body["stream"] is True and sent.body["tools"] == []


async def test_stream_without_header_params_sends_no_such_headers_and_always_streams(
    capture: CaptureServer,
) -> None:
    """Plain params send no anthropic-beta/workspace headers; a stray stream: false cannot turn streaming off."""
    await run_stream(capture.url, params(stream=False))
    (sent,) = capture.requests
    assert "anthropic-beta" not in sent.headers and "anthropic-workspace-id" not in sent.headers
    assert sent.body["stream"] is True


def batch_entry(custom_id: str, **extra: Any) -> Entry:
    return Entry(
        custom_id=custom_id,
        generation=1,
        attempt=1,
        source=SourceRecord(topic="p", partition=0, offset=0),
        timestamp_ms=0,
        params=json.dumps(params(**extra)),
    )


async def test_batch_create_sends_the_batchs_betas_as_headers_and_no_body_keys(
    capture: CaptureServer,
) -> None:
    """A batch create carries its requests' betas/workspace as headers; no request's params hold them."""
    api = BatchApi(settings(capture.url))
    extra = {"betas": BETAS, "workspace_id": "wrkspc_1"}
    try:
        status = await api.create([batch_entry("a", **extra), batch_entry("b", **extra)])
    finally:
        await api.close()
    assert status.id == "msgbatch_1"
    (sent,) = capture.requests
    assert sent.path == "/v1/messages/batches"
    assert sent.headers["anthropic-beta"] == ",".join(BETAS)
    assert sent.headers["anthropic-workspace-id"] == "wrkspc_1"
    assert [r["custom_id"] for r in sent.body["requests"]] == ["a", "b"]
    for request in sent.body["requests"]:
        assert not {"betas", "workspace_id", "user_profile_id"} & request["params"].keys()


def test_prompts_with_different_betas_go_to_different_batches() -> None:
    """The assembler fills a batch with the first waiting request's header params; others wait their turn."""
    assembler = Assembler(max_requests=10, max_bytes=1_000_000, max_wait=0.0)
    for custom_id, extra in [
        ("a", {"betas": ["x"]}),
        ("b", {}),
        ("c", {"betas": ["x"]}),
        ("d", {"betas": ["y"]}),
    ]:
        assembler.add(batch_entry(custom_id, **extra), now=0.0)
    batches = [[w.entry.custom_id for w in assembler.take(1.0)] for _ in range(4)]
    assert batches == [["a", "c"], ["b"], ["d"], []]


SPEND_LIMIT = {
    "type": "error",
    "error": {
        "type": "rate_limit_error",
        "message": "You have reached your monthly usage limit.",
        "details": {"error_code": "enforced_spend_limit_reached"},
    },
    "request_id": "req_1",
}


async def test_a_spend_limit_429_is_sent_once_and_becomes_final_with_its_code(capture: CaptureServer) -> None:
    """429 enforced_spend_limit_reached (no x-should-retry header): the SDK does not retry; ClaudeFatal, code set."""
    capture.errors.append((429, SPEND_LIMIT, {}))
    with pytest.raises(ClaudeFatal) as caught:
        await run_stream(capture.url, params(), max_retries=2)
    assert len(capture.requests) == 1
    assert (caught.value.status, caught.value.type) == (429, "rate_limit_error")
    assert caught.value.code == "enforced_spend_limit_reached"


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_ramp_limit_429_is_still_retried_by_the_sdk(capture: CaptureServer, transport: str) -> None:
    """429 ramp_limit_exceeded (SDK 2.15: retry after retry-after): the SDK retries; ClaudeRetryable, code set."""
    envelope = json.loads(json.dumps(SPEND_LIMIT))
    envelope["error"]["details"]["error_code"] = "ramp_limit_exceeded"
    capture.errors.append((429, envelope, {"retry-after-ms": "1"}))
    with pytest.raises(ClaudeRetryable) as caught:
        await run_stream(capture.url, params(), max_retries=2, transport=transport)
    assert len(capture.requests) == 3
    assert caught.value.code == "ramp_limit_exceeded"
    assert caught.value.retry_after == 0.001


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_either_transport_streams_every_event_and_observes_the_response(
    capture: CaptureServer, transport: str
) -> None:
    """Both SDK transports yield the whole stream, and the response hook sees its status and headers."""
    seen: list[int] = []
    claude = Claude(settings(capture.url, transport=transport), observe=lambda s, _r, _h: seen.append(s))
    try:
        types = [event["type"] async for _, event in claude.stream(params())]
    finally:
        await claude.close()
    assert types[0] == "message_start" and types[-1] == "message_stop"
    assert seen == [200]


@pytest.mark.parametrize(
    ("in_flight", "pool"),
    [
        (1, 1000),  # never below the SDK's own default
        (256, 1000),
        (5000, 5000),  # aiohttp's connector would cap it at 100, the SDK's limits at 1,000
    ],
)
async def test_the_connection_pool_has_room_for_every_stream_in_flight(
    capture: CaptureServer, in_flight: int, pool: int
) -> None:
    """The aiohttp connector is sized from MAX_IN_FLIGHT, so no stream waits for a pooled connection."""
    claude = Claude(settings(capture.url), connections=in_flight)
    try:
        [_ async for _ in claude.stream(params())]
        transport = claude._client._client._transport  # type: ignore[attr-defined]
        assert transport.client.connector.limit == pool
    finally:
        await claude.close()


async def test_organization_on_hold_is_final_with_its_code(capture: CaptureServer) -> None:
    """400 organization_on_hold: one request, ClaudeFatal carrying the API's code, on the batch path too."""
    on_hold = {"type": "error", "error": {"type": "invalid_request_error", "message": "on hold",
                                          "details": {"error_code": "organization_on_hold"}}}  # fmt: skip
    capture.errors.append((400, on_hold, {}))
    with pytest.raises(ClaudeFatal) as streamed:
        await run_stream(capture.url, params())
    api = BatchApi(settings(capture.url))
    try:
        with pytest.raises(ClaudeFatal) as batched:
            await api.create([batch_entry("a")])
    finally:
        await api.close()
    assert streamed.value.code == batched.value.code == "organization_on_hold"
    assert len(capture.requests) == 2
