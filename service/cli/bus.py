"""The CLI's Kafka edge: send prompts, follow the output topics. Adapters only; no rendering here."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError

from schemas import CompletionEvent, DeltaEvent, ErrorEvent, PromptEvent
from service.cli.common import CliFailure
from service.kafka.clients import (
    AIOKafkaClient,
    ClientError,
    ConsumerRecord,
    TopicPartition,
    cli_producer,
    quiet_client_logs,
    reader,
)
from service.settings import Settings

Kind = Literal["delta", "completion", "error"]
Event = DeltaEvent | CompletionEvent | ErrorEvent
# A record this much older than the follower's start is not "after the end" (see _after_start).
STALE_MS = 5_000
_MODELS: dict[Kind, type[Event]] = {"delta": DeltaEvent, "completion": CompletionEvent, "error": ErrorEvent}


def unreachable(settings: Settings, exc: Exception) -> CliFailure:
    return CliFailure(
        f"cannot reach Kafka at {settings.kafka.bootstrap_servers} ({type(exc).__name__})",
        hint="is a broker running? `claude-kafka dev` starts one; pass its address with -b HOST:PORT",
    )


async def start_or_unreachable(client: AIOKafkaClient, settings: Settings) -> None:
    """Start a consumer or producer; a broker that does not answer is one line with a hint."""
    try:
        await client.start()
    except ClientError as exc:  # KafkaConnectionError is one
        await client.stop()
        raise unreachable(settings, exc) from exc


@dataclass(frozen=True, slots=True)
class OutputRecord:
    topic: str
    kind: Kind
    partition: int
    offset: int
    value: bytes

    def decode(self) -> Event:
        """The typed event; raises ``ValueError`` (pydantic's ``ValidationError``) on a foreign value."""
        return _MODELS[self.kind].model_validate_json(self.value)

    def json_line(self) -> str:
        """The raw event with ``topic`` and ``kind`` in front, one line, for ``jq``."""
        head: dict[str, Any] = {"topic": self.topic, "kind": self.kind}
        try:
            body = json.loads(self.value)
        except ValueError:
            return json.dumps({**head, "raw": self.value.decode("utf-8", "replace")})
        return json.dumps({**head, **body} if isinstance(body, dict) else {**head, "value": body})


class OutputFollower:
    """Reads the delta, completion and error topics without a consumer group.

    ``start()`` returns only once every partition's position is resolved, so an event produced after
    it returns is never missed (``send --wait`` starts following before it sends).
    """

    def __init__(self, settings: Settings, *, from_beginning: bool = False) -> None:
        self._settings = settings
        topics = settings.topics
        self._kinds: dict[str, Kind] = {
            topics.deltas: "delta",
            topics.completions: "completion",
            topics.errors: "error",
        }
        self._from_beginning = from_beginning
        self._started_ms = 0
        self._settled: set[TopicPartition] = set()
        quiet_client_logs()
        self._consumer = reader(settings.kafka, auto_offset_reset="earliest" if from_beginning else "latest")

    async def start(self) -> None:
        self._started_ms = int(time.time() * 1000)
        await start_or_unreachable(self._consumer, self._settings)
        try:
            existing = await self._consumer.topics()
            missing = [topic for topic in self._kinds if topic not in existing]
            if missing:
                raise CliFailure(
                    f"topic {missing[0]} does not exist on {self._settings.kafka.bootstrap_servers}",
                    hint="create the topics with `claude-kafka topics create -b HOST:PORT`",
                )
            partitions = [
                TopicPartition(topic, partition)
                for topic in self._kinds
                for partition in sorted(self._consumer.partitions_for_topic(topic) or ())
            ]
            self._consumer.assign(partitions)
            if self._from_beginning:
                await self._consumer.seek_to_beginning(*partitions)
            else:
                await self._consumer.seek_to_end(*partitions)
            for tp in partitions:
                await self._consumer.position(tp)
        except BaseException:
            await self._consumer.stop()
            raise

    async def poll(self, timeout_ms: int = 200) -> list[OutputRecord]:
        batches = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=2000)
        records = [
            OutputRecord(m.topic, self._kinds[m.topic], m.partition, m.offset, m.value or b"")
            for tp, messages in batches.items()
            for m in self._after_start(tp, messages)
        ]
        # Within one fetch, deltas first: a completion read in the same poll then finds its text shown.
        records.sort(key=lambda r: r.kind != "delta")
        return records

    def _after_start(self, tp: TopicPartition, messages: list[ConsumerRecord[Any, Any]]) -> list[Any]:
        """Drop, from a partition's first fetch, records older than ``start()`` by over STALE_MS.

        The embedded broker (Tansu) answers "latest offset" with the start of the partition's last
        record batch, so a follower positioned "at the end" first reads that whole batch again: old
        events that ``tail`` would show and ``send --wait`` would count. Only the first fetch can hold
        them; the allowance keeps a producer whose clock runs a little behind ours from being dropped.
        """
        if self._from_beginning or tp in self._settled:
            return messages
        self._settled.add(tp)
        return [m for m in messages if m.timestamp >= self._started_ms - STALE_MS]

    async def reachable(self, within: float = 5.0) -> bool:
        """True when the broker answers a metadata request within ``within`` s.

        The consumer's fetcher retries a lost broker silently; this is how ``tail`` notices."""
        from service.kafka.probe import metadata_answer

        # The service's own probe (kafka/inputs.py) reaches the client the same way.
        return await metadata_answer(self._consumer._client, within) is None

    async def stop(self) -> None:
        await self._consumer.stop()


def decode_or_none(record: OutputRecord) -> Event | None:
    try:
        return record.decode()
    except ValidationError:
        return None


def encode_prompt(prompt: PromptEvent) -> bytes:
    """The record value ``send_prompts`` publishes: what the service's MAX_PROMPT_BYTES measures."""
    return prompt.model_dump_json(exclude_none=True).encode()


def oversize(prompt: PromptEvent, limit: int) -> str | None:
    """Why the service would dead-letter this prompt as ``prompt_too_large``, or ``None``."""
    size = len(encode_prompt(prompt))
    if size <= limit:
        return None
    return f"prompt is {size:,} bytes; the service refuses records over {limit:,} bytes (MAX_PROMPT_BYTES)"


async def send_prompts(settings: Settings, prompts: Iterable[PromptEvent]) -> list[tuple[int, int]]:
    """Publish prompts (key = custom_id, or the session id: a session's prompts stay in order) and
    wait for the broker's acks; ``[(partition, offset)]``."""
    producer = cli_producer(settings.kafka)
    await start_or_unreachable(producer, settings)
    try:
        futures = [
            await producer.send(
                settings.topics.prompts,
                encode_prompt(prompt),
                key=(prompt.session.id if prompt.session else prompt.custom_id).encode(),
            )
            for prompt in prompts
        ]
        sent = [await future for future in futures]
    finally:
        await producer.stop()
    return [(meta.partition, meta.offset) for meta in sent]
