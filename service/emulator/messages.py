"""``POST /v1/messages`` (JSON or SSE) and ``POST /v1/messages/count_tokens``."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from service.emulator.context import EmulatorContext
from service.emulator.errors import ApiError
from service.emulator.faults import (
    HEADER,
    NO_FAULT,
    Fault,
    FaultBook,
    directive_behaviour,
    directive_fault,
    find_directive,
    parse_directive,
    rate_fault,
)
from service.emulator.features import NORMAL
from service.emulator.generate import MessagePlan, plan_message
from service.emulator.sse import odd_shape, stream_frames
from service.emulator.stream import Pacing, write_stream
from service.emulator.tokens import count_input_tokens
from service.emulator.validate import validate_message_params
from service.emulator.wire import FAULT, RATE_HEADERS, STREAM, USER_ID, json_response, read_json_body

MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"


def add_message_routes(app: web.Application, ctx: EmulatorContext) -> None:
    routes = _MessageRoutes(ctx)
    app.router.add_post(MESSAGES, routes.create)
    app.router.add_post(COUNT_TOKENS, routes.count_tokens)


class _MessageRoutes:
    def __init__(self, ctx: EmulatorContext) -> None:
        self.ctx = ctx
        self.book = FaultBook()

    async def create(self, request: web.Request) -> web.StreamResponse:
        config = self.ctx.config
        params = await read_json_body(request, config.max_body_bytes)
        user_id = _user_id(params)
        if user_id is not None:
            request[USER_ID] = user_id
        problem = validate_message_params(params, config)
        if problem is not None:
            raise problem
        stream = params.get("stream") is True
        request[STREAM] = stream

        fault = self._fault(request.headers.get(HEADER), user_id, stream)
        if fault.any:
            assert fault.kind is not None
            request[FAULT] = fault.kind
            self.ctx.stats.count_fault(fault.kind)
        if fault.error is not None:
            raise fault.error
        if self.ctx.org_limits.active:
            try:
                request[RATE_HEADERS] = self.ctx.org_limits.take(
                    count_input_tokens(params), self.ctx.clock.time()
                )
            except ApiError as refused:
                request[RATE_HEADERS] = refused.headers
                raise

        text = find_directive(request.headers.get(HEADER), user_id)
        plan = plan_message(
            params,
            seed=config.seed,
            output_tokens=config.output_tokens,
            tokens_per_delta=config.tokens_per_delta,
            message_id=self.ctx.new_id("msg"),
            behaviour=directive_behaviour(parse_directive(text)) if text is not None else NORMAL,
            cache=self.ctx.cache.use(params, self.ctx.clock.monotonic()),
            now=self.ctx.clock.time(),
        )
        pacing = self._pacing(fault)
        if stream:
            frames = stream_frames(plan)
            if fault.shape is not None:
                frames = odd_shape(frames, fault.shape, plan)
            return await write_stream(request, frames, pacing, fault, self.ctx.clock)
        # A non-streaming answer takes as long as the stream would have, as with the real API.
        await self.ctx.clock.sleep(_generation_time(plan, pacing))
        return json_response(plan.to_message())

    async def count_tokens(self, request: web.Request) -> web.Response:
        params = await read_json_body(request, self.ctx.config.max_body_bytes)
        problem = validate_message_params(params, self.ctx.config, count_tokens=True)
        if problem is not None:
            raise problem
        return json_response({"input_tokens": count_input_tokens(params)})

    def _fault(self, header: str | None, user_id: str | None, stream: bool) -> Fault:
        config = self.ctx.config
        text = find_directive(header, user_id)
        if text is not None:
            directive = parse_directive(text)
            if self.book.take(directive):
                return directive_fault(
                    directive, stream=stream, default_retry_after_s=config.rate_limit_retry_after_s
                )
        if config.faults.any():
            return rate_fault(
                config.faults,
                self.ctx.rng,
                stream=stream,
                retry_after_s=config.rate_limit_retry_after_s,
                slow_ms=config.slow_first_token_ms,
            )
        return NO_FAULT

    def _pacing(self, fault: Fault) -> Pacing:
        config = self.ctx.config
        ttft_ms = fault.ttft_ms if fault.ttft_ms is not None else config.ttft_ms
        return Pacing(
            ttft=ttft_ms / 1000,
            per_token=1 / config.tokens_per_second if config.tokens_per_second > 0 else 0.0,
            per_delta=fault.slow_ms / 1000 if fault.slow_ms is not None else None,
            ping_interval=config.ping_interval_ms / 1000,
        )


def _user_id(params: Any) -> str | None:
    if isinstance(params, dict):
        metadata = params.get("metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
            return str(metadata["user_id"])
    return None


def _generation_time(plan: MessagePlan, pacing: Pacing) -> float:
    if not pacing.paced:
        return 0.0
    pieces = [t for block in plan.blocks for t in block.piece_tokens]
    if pacing.per_delta is not None:
        return pacing.ttft + pacing.per_delta * max(0, len(pieces) - 1)
    return pacing.ttft + pacing.per_token * sum(pieces[1:])
