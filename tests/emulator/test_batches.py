"""Message Batches end to end through the official SDK (sync and async) against the emulator."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx2
import pytest
import pytest_asyncio
from anthropic import Anthropic, AsyncAnthropic

from service.emulator import Clock, Emulator, EmulatorConfig, EmulatorThread
from tests.waiting import until, until_sync

MODEL = "claude-sonnet-5-5"
# 1e-5: processing (300 s emulated) takes ~3 ms, expiry (24 h) ~0.86 s of wall time.
FAST = 1e-5


class ManualClock(Clock):
    """Wall time that moves only when a test says so, for exact cancel and delete timing."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def request(custom_id: str, user_id: str | None = None, **params: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": f"Say hello to {custom_id}"}],
        **params,
    }
    if user_id is not None:
        body["metadata"] = {"user_id": user_id}
    return {"custom_id": custom_id, "params": body}


@pytest_asyncio.fixture(loop_scope="session")
async def fast() -> AsyncIterator[tuple[Emulator, AsyncAnthropic]]:
    async with Emulator(EmulatorConfig(batch_time_scale=FAST)) as emu:
        client = AsyncAnthropic(base_url=emu.base_url, api_key="test", max_retries=0)
        async with client:
            yield emu, client


@pytest_asyncio.fixture(loop_scope="session")
async def manual() -> AsyncIterator[tuple[Emulator, AsyncAnthropic, ManualClock]]:
    clock = ManualClock()
    async with Emulator(EmulatorConfig(batch_time_scale=1.0), clock=clock) as emu:
        client = AsyncAnthropic(base_url=emu.base_url, api_key="test", max_retries=0)
        async with client:
            yield emu, client, clock


@pytest.fixture(scope="module")
def threaded() -> Iterator[tuple[EmulatorThread, Anthropic]]:
    with EmulatorThread(EmulatorConfig(batch_time_scale=FAST)) as emu:
        client = Anthropic(base_url=emu.base_url, api_key="test", max_retries=0)
        with client:
            yield emu, client


async def wait_ended(client: AsyncAnthropic, batch_id: str) -> Any:
    """Poll retrieve until ended; a tiny interval, bounded so a stuck batch fails rather than hangs."""

    async def ended() -> Any:
        batch = await client.messages.batches.retrieve(batch_id)
        return batch if batch.processing_status == "ended" else None

    return await until(ended, 5.0, f"batch {batch_id} ended", every=0.005)


def sync_ended(client: Anthropic, batch_id: str) -> Any:
    """``wait_ended`` for the sync client."""

    def ended() -> Any:
        batch = client.messages.batches.retrieve(batch_id)
        return batch if batch.processing_status == "ended" else None

    return until_sync(ended, 5.0, f"batch {batch_id} ended", every=0.005)


async def test_async_batch_ends_with_all_four_result_types(fast):
    """create → poll → results carries succeeded, errored, canceled and expired lines, each parsed."""
    emu, client = fast
    created = await client.messages.batches.create(
        requests=[
            request("ok-1"),
            request("bad-1", "emu:batch=errored;error=api_error"),
            request("gone-1", "emu:batch=canceled"),
            request("late-1", "emu:batch=expired"),
            request("ok-2"),
        ]
    )
    assert re.fullmatch(r"msgbatch_01[A-Za-z0-9]{22}", created.id)
    assert created.processing_status == "in_progress"
    assert created.results_url is None
    assert created.request_counts.processing == 5
    assert (created.expires_at - created.created_at).total_seconds() == pytest.approx(86_400, abs=1e-3)

    ended = await wait_ended(client, created.id)
    assert ended.request_counts.model_dump() == {
        "processing": 0,
        "succeeded": 2,
        "errored": 1,
        "canceled": 1,
        "expired": 1,
    }
    assert ended.ended_at == ended.expires_at  # the expiring request held the batch open for 24 h
    assert ended.results_url == f"{emu.base_url}/v1/messages/batches/{created.id}/results"

    results = {r.custom_id: r.result async for r in await client.messages.batches.results(created.id)}
    assert {k: r.type for k, r in results.items()} == {
        "ok-1": "succeeded",
        "ok-2": "succeeded",
        "bad-1": "errored",
        "gone-1": "canceled",
        "late-1": "expired",
    }
    ok = results["ok-1"]
    assert isinstance(ok, anthropic.types.messages.MessageBatchSucceededResult)
    assert ok.message.usage.service_tier == "batch"
    assert ok.message.content[0].type == "text"
    bad = results["bad-1"]
    assert isinstance(bad, anthropic.types.messages.MessageBatchErroredResult)
    assert bad.error.error.type == "api_error"
    assert bad.error.request_id.startswith("req_")


