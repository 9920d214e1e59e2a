"""The stream's throughput against its floors, its latency and its memory, on one local broker.

One broker, one preloaded topic, the same bytes for every contender; each
contender reads with a fresh consumer group, and the four run interleaved,
``--rounds`` times (median and min–max reported, with the 1-minute load
average before each measurement):

1. bare aiokafka consume of the measured records (no decode);
2. consume plus ``decode_interaction`` of each value;
3. the Faust floor: one do-nothing agent (bench/faust_floor_app.py) that only counts;
4. the pipeline: ``raie worker`` (ingress -> routed batches -> region editor), timed
   from the first measured window's read to the editor's apply of the last one
   (the worker's ``--trace``). Also: the editor's backlog at that moment, and the
   measured event ids lost from or duplicated in the store.

Then latency, on the last round's worker once its consumer lag and editor backlog
are zero: an open-loop producer at each ``--rates`` rate, ``--latency-events`` each,
every event completing a window; per window, publish -> read, -> produced, -> applied.
Last, the RSS of the broker and the worker.

The worker first closes slice 0 of ml-latest-small once (a one-epoch Set-up: the
figures need a frozen backbone to embed with, not a good one); every round then
copies that store and starts a worker with a fresh app id, which re-reads the
Set-up slice before the measured records (untimed). The measured records are
every later event of the timeline, published ``--copies`` times with fresh event
ids, all inside slice 1, so no training runs while timed.

    python bench/stream_throughput.py [--copies 4] [--rounds 3] [--json FILE]
    python bench/stream_throughput.py --quick     # a ~3-minute smoke test
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from kafka import KafkaConsumer, KafkaProducer
from stream_bench_parts import (
    FloorRun,
    Measured,
    Span,
    TraceTail,
    check_store,
    consume,
    consumer_lag,
    end_offsets,
    finish,
    open_loop_send,
    rss_mb,
    run_floor,
    wall_ms,
)
from stream_bench_report import PipelineRound, print_table, stages, summary

from raie.cli.common import resolve_config
from raie.config import ExperimentConfig, TrainConfig
from raie.config_files import save_config
from schemas import Interaction, Item, SliceMark
from streams.admin import ensure_topics
from streams.local_broker import REPO, LocalBroker
from streams.replay_timeline import replay_timeline
from streams.settings import WorkerSettings
from streams.topic_names import INTERACTIONS, ITEMS
from streams.worker_process import WorkerProcess, raie_command

SERVING_THREADS = max(1, (os.cpu_count() or 2) - 1)
"""The worker's torch threads: the cores minus one, so the forward pass leaves the event loop a
core (the worker's default, torch's, keeps scores equal to the offline runner's instead)."""
BROKER = LocalBroker(29092, 29093, REPO / "var" / "bench-kafka")
WORK = REPO / "var" / "bench-stream"
DATA = REPO / "data" / "ml-latest-small"
SETUP_APP_ID = "bench-setup"
SETUP_WITHIN_S = 900.0
CATCH_UP_WITHIN_S = 900.0
IDLE_WITHIN_S = 120.0
"""For the caught-up worker to commit its last offsets (every 2.8 s in Faust) and the editor to drain."""
RATE_WITHIN_S = 120.0
"""Beyond the sending time, for one rate's windows to be applied."""
DEFAULT_RATES = "100,500,2000"
QUICK = {"copies": 1, "rounds": 1, "latency_events": 500, "rates": "100,500"}
AGENT_CRASH = "Last crash reason"
"""Faust's supervisor logs this when it restarts a crashed agent: the worker lives on and does
nothing, so a wait would run to its timeout; the first traceback is what matters."""
CRASH_LINES = 40


@dataclasses.dataclass(frozen=True)
class Bench:
    """What every round needs."""

    bootstrap: str
    options: tuple[str, ...]
    """``raie worker`` options shared by every worker of the run."""
    measured: Measured
    expected_windows: int
    setup_store: Path
    batching: tuple[int, float]
    """The ingress's (batch, linger ms), which the Faust floor batches with too."""


def main() -> int:
    args = _arguments()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    config = _bench_config()
    config_path = save_config(config, WORK / "config.yaml")
    timeline = replay_timeline("movielens", DATA, config, config.protocol.cutoffs)
    first_cut_ms = timeline.boundaries[0] * 1000
    events = list(timeline.events())
    setup_events = [e for e in events if e.ts_ms < first_cut_ms]
    later = [e for e in events if e.ts_ms >= first_cut_ms]
    copies = [dataclasses.replace(e, event_id=f"{e.event_id}#{copy}") for copy in range(args.copies) for e in later]
    context_len = config.protocol.context_len
    options: tuple[str, ...] = ("--dataset", "movielens", "--config", str(config_path), "--trainer", "in-process")
    options += ("--torch-threads", str(SERVING_THREADS))
    options += tuple(args.worker_options.split())

    with BROKER.running_empty() as bootstrap:
        ensure_topics(bootstrap)
        try:
            _send_setup_slice(bootstrap, timeline.items, setup_events, first_cut_ms)
            setup_store = _setup(bootstrap, options)
            measured, publish_eps = _preload(bootstrap, copies)
            windows = _expected_windows(copies, context_len)
            bench = Bench(bootstrap, options, measured, windows, setup_store, _batching(options))
            probes = _probes(later, copies, context_len, args.latency_events, args.rates)
            report = _rounds(bench, args.rounds, probes)
        except (RuntimeError, TimeoutError) as error:  # WorkerProcess's waits: the message has the log's tail
            sys.exit(f"stream_throughput: {error}")
        broker_pid = BROKER.pid()
        report["rss_mb"]["broker"] = rss_mb(broker_pid) if broker_pid is not None else None
    report |= {"publish_cli_eps": publish_eps, "events": {"measured": len(copies), "later": len(later)}}
    report["run"] = {"copies": args.copies, "rounds": args.rounds, "rates": args.rates, "options": options}
    print_table(report)
    return finish(report, args.json)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="times the post-Set-up timeline is published")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the four contenders")
    parser.add_argument("--latency-events", type=int, default=3000, help="events sent at each latency rate")
    parser.add_argument("--rates", default=DEFAULT_RATES, help="latency rates, events/s, comma-separated")
    parser.add_argument("--worker-options", default="", help="more `raie worker` options, e.g. '--batch 512'")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke test: " + ", ".join(f"{k} {v}" for k, v in QUICK.items())
    )
    args = parser.parse_args()
    if args.quick:
        vars(args).update(QUICK)
    args.rates = tuple(float(r) for r in str(args.rates).split(","))
    return args


