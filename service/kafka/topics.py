"""The service's topics: what they should be (``topic_specs``), what the cluster has, how they differ.

``claude-kafka topics create`` creates the missing ones and reports existing ones that differ from the
request; ``claude-kafka doctor`` reports the same differences.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from service.kafka.config import common_kwargs
from service.settings import Settings

TOPIC_ALREADY_EXISTS = 36
TopicSpec = NewTopic  # what ``topic_specs`` returns, named for the modules that do not import aiokafka


def topic_specs(settings: Settings, partitions: int | None = None) -> list[NewTopic]:
    topics = settings.topics
    count = partitions or topics.partitions
    replication = topics.replication_factor
    specs = [NewTopic(name, count, replication) for name in (topics.prompts, *topics.outputs())]
    specs += [NewTopic(name, count, replication) for name in (topics.tool_calls, topics.tool_results)]
    # A tool loop's run record: only the latest per custom_id matters, and a tombstone ends it.
    specs.append(NewTopic(topics.runs, count, replication, topic_configs={"cleanup.policy": "compact"}))
    specs.append(NewTopic(topics.sessions, count, replication, topic_configs={"cleanup.policy": "compact"}))
    # The batch hand-off keeps only the latest record per key; tombstones remove finished batches. All
    # records go to one partition, whose owner in the leadership group follows the batches.
    specs.append(NewTopic(topics.batches, 1, replication, topic_configs={"cleanup.policy": "compact"}))
    return specs


@dataclass(frozen=True, slots=True)
class TopicState:
    """What the cluster reports about one topic: its partition count and the configs asked about."""

    name: str
    partitions: int
    configs: Mapping[str, str] = field(default_factory=dict)


def differences(spec: NewTopic, state: TopicState) -> list[str]:
    """How an existing topic differs from ``spec``, as phrases: ``3 partitions (asked 12)``. Pure.

    Fewer partitions than asked matter (less parallelism; the batches topic needs exactly one); a
    config the cluster does not report is its default, which is never what a spec asks for.
    """
    found = []
    if state.partitions != spec.num_partitions:
        found.append(f"{state.partitions} partitions (asked {spec.num_partitions})")
    for key, wanted in sorted((spec.topic_configs or {}).items()):
        actual = state.configs.get(key)
        if actual != wanted:
            found.append(f"{key}={actual if actual is not None else 'default'} (asked {wanted})")
    return found


def describe_outcome(spec: NewTopic, state: TopicState | None, created: bool) -> str:
    """The line ``topics create`` prints for one topic. Pure."""
    if created:
        return "created"
    if state is None:
        return "exists"
    found = differences(spec, state)
    return f"exists with {', '.join(found)}" if found else "exists"


async def cluster_topics(admin: AIOKafkaAdminClient, specs: Iterable[NewTopic]) -> dict[str, TopicState]:
    """The state of each spec'd topic that exists; missing ones are absent.

    Metadata is asked for *all* topics: a request naming a missing topic makes some brokers (Tansu,
    Kafka with auto-create on) create it with default settings, which would hide exactly what we check.
    """
    specs = list(specs)
    wanted = {spec.name: spec for spec in specs}
    partitions = {
        topic["topic"]: len(topic["partitions"])
        for topic in await admin.describe_topics(None)
        if topic["topic"] in wanted and topic["error_code"] == 0
    }
    configs: dict[str, dict[str, str]] = {name: {} for name in partitions}
    # Every config is asked for (``configs=None``): the embedded broker drops the connection on a
    # DescribeConfigs that names keys.
    asked = [
        ConfigResource(ConfigResourceType.TOPIC, name) for name in partitions if wanted[name].topic_configs
    ]
    if asked:
        for response in await admin.describe_configs(asked):
            for _code, _message, _type, name, entries, *_ in response.resources:
                for entry in entries:
                    configs.setdefault(name, {})[entry[0]] = entry[1]
    return {name: TopicState(name, count, configs.get(name, {})) for name, count in partitions.items()}


def admin_client(settings: Settings, request_timeout_ms: int = 10_000) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**common_kwargs(settings.kafka), request_timeout_ms=request_timeout_ms)


async def create_topics(settings: Settings, partitions: int | None = None) -> dict[str, str]:
    """Create every configured topic; ``{topic: "created" | "exists" | "exists with ..."}``.

    An existing topic whose partitions or configs differ from the request says how (it is left as it
    is: partitions can only grow, and that is an operator's decision). Other errors raise.
    """
    specs = topic_specs(settings, partitions)
    admin = admin_client(settings)
    await admin.start()
    try:
        response = await admin.create_topics(specs)
        created: set[str] = set()
        existing: set[str] = set()
        for topic, code, message in response.topic_errors:
            if code == 0:
                created.add(topic)
            elif code == TOPIC_ALREADY_EXISTS:
                existing.add(topic)
            else:
                raise RuntimeError(f"could not create topic {topic}: error {code} {message}")
        states = await cluster_topics(admin, [s for s in specs if s.name in existing]) if existing else {}
    finally:
        await admin.close()
    return {
        spec.name: describe_outcome(spec, states.get(spec.name), spec.name in created)
        for spec in specs
        if spec.name in created | existing
    }