def test_sync_client_creates_polls_and_reads_results(threaded):
    """The sync client sees the same lifecycle: in_progress, then ended with one line per request."""
    _, client = threaded
    ids = [f"s-{i}" for i in range(20)]
    batch = client.messages.batches.create(requests=[request(i) for i in ids])
    batch = sync_ended(client, batch.id)
    assert batch.request_counts.succeeded == 20
    lines = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in lines) == sorted(ids)
    assert all(r.result.type == "succeeded" for r in lines)


def test_results_are_deterministic_across_downloads(threaded):
    """Downloading the same results twice yields identical messages (seeded generation)."""
    _, client = threaded
    batch = client.messages.batches.create(requests=[request("d-1"), request("d-2", "emu:batch=errored")])
    sync_ended(client, batch.id)
    first = [r.model_dump() for r in client.messages.batches.results(batch.id)]
    second = [r.model_dump() for r in client.messages.batches.results(batch.id)]
    assert first == second


async def test_cancel_while_in_progress_cancels_unfinished_requests(manual):
    """Cancel → canceling with cancel_initiated_at; 30 s later it ends, unfinished requests canceled."""
    emu, client, clock = manual
    # Four requests, ~300 s of processing: they finish at ~75, 150, 225 and 300 s.
    batch = await client.messages.batches.create(requests=[request(f"c-{i}") for i in range(4)])
    clock.advance(160)
    canceling = await client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    assert (canceling.cancel_initiated_at - canceling.created_at).total_seconds() == pytest.approx(160)
    assert canceling.request_counts.processing == 4
    assert canceling.results_url is None

    clock.advance(29)
    assert (await client.messages.batches.retrieve(batch.id)).processing_status == "canceling"
    clock.advance(1)
    ended = await client.messages.batches.retrieve(batch.id)
    assert ended.processing_status == "ended"
    assert (ended.request_counts.succeeded, ended.request_counts.canceled) == (2, 2)
    results = {r.custom_id: r.result.type async for r in await client.messages.batches.results(batch.id)}
    assert results == {"c-0": "succeeded", "c-1": "succeeded", "c-2": "canceled", "c-3": "canceled"}
    assert emu.stats.batches["canceled"] == 1


async def test_delete_is_refused_until_the_batch_ended(manual):
    """DELETE while processing is a 400; after the end it returns message_batch_deleted, then 404."""
    _, client, clock = manual
    batch = await client.messages.batches.create(requests=[request("del-1")])
    with pytest.raises(anthropic.BadRequestError) as refused:
        await client.messages.batches.delete(batch.id)
    assert refused.value.type == "invalid_request_error"
    clock.advance(301)
    deleted = await client.messages.batches.delete(batch.id)
    assert (deleted.id, deleted.type) == (batch.id, "message_batch_deleted")
    with pytest.raises(anthropic.NotFoundError):
        await client.messages.batches.retrieve(batch.id)


async def test_results_before_the_end_are_refused(manual):
    """The SDK refuses client-side (no results_url); the results URL itself answers 400."""
    emu, client, _ = manual
    batch = await client.messages.batches.create(requests=[request("early-1")])
    with pytest.raises(anthropic.AnthropicError, match="No `results_url`"):
        await client.messages.batches.results(batch.id)
    async with httpx2.AsyncClient() as http:
        response = await http.get(
            f"{emu.base_url}/v1/messages/batches/{batch.id}/results", headers={"x-api-key": "test"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("call", ["retrieve", "cancel", "delete", "results"])
async def test_unknown_batch_ids_are_not_found(manual, call):
    """Every batch route answers 404 not_found_error for an id it does not know."""
    _, client, _ = manual
    with pytest.raises(anthropic.NotFoundError) as missing:
        await getattr(client.messages.batches, call)("msgbatch_01doesnotexist")
    assert missing.value.type == "not_found_error"


async def test_list_pages_newest_first_with_cursors(manual):
    """list() pages newest first; auto-paging walks every batch once; before_id pages back."""
    _, client, clock = manual
    made = []
    for i in range(5):
        made.append((await client.messages.batches.create(requests=[request(f"l-{i}")])).id)
        clock.advance(1)
    first = await client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2]
    assert first.has_more is True
    assert (first.first_id, first.last_id) == (made[4], made[3])
    walked = [b.id async for b in await client.messages.batches.list(limit=2)]
    assert walked == made[::-1]
    newer = await client.messages.batches.list(limit=2, before_id=made[1])
    assert [b.id for b in newer.data] == [made[3], made[2]]
    with pytest.raises(anthropic.BadRequestError, match="less than or equal to 1000"):
        await client.messages.batches.list(limit=1001)


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([request("x" * 65)], "requests.0.custom_id: String should have at most 64 characters"),
        ([request("a"), request("a")], "requests.1.custom_id: Duplicate custom_id 'a'"),
        ([request("a b")], "requests.0.custom_id: String should match pattern"),
        (
            [request("a", max_tokens=0)],
            "requests.0.params.max_tokens: Input should be greater than or equal to 1",
        ),
        ([request("a"), request("b", messages=[])], "requests.1.params.messages: at least one message"),
        (
            [request("a", "emu:batch=sometimes")],
            "requests.0.params.metadata.user_id: emulator batch directive",
        ),
        ([], "requests: List should have at least 1 item"),
    ],
)
async def test_invalid_batches_are_bad_requests(manual, requests, message):
    """Validation problems surface as BadRequestError with the API's location-prefixed message."""
    emu, client, _ = manual
    before = emu.stats.batches["created"]
    with pytest.raises(anthropic.BadRequestError) as refused:
        await client.messages.batches.create(requests=requests)
    assert refused.value.type == "invalid_request_error"
    assert message in str(refused.value.api_message)
    assert emu.stats.batches["created"] == before


