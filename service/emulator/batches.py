"""Message Batches routes: the HTTP edge over :mod:`batch_store` (state), :mod:`batch_requests`
(create-body validation) and :mod:`batch_results` (JSONL lines).

Routes::

    POST   /v1/messages/batches                      create
    GET    /v1/messages/batches                      list (newest first; limit, after_id, before_id)
    GET    /v1/messages/batches/{batch_id}           retrieve
    POST   /v1/messages/batches/{batch_id}/cancel    cancel (empty body)
    DELETE /v1/messages/batches/{batch_id}           delete (only once ended)
    GET    /v1/messages/batches/{batch_id}/results   JSONL results, streamed

Batch events are counted in ``ctx.stats.batches``: ``created``, ``requests_submitted``, ``rejected``
(create answered with an error), ``canceled`` (cancel calls answered), ``deleted``,
``results_downloads`` and ``result_lines``. Per-request fates: ``batch_plan.py``; timing:
``batch_store.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from aiohttp import web

from service.emulator.batch_requests import BatchLimits, parse_create_body
from service.emulator.batch_results import chunked, out_of_order, result_lines
from service.emulator.batch_store import BatchStore, BatchTiming, BatchView, PlannedRequest
from service.emulator.context import EmulatorContext
from service.emulator.errors import ApiError, invalid_request
from service.emulator.faults import directive_fault, parse_directive
from service.emulator.generate import generate_message
from service.emulator.validate import validate_message_params
from service.emulator.wire import json_response

BATCHES = "/v1/messages/batches"
BATCH = BATCHES + "/{batch_id}"
#: The store, for tests that want to inspect or fast-forward state.
BATCH_STORE: web.AppKey[BatchStore] = web.AppKey("batch_store", BatchStore)

_READ_CHUNK = 1024 * 1024


def add_batch_routes(app: web.Application, ctx: EmulatorContext) -> None:
    """Register the batch routes on ``app``; one :class:`BatchStore` per app."""
    store = BatchStore(
        BatchTiming(time_scale=ctx.config.batch_time_scale),
        clock=ctx.clock.time,
        new_id=lambda: ctx.new_id("msgbatch"),
    )
    app[BATCH_STORE] = store
    routes = _BatchRoutes(ctx, store)
    app.router.add_post(BATCHES, routes.create)
    app.router.add_get(BATCHES, routes.list)
    app.router.add_get(BATCH, routes.retrieve)
    app.router.add_delete(BATCH, routes.delete)
    app.router.add_post(BATCH + "/cancel", routes.cancel)
    app.router.add_get(BATCH + "/results", routes.results)


class _BatchRoutes:
    def __init__(self, ctx: EmulatorContext, store: BatchStore) -> None:
        self.ctx = ctx
        self.store = store
        config = ctx.config
        self.limits = BatchLimits(
            max_requests=config.batch_max_requests,
            seed=config.seed,
            errored_rate=config.batch_errored_rate,
            expired_rate=config.batch_expired_rate,
        )
        self._create_failures = list(config.batch_create_failures)

    async def create(self, request: web.Request) -> web.Response:
        stats = self.ctx.stats
        if self._create_failures:
            stats.count_batch("rejected")
            status = self._create_failures.pop(0)
            fault = directive_fault(
                parse_directive(f"status={status}"),
                stream=False,
                default_retry_after_s=self.ctx.config.rate_limit_retry_after_s,
            )
            assert fault.error is not None
            raise fault.error
        try:
            raw = await _read_capped(request, self.ctx.config.batch_max_bytes)
            # Parsing and validating 100,000 requests takes a while; keep the loop serving meanwhile.
            planned = await asyncio.to_thread(self._parse, raw)
        except ApiError:
            stats.count_batch("rejected")
            raise
        view = self.store.create(planned)
        stats.count_batch("created")
        stats.count_batch("requests_submitted", len(planned))
        return self._respond(request, view)

    def _parse(self, raw: bytearray) -> list[PlannedRequest]:
        config = self.ctx.config
        return parse_create_body(raw, self.limits, lambda p: validate_message_params(p, config, batch=True))

    async def list(self, request: web.Request) -> web.Response:
        query = request.query
        after_id, before_id = query.get("after_id"), query.get("before_id")
        if after_id and before_id:
            raise invalid_request("after_id and before_id cannot both be set")
        page = self.store.list(limit=_limit(query.get("limit")), after_id=after_id, before_id=before_id)
        return json_response(
            {
                "data": [self._api(request, view) for view in page.data],
                "has_more": page.has_more,
                "first_id": page.first_id,
                "last_id": page.last_id,
            }
        )

    async def retrieve(self, request: web.Request) -> web.Response:
        return self._respond(request, self.store.get(request.match_info["batch_id"]))

    async def cancel(self, request: web.Request) -> web.Response:
        # The SDK sends no body; whatever arrives is ignored.
        view = self.store.cancel(request.match_info["batch_id"])
        self.ctx.stats.count_batch("canceled")
        return self._respond(request, view)

    async def delete(self, request: web.Request) -> web.Response:
        batch_id = self.store.delete(request.match_info["batch_id"])
        self.ctx.stats.count_batch("deleted")
        return json_response({"id": batch_id, "type": "message_batch_deleted"})

    async def results(self, request: web.Request) -> web.StreamResponse:
        batch_id = request.match_info["batch_id"]
        entries = self.store.results(batch_id)  # raises before any byte is sent
        config = self.ctx.config

        def generate(params: dict[str, Any], *, seed: int, request_key: str | None = None) -> dict[str, Any]:
            return generate_message(
                params,
                seed=seed,
                request_key=request_key,
                output_tokens=config.output_tokens,
                tokens_per_delta=config.tokens_per_delta,
            )

        shuffled = out_of_order(entries, batch_id=batch_id)
        chunks = chunked(result_lines(shuffled, batch_id=batch_id, seed=config.seed, generate=generate))
        response = web.StreamResponse(headers={"content-type": "application/binary"})
        await response.prepare(request)
        self.ctx.stats.count_batch("results_downloads")
        lines = 0
        while (chunk := await asyncio.to_thread(_next_chunk, chunks)) is not None:
            lines += chunk.count(b"\n")
            # write() waits for the transport to drain, so a slow reader holds back generation.
            await response.write(chunk)
        await response.write_eof()
        self.ctx.stats.count_batch("result_lines", lines)
        return response

    def _respond(self, request: web.Request, view: BatchView) -> web.Response:
        return json_response(self._api(request, view))

    def _api(self, request: web.Request, view: BatchView) -> dict[str, object]:
        base = self.ctx.public_base_url(request)
        return view.to_api(f"{base}{BATCHES}/{view.id}/results")


def _next_chunk(chunks: Iterator[bytes]) -> bytes | None:
    # A sentinel, not StopIteration: StopIteration cannot cross a thread-pool future.
    return next(chunks, None)


async def _read_capped(request: web.Request, cap: int) -> bytearray:
    """The body, read incrementally so a body over ``cap`` is refused without buffering all of it."""
    too_large = ApiError("request_too_large", f"Request exceeds the maximum allowed number of bytes ({cap}).")
    if request.content_length is not None and request.content_length > cap:
        raise too_large
    body = bytearray()
    async for chunk in request.content.iter_chunked(_READ_CHUNK):
        body += chunk
        if len(body) > cap:
            raise too_large
    return body


def _limit(raw: str | None) -> int:
    if raw is None:
        return 20
    try:
        limit = int(raw)
    except ValueError:
        raise invalid_request(
            "limit: Input should be a valid integer, unable to parse string as an integer"
        ) from None
    if limit < 1:
        raise invalid_request("limit: Input should be greater than or equal to 1")
    if limit > 1000:
        raise invalid_request("limit: Input should be less than or equal to 1000")
    return limit