def _batching(worker_options: Sequence[str]) -> tuple[int, float]:
    """The ingress's batch size and linger: ``--batch`` / ``--linger-ms`` where given, else the worker's defaults."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--batch", type=int, default=WorkerSettings.ingress_batch)
    parser.add_argument("--linger-ms", type=float, default=WorkerSettings.ingress_linger_s * 1000)
    known, _ = parser.parse_known_args(list(worker_options))
    return known.batch, known.linger_ms


def _bench_config() -> ExperimentConfig:
    config = resolve_config("movielens", None, "sasrec")
    one_epoch = TrainConfig(epochs=1, batch_size=config.setup_train.batch_size, lr=config.setup_train.lr, patience=1)
    return dataclasses.replace(config, setup_train=one_epoch)


def _send_setup_slice(bootstrap: str, items: tuple[Item, ...], events: list[Interaction], end_ms: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    for item in items:
        producer.send(ITEMS, item.to_bytes(), key=item.key())
    for event in events:
        producer.send(INTERACTIONS, event.to_bytes(), key=event.key())
    producer.flush()
    mark = SliceMark(0, end_ms, "replay", None, int(time.time() * 1000)).to_bytes()
    for partition in sorted(producer.partitions_for(INTERACTIONS)):
        producer.send(INTERACTIONS, mark, partition=partition, headers=list(SliceMark.HEADERS))
    producer.flush()
    producer.close()


def _setup(bootstrap: str, options: tuple[str, ...]) -> Path:
    """Close slice 0 once; every round starts from a copy of this store."""
    store = WORK / "setup-store"
    worker = WorkerProcess(bootstrap, store, WORK, (*options, "--app-id", SETUP_APP_ID))
    try:
        worker.start()
        worker.wait_for(_watching(worker, lambda: worker.closed_slices() >= 1), SETUP_WITHIN_S, "slice 0 closed")
    finally:
        _stop(worker)
    return store


def _preload(bootstrap: str, events: list[Interaction]) -> tuple[Measured, float]:
    """Publish the measured records once, with ``raie publish``; where they lie; the CLI's rate."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        start = end_offsets(consumer, INTERACTIONS)
        from_ms = int(wall_ms())
        publish_eps = _publish(bootstrap, events)
        to_ms = int(wall_ms()) + 1
        added = sum(end_offsets(consumer, INTERACTIONS).values()) - sum(start.values())
    finally:
        consumer.close()
    if added != len(events):
        sys.exit(f"the preload added {added} records to {INTERACTIONS}, not {len(events)}")
    ids = frozenset(e.event_id for e in events)
    return Measured({tp.partition: o for tp, o in start.items()}, len(events), ids, from_ms, to_ms), publish_eps