async def test_caps_on_request_count_and_body_size():
    """Over batch_max_requests is a 400; over batch_max_bytes is a 413 request_too_large."""
    config = EmulatorConfig(batch_max_requests=2, batch_max_bytes=2_000)
    async with (
        Emulator(config) as emu,
        AsyncAnthropic(base_url=emu.base_url, api_key="t", max_retries=0) as c,
    ):
        with pytest.raises(anthropic.BadRequestError, match="at most 2 items"):
            await c.messages.batches.create(requests=[request(f"n-{i}") for i in range(3)])
        with pytest.raises(anthropic.RequestTooLargeError) as too_large:
            await c.messages.batches.create(requests=[request("big", system="x" * 3_000)])
        assert too_large.value.status_code == 413
        assert too_large.value.type == "request_too_large"
        assert emu.stats.batches["rejected"] == 2


async def test_unknown_model_becomes_an_errored_result(fast):
    """A model outside the allow-list is not a create error: that request ends errored (404 type)."""
    _, client = fast
    batch = await client.messages.batches.create(
        requests=[request("m-1", model="claude-nope"), request("m-2")]
    )
    await wait_ended(client, batch.id)
    results = {r.custom_id: r.result async for r in await client.messages.batches.results(batch.id)}
    assert results["m-1"].type == "errored"
    assert results["m-1"].error.error.type == "not_found_error"
    assert results["m-2"].type == "succeeded"


async def test_results_stream_as_jsonl_whatever_the_accept_header(fast):
    """The results body is chunked JSONL, one object per line and no blank line, for any Accept."""
    _, client = fast
    n = 1500  # well over one 64 KiB write
    batch = await client.messages.batches.create(requests=[request(f"r-{i}") for i in range(n)])
    ended = await wait_ended(client, batch.id)
    async with httpx2.AsyncClient() as http:
        for accept in ("application/binary", "application/json", "*/*"):
            response = await http.get(ended.results_url, headers={"x-api-key": "t", "accept": accept})
            assert response.status_code == 200
            assert response.headers.get("transfer-encoding") == "chunked"
            body = response.content
            assert body.endswith(b"\n") and b"\n\n" not in body
            assert len(body.split(b"\n")) == n + 1
            assert response.headers["request-id"].startswith("req_")


async def test_stats_count_submissions_and_downloads(fast):
    """ctx.stats.batches counts created batches, submitted requests, downloads and lines."""
    emu, client = fast
    before = emu.stats.batches
    batch = await client.messages.batches.create(requests=[request("st-1"), request("st-2")])
    await wait_ended(client, batch.id)
    [r async for r in await client.messages.batches.results(batch.id)]
    after = emu.stats.batches
    assert after["created"] - before["created"] == 1
    assert after["requests_submitted"] - before["requests_submitted"] == 2
    assert after["results_downloads"] - before["results_downloads"] == 1
    assert after["result_lines"] - before["result_lines"] == 2
    assert emu.stats.count("POST", "/v1/messages/batches", 200) >= 1


async def test_rates_fail_requests_deterministically():
    """batch_errored_rate=1 makes every request without a directive end errored (api_error)."""
    config = EmulatorConfig(batch_time_scale=FAST, batch_errored_rate=1.0)
    async with (
        Emulator(config) as emu,
        AsyncAnthropic(base_url=emu.base_url, api_key="t", max_retries=0) as c,
    ):
        batch = await c.messages.batches.create(
            requests=[request("e-1"), request("e-2", "emu:batch=succeeded")]
        )
        ended = await wait_ended(c, batch.id)
        assert (ended.request_counts.errored, ended.request_counts.succeeded) == (1, 1)
