"""``claude-kafka doctor``'s verdicts: facts gathered at the edge in, frozen ``Check`` results out. Pure.

Each function turns what one probe found into checks with a fix for every failure; ``render`` prints
them as the checklist. Nothing here touches Kafka, HTTP or the clock (see ``doctor.py`` for that).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import TYPE_CHECKING

from service.kafka.topics import TopicSpec, TopicState, differences

if TYPE_CHECKING:  # service.models imports the SDK, which every CLI command would then load
    from service.models import Lifecycle


class Status(StrEnum):
    PASS = "✓"
    FAIL = "✗"
    SKIP = "-"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist: what was checked, what was found, and how to fix a failure."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    @property
    def failed(self) -> bool:
        return self.status is not Status.PASS


def passed(name: str, detail: str) -> Check:
    return Check(name, Status.PASS, detail)


def failed(name: str, detail: str, fix: str) -> Check:
    return Check(name, Status.FAIL, detail, fix)


def skipped(name: str, why: str) -> Check:
    return Check(name, Status.SKIP, f"not checked: {why}")


def broker(bootstrap: str, error: str | None, brokers: int = 0) -> Check:
    if error is None:
        return passed("broker", f"{bootstrap} answered ({brokers} broker{'s' if brokers != 1 else ''})")
    return failed(
        "broker",
        f"cannot reach {bootstrap}: {error}",
        "start a broker (`claude-kafka dev`), or set KAFKA_BOOTSTRAP_SERVERS / pass -b HOST:PORT",
    )


def topics(specs: Sequence[TopicSpec], states: Mapping[str, TopicState], bootstrap: str) -> list[Check]:
    """One check per service topic: present, and the batches topic (the one with configs) as asked.

    A partition count other than TOPIC_PARTITIONS is shown, not failed: it bounds how many replicas
    get work, nothing breaks. The batches topic must be compacted with exactly one partition (its one
    reader in the leadership group follows every batch).
    """
    create = f"claude-kafka topics create -b {bootstrap}"
    out = []
    for spec in specs:
        name = f"topic {spec.name}"
        state = states.get(spec.name)
        if state is None:
            out.append(failed(name, "missing", create))
            continue
        partitions = f"{state.partitions} partition{'s' if state.partitions != 1 else ''}"
        if spec.topic_configs:
            found = differences(spec, state)
            if found:
                fix = f"delete {spec.name} (no open batches) and run `{create}`"
                out.append(failed(name, f"has {', '.join(found)}", fix))
                continue
            configs = ", ".join(f"{key}={value}" for key, value in sorted(spec.topic_configs.items()))
            out.append(passed(name, f"{partitions}, {configs}"))
        elif state.partitions != spec.num_partitions:
            out.append(passed(name, f"{partitions} (TOPIC_PARTITIONS is {spec.num_partitions})"))
        else:
            out.append(passed(name, partitions))
    return out


def group(group_id: str, state: str | None, members: int, lag: Mapping[int, int] | None) -> Check:
    """The consumer group of ``claude-kafka run``: a member is consuming, and how far behind it is.

    ``lag`` maps each prompt partition to end offset minus committed offset (``None``: not read).
    """
    name = f"group {group_id}"
    behind = sum(lag.values()) if lag else 0
    lag_text = f"lag {behind}" if lag is not None else "lag unknown"
    if state in (None, "", "Dead"):
        return failed(name, "no consumer has joined it yet", "start the service: `claude-kafka run`")
    if state == "Empty":
        return failed(name, f"no member is consuming, {lag_text}", "start the service: `claude-kafka run`")
    if state != "Stable":
        return failed(name, f"{state} (rebalancing), {lag_text}", "wait a few seconds and run doctor again")
    return passed(name, f"Stable, {members} member{'s' if members != 1 else ''}, {lag_text}")


def api_key(base_url: str, error: str | None, fix: str | None = None) -> Check:
    if error is None:
        return passed("API key", f"accepted by {base_url} (models.list)")
    return failed("API key", error, fix or "set ANTHROPIC_API_KEY")


def models(chosen: Iterable[tuple[str, str]], stage: Mapping[str, Lifecycle | None],
           retires: Mapping[str, date | None], suggestion: str) -> list[Check]:  # fmt: skip
    """Each ``(role, model id)`` is current: an id of the installed SDK, neither deprecated nor retired.

    ``stage`` and ``retires`` come from ``service.models`` (the SDK's ``Model`` ids and
    ``DEPRECATED_MODELS`` dates, plus the dated retired table); ``suggestion`` is the default model.
    """
    fix = f"choose a current model id, e.g. {suggestion}"
    out = []
    for role, model in chosen:
        name = f"{role} model {model}"
        when = retires.get(model)
        match stage.get(model):
            case "active":
                out.append(passed(name, "current"))
            case "deprecated":
                out.append(failed(name, f"deprecated, retires {when.isoformat() if when else 'soon'}", fix))
            case "retired":
                out.append(failed(name, f"retired{f' on {when.isoformat()}' if when else ''}", fix))
            case _:
                out.append(failed(name, "not a model id of the installed SDK", fix))
    return out


def metrics_port(host: str, port: int, in_use: bool, serving: str | None) -> Check:
    """The port ``claude-kafka run`` would bind. In use by a claude-kafka that answers is fine."""
    name = "metrics port"
    if port == 0:
        return passed(name, "off (METRICS_PORT=0)")
    if not in_use:
        return passed(name, f"{host}:{port} free")
    if serving is not None:
        return passed(name, f"{port} serves a running claude-kafka (/readyz: {serving})")
    return failed(
        name, f"{host}:{port} is in use by another program", "set METRICS_PORT to a free port (or 0)"
    )


def render(checks: Sequence[Check]) -> list[str]:
    """The checklist: one line per check, the fix indented under each failure, a summary last."""
    width = max((len(check.name) for check in checks), default=0)
    lines = []
    for check in checks:
        lines.append(f"{check.status.value} {check.name.ljust(width)}  {check.detail}")
        if check.fix and check.status is Status.FAIL:
            lines.append(f"  {' ' * width}  fix: {check.fix}")
    bad = sum(1 for check in checks if check.status is Status.FAIL)
    lines.append("all checks passed" if not bad else f"{bad} of {len(checks)} checks failed")
    return lines