def _publish(bootstrap: str, events: list[Interaction]) -> float:
    path = WORK / "events.jsonl"
    path.write_bytes(b"\n".join(e.to_bytes() for e in events) + b"\n")
    started = time.perf_counter()
    out = subprocess.run(
        raie_command("publish", "--bootstrap", bootstrap, str(path)), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    sent = re.search(r"sent (\d+), failed (\d+)", out.stdout)
    if out.returncode != 0 or sent is None or int(sent.group(1)) != len(events):
        sys.exit(f"raie publish did not send every event ({out.returncode}): {out.stdout}{out.stderr}")
    return len(events) / seconds


def _expected_windows(events: list[Interaction], context_len: int) -> int:
    """All inside slice 1, so each user's sequence only grows: every event after the first L is a target."""
    return sum(max(0, n - context_len) for n in Counter(e.user_id for e in events).values())


def _probes(
    later: list[Interaction], measured: list[Interaction], context_len: int, n: int, rates: Sequence[float]
) -> dict[float, list[Interaction]]:
    """Per rate, ``n`` fresh events of users already past their first L events in slice 1:
    each then completes a window, so every probe is one latency sample."""
    grown = Counter(e.user_id for e in measured)
    ready = [e for e in later if grown[e.user_id] >= context_len]
    return {
        rate: [
            dataclasses.replace(e, event_id=f"{e.event_id}#probe-{rate:g}-{i // len(ready)}")
            for i, e in ((i, ready[i % len(ready)]) for i in range(n))
        ]
        for rate in rates
    }


def _rounds(bench: Bench, rounds: int, probes: dict[float, list[Interaction]]) -> dict[str, Any]:
    """Bare, decode, floor, pipeline, ``rounds`` times; latency and RSS on the last pipeline worker."""
    eps: dict[str, list[float]] = {"bare": [], "decode": [], "faust_floor": [], "pipeline": []}
    load1: dict[str, list[float]] = {name: [] for name in eps}
    floors: list[FloorRun] = []
    pipelines: list[PipelineRound] = []
    latency: dict[float, dict[str, Any]] = {}
    rss: dict[str, Any] = {}
    for r in range(rounds):
        for name, decode in (("bare", False), ("decode", True)):
            load1[name].append(os.getloadavg()[0])
            eps[name].append(
                asyncio.run(consume(bench.bootstrap, f"bench-{name}-{r}", bench.measured, decode=decode)).eps
            )
        load1["faust_floor"].append(os.getloadavg()[0])
        floors.append(run_floor(bench.bootstrap, f"bench-floor-{r}", bench.measured, WORK, bench.batching))
        eps["faust_floor"].append(floors[-1].span.eps)
        load1["pipeline"].append(os.getloadavg()[0])
        with _pipeline_worker(bench, r) as (worker, trace, app_id):
            pipelines.append(_measure_pipeline(bench, worker, trace))
            eps["pipeline"].append(pipelines[-1].span.eps)
            print(f"round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in eps.items()), file=sys.stderr)
            if r == rounds - 1:
                latency = _measure_latency(bench, worker, trace, app_id, probes)
                rss = {"worker": rss_mb(worker.pid), "faust_floor_peak": max(f.rss_peak_mb for f in floors)}
    return summary(eps, load1, pipelines, latency, rss)


@contextmanager
def _pipeline_worker(bench: Bench, r: int) -> Iterator[tuple[WorkerProcess, TraceTail, str]]:
    """A worker with a fresh app id (a fresh group, empty internal topics) on a copy of the Set-up store."""
    round_dir = WORK / f"round-{r}"
    store = round_dir / "store"
    shutil.copytree(bench.setup_store, store)
    app_id, trace = f"bench-pipeline-{r}", round_dir / "trace.jsonl"
    worker = WorkerProcess(
        bench.bootstrap, store, round_dir, (*bench.options, "--app-id", app_id, "--trace", str(trace))
    )
    try:
        worker.start()
        yield worker, TraceTail(trace), app_id
    finally:
        _stop(worker)


def _measure_pipeline(bench: Bench, worker: WorkerProcess, trace: TraceTail) -> PipelineRound:
    m, expected = bench.measured, bench.expected_windows
    worker.wait_for(
        _watching(worker, lambda: trace.poll().applied_count(m.published_from_ms, m.published_to_ms) >= expected),
        CATCH_UP_WITHIN_S,
        f"{expected:,} measured windows applied by the editor",
    )
    windows = trace.windows(m.published_from_ms, m.published_to_ms)
    start = float(windows.read.min())  # within one ingress batch of the first measured record's read
    stop = float(np.sort(windows.applied)[expected - 1])
    ingress_end = float(windows.produced.max())
    setup = trace.windows(0, m.published_from_ms - 1)
    return PipelineRound(
        Span(m.count, start, stop),
        m.count / max((ingress_end - start) / 1000, 1e-9),
        trace.backlog(stop),
        trace.backlog(ingress_end),
        stop - ingress_end,
        len(windows),
        max(0.0, float(setup.read.max()) - start) if len(setup) else 0.0,
        check_store(worker.store, m.ids),
    )


def _measure_latency(
    bench: Bench, worker: WorkerProcess, trace: TraceTail, app_id: str, probes: dict[float, list[Interaction]]
) -> dict[float, dict[str, Any]]:
    """Open-loop sends at each rate, only from an idle pipeline: zero consumer lag, zero editor backlog."""
    worker.wait_for(
        _watching(worker, lambda: trace.poll().backlog() == 0 and consumer_lag(bench.bootstrap, app_id) == 0),
        IDLE_WITHIN_S,
        "zero consumer lag and zero editor backlog",
    )
    return {rate: _one_rate(bench, worker, trace, rate, events) for rate, events in probes.items()}


def _one_rate(
    bench: Bench, worker: WorkerProcess, trace: TraceTail, rate: float, events: list[Interaction]
) -> dict[str, Any]:
    load1 = os.getloadavg()[0]
    sent = open_loop_send(bench.bootstrap, events, rate)
    worker.wait_for(
        _watching(worker, lambda: trace.poll().applied_count(sent.from_ms, sent.to_ms) >= len(events)),
        len(events) / rate + RATE_WITHIN_S,
        f"the {len(events):,} windows sent at {rate:g}/s applied",
    )
    windows = trace.windows(sent.from_ms, sent.to_ms)
    return {"load1": load1, "windows": len(windows), "send_late_p99_ms": sent.late_p99_ms} | stages(windows)


def _watching(worker: WorkerProcess, done: Callable[[], bool]) -> Callable[[], bool]:
    """``done``, failing at once with the first traceback if an agent of the worker crashed."""

    def check() -> bool:
        log = worker.logs[-1].read_text(errors="replace")
        if AGENT_CRASH in log:
            lines = log.splitlines()
            first = next((i for i, line in enumerate(lines) if line.startswith("Traceback")), len(lines))
            excerpt = "\n".join(lines[first : first + CRASH_LINES])
            raise RuntimeError(f"an agent of the worker crashed; its first traceback, in {worker.logs[-1]}:\n{excerpt}")
        return done()

    return check


def _stop(worker: WorkerProcess) -> None:
    if worker.process is None:
        return
    try:
        worker.stop()
    except subprocess.TimeoutExpired:
        worker.kill()


if __name__ == "__main__":
    raise SystemExit(main())
