"""The stream's figures on one local broker, in one run.

1. ``raie publish`` events/s: the CLI on a JSON-lines file (wall clock, start-up included).
2. Bare aiokafka consume events/s: the same records, read back without decoding.
3. Pipeline events/s: ``raie worker`` consuming the same records from a preloaded
   topic: validate -> dedupe -> window -> embed (SASRec, batched, off the loop)
   -> route -> routed-windows -> region editor; the store sink runs beside it.
   Timed from the first window's ingestion to the last routed window's send.
4. Latency p50 / p99 from event to routed window, at a steady publish rate below
   capacity: the routed window's record timestamp minus its event's.
5. RSS of the broker and of the worker (now and peak).

The worker first closes slice 0 of ml-latest-small (a one-epoch Set-up: the
figures need a frozen backbone to embed with, not a good one), then every
later event of the timeline is published ``--copies`` times with fresh event
ids, all inside slice 1, so no training runs while it is timed.

    python bench/stream_throughput.py [--copies 4] [--latency-events 3000] [--latency-rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from aiokafka import AIOKafkaConsumer
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from raie.cli.common import resolve_config
from raie.config import ExperimentConfig, TrainConfig
from raie.config_files import save_config
from schemas import Interaction, Item, RoutedWindow, SliceMark
from streams.admin import ensure_topics
from streams.local_broker import REPO, LocalBroker
from streams.replay_timeline import replay_timeline
from streams.topic_names import INTERACTIONS, ITEMS, ROUTED_WINDOWS
from streams.worker_process import WorkerProcess, raie_command

BROKER = LocalBroker(29092, 29093, REPO / "var" / "bench-kafka")
WORK = REPO / "var" / "bench-stream"
DATA = REPO / "data" / "ml-latest-small"
SETUP_WITHIN_S = 900.0
CATCH_UP_WITHIN_S = 900.0
BARE_RUNS = 3
"""Best of three: a bare read of a few MB is short enough for noise to matter."""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="times the post-Set-up timeline is published")
    parser.add_argument("--latency-events", type=int, default=3000)
    parser.add_argument("--latency-rate", type=float, default=500.0, help="events/s during the latency run")
    parser.add_argument("--worker-options", default="", help="more `raie worker` options, e.g. '--batch 1024'")
    args = parser.parse_args()
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    config = _bench_config()
    config_path = save_config(config, WORK / "config.yaml")
    timeline = replay_timeline("movielens", DATA, config, config.protocol.cutoffs)
    first_cut_ms = timeline.boundaries[0] * 1000
    events = list(timeline.events())
    setup_events = [e for e in events if e.ts_ms < first_cut_ms]
    later = [e for e in events if e.ts_ms >= first_cut_ms]

    with BROKER.running_empty() as bootstrap:
        ensure_topics(bootstrap)
        options = ("--dataset", "movielens", "--config", str(config_path), *args.worker_options.split())
        worker = WorkerProcess(bootstrap, WORK / "store", WORK, options)
        _send_setup_slice(bootstrap, timeline.items, setup_events, first_cut_ms)
        worker.start()
        worker.wait_for_slices(1, SETUP_WITHIN_S)
        worker.stop()

        measured = [
            dataclasses.replace(e, event_id=f"{e.event_id}#{copy}") for copy in range(args.copies) for e in later
        ]
        start = _end_offsets(bootstrap, INTERACTIONS)
        publish_rate = _publish(bootstrap, measured)
        bare_rate = max(asyncio.run(_bare_consume(bootstrap, start, len(measured))) for _ in range(BARE_RUNS))

        windows_start = _end_offsets(bootstrap, ROUTED_WINDOWS)
        expected = _expected_windows(measured, config.protocol.context_len)
        worker.start()
        pipeline = _collect_windows(bootstrap, windows_start, expected)
        first_in = min(w.ingested_at_ms for w, _ in pipeline)
        last_out = max(ts for _, ts in pipeline)
        pipeline_rate = len(measured) / ((last_out - first_in) / 1000)
        embedded = sum(w.embedding is not None for w, _ in pipeline) / len(pipeline)

        # Only users already past their first L events in slice 1: each probe event then completes a window.
        grown = Counter(e.user_id for e in measured)
        ready = [e for e in later if grown[e.user_id] >= config.protocol.context_len]
        probe = [dataclasses.replace(e, event_id=f"{e.event_id}#probe") for e in ready[: args.latency_events]]
        windows_start = _end_offsets(bootstrap, ROUTED_WINDOWS)
        events_start = _end_offsets(bootstrap, INTERACTIONS)
        _paced_send(bootstrap, probe, args.latency_rate)
        routed = _collect_windows(bootstrap, windows_start, len(probe))
        sent_at = _record_timestamps(bootstrap, events_start, len(probe))
        latencies = np.array([ts - sent_at[(w.partition, w.offset)] for w, ts in routed], dtype=np.float64)
        # Where the time goes: waiting to be read (fetch, queues, batching) vs embedding, routing, delivery.
        to_ingress = np.array([w.ingested_at_ms - sent_at[(w.partition, w.offset)] for w, _ in routed], dtype=float)
        to_routed = np.array([ts - w.ingested_at_ms for w, ts in routed], dtype=np.float64)

        worker_rss = _rss_mb(worker.pid)
        broker_pid = BROKER.pid()
        broker_rss = _rss_mb(broker_pid) if broker_pid is not None else (float("nan"), float("nan"))
        worker.stop()

    print(f"ml-latest-small: {len(measured):,} events after Set-up ({args.copies} copies), one run")
    print(f"{'figure':<46} {'value':>24}")
    print(f"{'raie publish (CLI wall clock)':<46} {publish_rate:>15,.0f} events/s")
    print(f"{'bare aiokafka consume (best of 3)':<46} {bare_rate:>15,.0f} events/s")
    ratio = f"{pipeline_rate:,.0f} events/s ({pipeline_rate / bare_rate:.3f}x)"
    print(f"{'pipeline validate->window->embed->route->edit':<46} {ratio:>24}")
    print(f"{'  windows embedded and routed in the stream':<46} {embedded:>23.1%}")
    p50, p99 = np.percentile(latencies, [50, 99])
    print(f"{f'latency event->routed window @{args.latency_rate:g}/s':<46} {f'p50 {p50:.0f} / p99 {p99:.0f} ms':>24}")
    for label, part in (("  of which: event -> read by the ingress", to_ingress), ("  read -> routed", to_routed)):
        q50, q99 = np.percentile(part, [50, 99])
        print(f"{label:<46} {f'p50 {q50:.0f} / p99 {q99:.0f} ms':>24}")
    print(f"{'RSS broker (now / peak)':<46} {f'{broker_rss[0]:.0f} / {broker_rss[1]:.0f} MB':>24}")
    print(f"{'RSS worker (now / peak)':<46} {f'{worker_rss[0]:.0f} / {worker_rss[1]:.0f} MB':>24}")
    return 0


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


def _publish(bootstrap: str, events: list[Interaction]) -> float:
    path = WORK / "events.jsonl"
    path.write_bytes(b"\n".join(e.to_bytes() for e in events) + b"\n")
    started = time.perf_counter()
    out = subprocess.run(
        raie_command("publish", "--bootstrap", bootstrap, str(path)), capture_output=True, text=True, check=True
    )
    seconds = time.perf_counter() - started
    sent = re.search(r"sent (\d+), failed (\d+)", out.stdout)
    if sent is None or int(sent.group(1)) != len(events):
        sys.exit(f"raie publish did not send every event: {out.stdout}")
    return len(events) / seconds


async def _bare_consume(bootstrap: str, start: dict[TopicPartition, int], expected: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(tp.topic, tp.partition) for tp in start]
        consumer.assign(partitions)
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        started, seen = time.perf_counter(), 0
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(records) for records in batches.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


def _expected_windows(events: list[Interaction], context_len: int) -> int:
    """All inside slice 1, so each user's sequence only grows: every event after the first L is a target."""
    return sum(max(0, n - context_len) for n in Counter(e.user_id for e in events).values())


