"""``bench/results/summary.md`` (the README includes it) and ``summary.png`` from the JSON results."""

from __future__ import annotations

import json
from typing import Any

from bench.harness import RESULTS


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _ok(met: bool) -> str:
    return "met" if met else "**missed**"


def markdown() -> str:
    tp, lat, mem, rq = (_load(n) for n in ("throughput", "latency", "memory", "rq_compare"))
    lines = ["| Measure | Result | Goal |", "|---|---|---|"]
    if tp:
        s, c = tp["service"], tp["ceilings"]
        lower = tp["lower_ceiling"]
        combined = 1 / (1 / c["producer"]["prompts_per_s"] + 1 / c["sdk_raw"]["prompts_per_s"])
        lines += [
            f"| Service throughput, zero pacing (1 process) | {s['prompts_per_s']:.0f} prompts/s, "
            f"{s['delta_events_per_s']:,.0f} delta events/s | |",
            f"| Service CPU per 1,000 delta events | {s['cpu_s_per_1000_deltas']:.3f} s | |",
            "| Ceiling (a) raw aiokafka producer, same records | "
            f"{c['producer']['prompts_per_s']:.0f} prompts/s "
            f"({c['producer']['cpu_s_per_1000_deltas']:.3f} CPU s / 1k) | |",
            "| Ceiling (b) SDK raw events + json.loads (the service's path) | "
            f"{c['sdk_raw']['prompts_per_s']:.0f} "
            f"prompts/s ({c['sdk_raw']['cpu_s_per_1000_deltas']:.3f} CPU s / 1k) | |",
            f"| SDK typed `create(stream=True)` iteration | {c['sdk_typed']['prompts_per_s']:.0f} prompts/s "
            f"({c['sdk_typed']['cpu_s_per_1000_deltas']:.3f} CPU s / 1k) | |",
            f"| SDK `messages.stream()` helper | {c['sdk_helper']['prompts_per_s']:.0f} prompts/s "
            f"({c['sdk_helper']['cpu_s_per_1000_deltas']:.3f} CPU s / 1k) | |",
            f"| Ceiling (c) emulator serving rate | {c['emulator']['sse_events_per_s']:,.0f} SSE events/s "
            f"({tp['emulator_headroom']:.0f}x the service's rate) | |",
            f"| Service / lower ceiling ({lower}) | {tp['fraction_of_lower_ceiling']:.0%} | >= 60%: "
            f"{_ok(tp['fraction_of_lower_ceiling'] >= 0.6)} |",
            f"| Service / combined ceiling 1/(1/a + 1/b) = {combined:.0f} prompts/s (both jobs on one core; "
            f"the meaningful one) | {s['prompts_per_s'] / combined:.0%} | |",
        ]
    if lat:
        cfg = lat["config"]
        for v in lat["variants"]:
            a = v["added_latency_ms"]
            goal = f"p99 <= 20 ms: {_ok(a['p99'] <= 20)}" if v["coalesce_ms"] == 0 else ""
            lines.append(
                f"| Added latency, {cfg['streams']} streams, coalescing {v['coalesce_ms']} ms "
                f"(emit -> consumer) | p50 {a['p50']:.1f} / p99 {a['p99']:.1f} / max {a['max']:.1f} ms "
                f"(service part p50 {v['service_part_ms']['p50']:.1f}, "
                f"p99 {v['service_part_ms']['p99']:.1f}; Kafka part p50 {v['kafka_part_ms']['p50']:.1f}, "
                f"p99 {v['kafka_part_ms']['p99']:.1f}; service CPU "
                f"{v['service_cpu_utilisation']:.0%} of a core) | {goal} |"
            )
    if mem:
        for row in mem["levels"]:
            lines.append(
                f"| RSS with {row['streams']:,} streams in flight | {row['rss_mb']:.0f} MB "
                f"({row['bytes_per_stream'] / 1024:.1f} KB/stream over idle; "
                f"{row['cpu_s_per_1000_deltas']:.3f} CPU s / 1k deltas) | <= 30 KB: "
                f"{_ok(row['bytes_per_stream'] <= 30 * 1024)} |"
            )
        lines.append(
            f"| Marginal RSS per stream (first to last level) | "
            f"{mem['marginal_bytes_per_stream'] / 1024:.1f} KB | |"
        )
    if rq and "skipped" not in rq:
        r, s = rq["rq"], rq["service"]
        lines.append(
            f"| RQ pool ({r['workers']} workers), prompts/s per process | "
            f"{r['prompts_per_s_per_process']:.2f} | |"
        )
        if "ratio_per_process" in rq:
            lines.append(
                f"| Service prompts/s per process at the same pacing / RQ's | "
                f"{rq['service_prompts_per_s_per_process']:.0f} / {r['prompts_per_s_per_process']:.2f} = "
                f"{rq['ratio_per_process']:.0f}x | >= 20x: {_ok(rq['ratio_per_process'] >= 20)} |"
            )
        lines += [
            "| Time to first output, RQ (enqueue -> callback) | "
            f"p50 {r['time_to_first_output_ms']['p50']:.0f} ms, "
            f"max {r['time_to_first_output_ms']['max']:.0f} ms | |",
            f"| Time to first output, service (produce -> first delta read) | p50 "
            f"{s['time_to_first_output_ms']['p50']:.0f} ms, max {s['time_to_first_output_ms']['max']:.0f} ms "
            f"(TTFT 400 ms + {rq['ttfo_over_emulator_ttft_ms']:.0f} ms) | <= TTFT + 50 ms: "
            f"{_ok(rq['ttfo_over_emulator_ttft_ms'] <= 50)} |",
        ]
    elif rq:
        lines.append(f"| RQ comparison | skipped: {rq['skipped']} | |")
    ratios = _load("ratios")
    if ratios:
        lines += table_rows(ratios)
    if lat and "curves" in lat:
        lines += ["", *curve_table(lat)]
    return "\n".join(lines) + "\n"


