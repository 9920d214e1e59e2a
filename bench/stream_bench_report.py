"""The stream throughput bench's report: per-round figures, the JSON summary and the printed table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from stream_bench_parts import Span, Spread, StoreCheck, Windows

GOAL_RATIO = 0.5
"""The issue's goal: the pipeline keeps at least half of the Faust floor's speed."""
GOAL_RATE = 500.0
GOAL_P50_MS, GOAL_P99_MS = 30.0, 100.0
"""The issue's latency goal, publish -> applied by the editor, at GOAL_RATE events/s."""
STAGES = ("read", "produced", "applied")


@dataclass(frozen=True)
class PipelineRound:
    span: Span
    ingress_eps: float
    """Measured events over first read -> last measured batch sent: the ingress alone."""
    backlog_at_end: int
    """Windows sent and not yet applied when the last measured one was applied."""
    backlog_at_ingress_end: int
    editor_tail_ms: float
    """How long after the ingress's last measured batch the editor applied its last window."""
    windows: int
    setup_overlap_ms: float
    """How long the ingress still read Set-up records (on another partition) after the clock started:
    work the pipeline does inside its timed span that is not counted. Partitions differ in size, so
    some overlap is normal; every contender has it, but the Set-up slice costs the pipeline the most."""
    store: StoreCheck


def stages(windows: Windows) -> dict[str, dict[str, float]]:
    """p50 / p99 of publish -> each stage, in ms."""
    at_stage = {"read": windows.read, "produced": windows.produced, "applied": windows.applied}
    return {
        name: dict(zip(("p50", "p99"), np.percentile(at - windows.published, [50, 99]).tolist(), strict=True))
        for name, at in at_stage.items()
    }


def summary(
    eps: dict[str, list[float]],
    load1: dict[str, list[float]],
    pipelines: list[PipelineRound],
    latency: dict[float, dict[str, Any]],
    rss: dict[str, Any],
) -> dict[str, Any]:
    """The JSON report: medians across rounds (sums for lost and duplicated, the max backlog), then detail."""
    ratios = [p / f for p, f in zip(eps["pipeline"], eps["faust_floor"], strict=True)]
    at_goal = latency.get(GOAL_RATE, {}).get("applied", {})
    return {
        **{f"{name}_eps": Spread.of(values).median for name, values in eps.items()},
        "p50_ms_500": at_goal.get("p50"),
        "p99_ms_500": at_goal.get("p99"),
        "editor_backlog_at_end": max(p.backlog_at_end for p in pipelines),
        "lost": sum(p.store.lost for p in pipelines),
        "duplicated": sum(p.store.duplicated for p in pipelines),
        "raw_duplicates": sum(p.store.raw_duplicates for p in pipelines),
        "pipeline_over_floor": Spread.of(ratios).median,
        "pipeline_over_bare": Spread.of([p / b for p, b in zip(eps["pipeline"], eps["bare"], strict=True)]).median,
        "spread": {name: asdict(Spread.of(values)) for name, values in eps.items()}
        | {"pipeline_over_floor": asdict(Spread.of(ratios))},
        "per_round_eps": eps,
        "load1_before": load1,
        "pipeline_rounds": [round_json(p) for p in pipelines],
        "latency_ms": {f"{rate:g}": figures for rate, figures in latency.items()},
        "rss_mb": rss,
    }


def round_json(p: PipelineRound) -> dict[str, Any]:
    fields: dict[str, Any] = asdict(p)
    fields["span"] |= {"eps": p.span.eps}
    return fields


def print_table(report: dict[str, Any]) -> None:
    events, run, rounds = report["events"], report["run"], report["pipeline_rounds"]
    print(f"\nml-latest-small: {events['measured']:,} measured events ({run['copies']} copies of the ", end="")
    print(f"{events['later']:,} after Set-up); {run['rounds']} interleaved round(s), a fresh consumer group each")
    _row("figure", "median", "spread (min–max)", "load1 before each")
    labels = {
        "bare": "bare aiokafka consume",
        "decode": "consume + decode_interaction",
        "faust_floor": "Faust floor (one do-nothing agent)",
        "pipeline": "pipeline (raie worker, up to the editor)",
    }
    for name, label in labels.items():
        loads = ", ".join(f"{x:.2f}" for x in report["load1_before"][name])
        _row(label, *_spread(report["spread"][name], ",.0f", " ev/s"), loads)
    ratio = report["spread"]["pipeline_over_floor"]
    verdict = "met" if ratio["median"] >= GOAL_RATIO else "NOT met"
    _row("pipeline / Faust floor", *_spread(ratio, ".3f", "x"), f"goal ≥ {GOAL_RATIO}x: {verdict}")
    _row("pipeline / bare", f"{report['pipeline_over_bare']:.3f}x")
    ingress = asdict(Spread.of([r["ingress_eps"] for r in rounds]))
    _row("  ingress alone (first read -> last sent)", *_spread(ingress, ",.0f", " ev/s"))
    tail = asdict(Spread.of([r["editor_tail_ms"] for r in rounds]))
    _row("  editor done, after the ingress's last send", *_spread(tail, ",.0f", " ms"))
    _row("  editor backlog at the last apply (max)", f"{report['editor_backlog_at_end']:,} windows")
    _row("  editor backlog at the last send (max)", f"{max(r['backlog_at_ingress_end'] for r in rounds):,} windows")
    overlap = asdict(Spread.of([r["setup_overlap_ms"] for r in rounds]))
    _row(
        "  Set-up records still read after the start", *_spread(overlap, ",.0f", " ms"), "untimed work inside the span"
    )
    check = f"{report['lost']} / {report['duplicated']} / {report['raw_duplicates']}"
    _row("lost / duplicated / raw duplicates", check, "", "all rounds; must be 0 / 0 / -")
    for rate, figures in report["latency_ms"].items():
        for stage in STAGES:
            p50, p99 = figures[stage]["p50"], figures[stage]["p99"]
            goal = ""
            if float(rate) == GOAL_RATE and stage == "applied":
                met = p50 <= GOAL_P50_MS and p99 <= GOAL_P99_MS
                goal = f"goal p50 ≤ {GOAL_P50_MS:g} / p99 ≤ {GOAL_P99_MS:g}: {'met' if met else 'NOT met'}"
            _row(f"latency @{rate}/s publish -> {stage}", f"p50 {p50:,.0f} ms", f"p99 {p99:,.0f} ms", goal)
        _row(
            f"  open-loop sender late @{rate}/s",
            f"p99 {figures['send_late_p99_ms']:.1f} ms",
            "",
            f"load1 before {figures['load1']:.2f}",
        )
    rss = report["rss_mb"]
    for name in ("broker", "worker"):
        if rss.get(name):
            _row(f"RSS {name} (now / peak)", f"{rss[name][0]:,.0f} / {rss[name][1]:,.0f} MB")
    if rss.get("faust_floor_peak"):
        _row("RSS Faust floor (peak)", f"{rss['faust_floor_peak']:,.0f} MB")
    _row("raie publish, the preload (CLI wall clock)", f"{report['publish_cli_eps']:,.0f} ev/s")


def _row(label: str, value: str, spread: str = "", note: str = "") -> None:
    print(f"{label:<46} {value:>18} {spread:>28}   {note}".rstrip())


def _spread(figure: dict[str, float], spec: str, unit: str) -> tuple[str, str]:
    """(median, "low–high"), formatted."""
    return f"{figure['median']:{spec}}{unit}", f"{figure['low']:{spec}}–{figure['high']:{spec}}{unit}"