def _collect_windows(bootstrap: str, start: dict[TopicPartition, int], expected: int) -> list[tuple[RoutedWindow, int]]:
    """Routed windows after ``start`` with their record timestamps, until ``expected`` arrived."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    windows: list[tuple[RoutedWindow, int]] = []
    deadline = time.monotonic() + CATCH_UP_WITHIN_S
    while len(windows) < expected:
        if time.monotonic() > deadline:
            sys.exit(f"only {len(windows)} of {expected} windows within {CATCH_UP_WITHIN_S:.0f} s")
        for records in consumer.poll(timeout_ms=1000, max_records=50_000).values():
            windows += [(RoutedWindow.from_bytes(r.value), r.timestamp) for r in records if not r.headers]
    consumer.close()
    return windows


def _paced_send(bootstrap: str, events: list[Interaction], rate: float) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
    started = time.perf_counter()
    for i, event in enumerate(events):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        producer.send(INTERACTIONS, event.to_bytes(), key=event.key())
    producer.flush()
    producer.close()


def _record_timestamps(bootstrap: str, start: dict[TopicPartition, int], expected: int) -> dict[tuple[int, int], int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign(list(start))
    for tp, offset in start.items():
        consumer.seek(tp, offset)
    stamps: dict[tuple[int, int], int] = {}
    while len(stamps) < expected:
        for tp, records in consumer.poll(timeout_ms=1000).items():
            stamps.update({(tp.partition, r.offset): r.timestamp for r in records})
    consumer.close()
    return stamps


def _end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
    ends: dict[TopicPartition, int] = consumer.end_offsets(partitions)
    consumer.close()
    return ends


def _rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MB, from /proc."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


if __name__ == "__main__":
    raise SystemExit(main())