def table_rows(ratios: dict[str, Any]) -> list[str]:
    from bench.ratios import table

    return table(ratios)


def curve_table(lat: dict[str, Any]) -> list[str]:
    """Added latency per level of concurrency: where it is flat, and where the CPU runs out."""
    cfg = lat["config"]
    lines = [
        f"Added latency by streams in flight (TTFT {cfg['ttft_ms']} ms, {cfg['tokens_per_second']} tokens/s, "
        f"{cfg['output_tokens']} tokens; ms, emit -> consumer; CPU in cores of {cfg.get('cores', 2)}):",
        "",
        "| Coalescing | Streams | Deltas/s | p50 | p99 | max | Service part p50 / p99 | "
        "Kafka part p50 / p99 | Service CPU | Broker CPU | Box busy |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for curve in lat["curves"]:
        for p in curve["points"]:
            a, sp, kp = p["added_latency_ms"], p["service_part_ms"], p["kafka_part_ms"]
            lines.append(
                f"| {curve['coalesce_ms']} ms | {p['streams']} | {p['delta_events'] / p['elapsed_s']:,.0f} | "
                f"{a['p50']:.1f} | {a['p99']:.1f} | {a['max']:.1f} | {sp['p50']:.1f} / {sp['p99']:.1f} | "
                f"{kp['p50']:.1f} / {kp['p99']:.1f} | {p['service_cpu_utilisation']:.2f} | "
                f"{p['cpu_utilisation_by_process'].get('broker', 0):.2f} | {p['box_busy_cores']:.2f} |"
            )
    return lines


def chart() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tp, lat, mem = (_load(n) for n in ("throughput", "latency", "memory"))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    if tp:
        c = tp["ceilings"]
        names = ["service", "producer\n(a)", "SDK raw\n(b)", "SDK typed", "SDK helper"]
        values = [
            tp["service"]["prompts_per_s"],
            c["producer"]["prompts_per_s"],
            c["sdk_raw"]["prompts_per_s"],
            c["sdk_typed"]["prompts_per_s"],
            c["sdk_helper"]["prompts_per_s"],
        ]
        axes[0].bar(names, values, color=["tab:blue", "tab:gray", "tab:gray", "tab:olive", "tab:olive"])
        axes[0].set_title("Zero pacing: prompts/s, one process")
    if lat and "curves" in lat:
        for curve, color in zip(lat["curves"], ("tab:blue", "tab:green"), strict=False):
            points = curve["points"]
            streams = [p["streams"] for p in points]
            for pct, style in (("p50", ":"), ("p99", "-")):
                axes[1].plot(
                    streams,
                    [p["added_latency_ms"][pct] for p in points],
                    style,
                    marker="o",
                    color=color,
                    label=f"{pct}, coalescing {curve['coalesce_ms']} ms",
                )
        axes[1].axhline(20, color="red", linestyle="--", label="p99 goal")
        axes[1].set_xscale("log")
        axes[1].set_yscale("log")
        axes[1].set_xlabel("streams in flight")
        axes[1].set_title("Added latency (ms) vs streams in flight")
        cpu = axes[1].twinx()
        first = lat["curves"][0]["points"]
        cpu.plot(
            [p["streams"] for p in first],
            [p["service_cpu_utilisation"] for p in first],
            marker="s",
            color="tab:orange",
            label="service CPU (cores)",
        )
        cpu.set_ylabel("service CPU (cores), coalescing 0 ms")
        cpu.set_ylim(0, 1.2)
        axes[1].legend(fontsize=7, loc="upper left")
    if mem:
        streams = [r["streams"] for r in mem["levels"]]
        axes[2].plot(streams, [r["rss_mb"] for r in mem["levels"]], marker="o", label="RSS MB")
        axes[2].set_xlabel("streams in flight")
        axes[2].set_title("Service RSS (MB) vs streams in flight")
        twin = axes[2].twinx()
        twin.plot(
            streams,
            [1000 * (r["cpu_s_per_1000_deltas"] or 0) for r in mem["levels"]],
            marker="s",
            color="tab:orange",
            label="CPU us/delta",
        )
        twin.set_ylabel("CPU us per delta")
    fig.tight_layout()
    fig.savefig(RESULTS / "summary.png", dpi=100)


def write() -> None:
    (RESULTS / "summary.md").write_text(markdown())
    chart()
