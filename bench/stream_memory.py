"""The worker's memory over a long stream: RSS every 100k events of a 1-million-event Yelp-layout replay.

A synthetic Yelp timeline (``raie data synth --sparse``, local drift) sized so
that its preprocessed positives number about ``--events``, replayed with
``raie replay`` as fast as the CLI publishes, into one ``raie worker`` that
embeds, routes and edits every window and closes every slice (Set-up, then
the RAIE step, in process: the training epochs are cut to one so the run
measures the stream, not the fit). Every second the worker's RSS and its
group's committed offsets are sampled; the report gives RSS at each 100k
committed events, the peak, the events/s end to end (replay start to the last
slice closed) and the store's count of lost and duplicated events.

What would grow per event if state were unbounded: the seen event ids (kept
for ``SEEN_HORIZON_MS`` of event time), the user states (one per user, the last
L items), Faust's buffers; the report prints the ingress state at its last
snapshots. What grows by design: the windows of the open slices, which the
editor holds (un-acked, about 0.5 KB each) until their slice closes, the user
count, and the allocator's high-water mark after the first training run.

    python bench/stream_memory.py [--events 1000000] [--json FILE]
    python bench/stream_memory.py --events 100000     # a ~5-minute smoke test
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from stream_bench_parts import finish, rss_mb

from raie.cli.common import resolve_config
from raie.config import ExperimentConfig, TrainConfig
from raie.config_files import save_config
from raie.store import Store
from streams.admin import ensure_topics
from streams.ingress_states import snapshot_root
from streams.local_broker import REPO, LocalBroker
from streams.partition_state import SEEN_HORIZON_MS
from streams.replay_timeline import replay_timeline
from streams.state_snapshot import load_snapshot
from streams.topic_names import INTERACTIONS
from streams.worker_process import WorkerProcess, raie_command, unbuffered_env

SERVING_THREADS = max(1, (os.cpu_count() or 2) - 1)
"""The worker's torch threads: the cores minus one, so the forward pass leaves the event loop a
core (the worker's default, torch's, keeps scores equal to the offline runner's instead)."""
BROKER = LocalBroker(29094, 29095, REPO / "var" / "bench-memory-kafka")
WORK = REPO / "var" / "bench-memory"
APP_ID = "bench-memory"
WORKER_OPTIONS: tuple[str, ...] = ("--dataset", "yelp", "--trainer", "in-process", "--app-id", APP_ID)
WORKER_OPTIONS += ("--torch-threads", str(SERVING_THREADS))
PROBE_USERS_PER_GROUP = 1000
"""The synthetic generator's size is set in users per group; a small probe measures
how many preprocessed positives a user yields, and the real run is scaled from it."""
SAMPLE_EVERY = 100_000
POLL_S = 1.0
RUN_WITHIN_S = 3 * 3600.0
MB = 1024 * 1024


def main() -> int:
    args = _arguments()
    WORK.mkdir(parents=True, exist_ok=True)
    config = _bench_config()
    config_path = save_config(config, WORK / "config.yaml")
    data = _dataset(config, args.events, args.seed)
    timeline = replay_timeline("yelp", data, config, config.protocol.cutoffs)
    users = len(set(timeline.table["user_id"].to_pylist()))
    print(f"timeline: {len(timeline):,} events, {users:,} users, {len(timeline.items):,} businesses", file=sys.stderr)
    store = WORK / "store"
    shutil.rmtree(store, ignore_errors=True)
    with BROKER.running_empty() as bootstrap:
        ensure_topics(bootstrap)
        worker = WorkerProcess(
            bootstrap,
            store,
            WORK,
            (*WORKER_OPTIONS, "--config", str(config_path)),
        )
        worker.start()
        try:
            report = _run(bootstrap, worker, data, config_path, len(timeline), timeline.n_slices)
        finally:
            worker.stop()
    report |= {"events": len(timeline), "users": users, "businesses": len(timeline.items)}
    report |= _store_counts(store, len(timeline))
    report["ingress_state"] = _ingress_state(store)
    _print(report)
    return finish(report, args.json)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="about this many events in the timeline")
    parser.add_argument("--seed", type=int, default=0, help="the synthetic generator's seed")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    return parser.parse_args()


def _bench_config() -> ExperimentConfig:
    config = resolve_config("yelp", None, "sasrec")
    one = dataclasses.replace(config.setup_train, epochs=1, patience=1)
    fine = TrainConfig(epochs=1, batch_size=config.finetune_train.batch_size, lr=config.finetune_train.lr, patience=1)
    return dataclasses.replace(config, setup_train=one, finetune_train=fine)


def _dataset(config: ExperimentConfig, events: int, seed: int) -> Path:
    """The generated Yelp files for about ``events`` positives (kept between runs)."""
    probe = _synth(PROBE_USERS_PER_GROUP, seed)
    per_group = len(replay_timeline("yelp", probe, config, config.protocol.cutoffs)) / PROBE_USERS_PER_GROUP
    return _synth(max(1, round(events / per_group)), seed)


def _synth(users_per_group: int, seed: int) -> Path:
    out = WORK / f"yelp-sparse-{users_per_group}-seed{seed}"
    if not (out / "groups.jsonl").is_file():
        command = raie_command("data", "synth", "--sparse", "--users", str(users_per_group), "--seed", str(seed))
        subprocess.run([*command, "--out", str(out)], check=True, capture_output=True)
    return out


def _run(bootstrap: str, worker: WorkerProcess, data: Path, config: Path, events: int, slices: int) -> dict[str, Any]:
    """Replay while sampling; returns the RSS series and the times."""
    replay_log = (WORK / "replay.log").open("wb")
    command = (
        "replay",
        "--dataset",
        "yelp",
        "--data-dir",
        str(data),
        "--config",
        str(config),
        "--bootstrap",
        bootstrap,
    )
    replay = subprocess.Popen(
        raie_command(*command),
        stdout=replay_log,
        stderr=subprocess.STDOUT,
        env=unbuffered_env(),
    )
    started = time.monotonic()
    offsets = _Committed(bootstrap)
    series: list[dict[str, float]] = []
    next_mark, ingress_s, replay_s = SAMPLE_EVERY, None, None
    try:
        while worker.closed_slices() < slices:
            if worker.process is not None and worker.process.poll() is not None:
                raise RuntimeError(f"the worker exited{worker.tail()}")
            if time.monotonic() - started > RUN_WITHIN_S:
                raise TimeoutError(f"not every slice closed within {RUN_WITHIN_S:.0f} s{worker.tail()}")
            if replay_s is None and replay.poll() is not None:
                replay_s = time.monotonic() - started
                if replay.returncode != 0:
                    raise RuntimeError(f"raie replay failed ({replay.returncode}); see {WORK / 'replay.log'}")
            committed = offsets.total()
            if ingress_s is None and committed >= events:
                ingress_s = time.monotonic() - started
            if committed >= next_mark:
                series.append(_sample(worker, committed, time.monotonic() - started))
                next_mark = (committed // SAMPLE_EVERY + 1) * SAMPLE_EVERY
            time.sleep(POLL_S)
        done_s = time.monotonic() - started
        series.append(_sample(worker, offsets.total(), done_s))
    finally:
        offsets.close()
        if replay.poll() is None:
            replay.kill()
        replay_log.close()
    return {
        "rss_series": series,
        "replay_s": replay_s,
        "ingress_s": ingress_s,
        "end_to_end_s": done_s,
        "end_to_end_eps": events / done_s,
        "load1_end": os.getloadavg()[0],
    }


def _sample(worker: WorkerProcess, committed: int, seconds: float) -> dict[str, float]:
    rss, high_water = rss_mb(worker.pid)
    sample = {"events": committed, "rss_mb": rss, "hwm_mb": high_water, "closed_slices": worker.closed_slices()}
    sample["s"] = seconds
    print(sample, file=sys.stderr)
    return sample


class _Committed:
    """The group's committed offsets on ``interactions``, summed (marks count too: a few per slice)."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=APP_ID, enable_auto_commit=False)
        partitions = self._consumer.partitions_for_topic(INTERACTIONS) or set()
        self._partitions = [TopicPartition(INTERACTIONS, p) for p in sorted(partitions)]

    def total(self) -> int:
        return sum(self._consumer.committed(tp) or 0 for tp in self._partitions)

    def close(self) -> None:
        self._consumer.close()


def _store_counts(store_root: Path, events: int) -> dict[str, int]:
    store = Store.open(store_root, read_only=True)
    try:
        counts = store.query("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM interactions").to_pylist()[0]
    finally:
        store.close()
    rows, distinct = int(counts["n"]), int(counts["d"])
    return {"stored": rows, "lost": events - distinct, "duplicated": rows - distinct}


def _ingress_state(store_root: Path) -> dict[str, int]:
    """What the ingress keeps per input partition, summed, at each partition's last snapshot."""
    root = snapshot_root(store_root, APP_ID)
    states = [load_snapshot(root, p) for p in range(len(list(root.glob("p=*.msgpack"))))]
    found = [s for s in states if s is not None]
    return {
        "users": sum(len(s.users) for s in found),
        "seen_ids": sum(len(s.seen) for s in found),
        "snapshot_bytes": sum(f.stat().st_size for f in root.glob("p=*.msgpack")),
    }


def _print(report: dict[str, Any]) -> None:
    print(f"{report['events']:,} events, {report['users']:,} users, {report['businesses']:,} businesses")
    print("| events committed | RSS MB | high-water MB | slices closed | s |")
    print("|---|---|---|---|---|")
    for s in report["rss_series"]:
        row = (f"{s['events']:,.0f}", f"{s['rss_mb']:.0f}", f"{s['hwm_mb']:.0f}", f"{s['closed_slices']:.0f}")
        print("| " + " | ".join((*row, f"{s['s']:.0f}")) + " |")
    print("(the last row is the end of the run; the 100k rows are the first sample past each multiple)")
    print(
        f"replay CLI done {report['replay_s'] or 0:.0f} s, ingress committed all {report['ingress_s'] or 0:.0f} s, "
        f"every slice closed {report['end_to_end_s']:.0f} s: {report['end_to_end_eps']:,.0f} events/s end to end"
    )
    state = report["ingress_state"]
    print(
        f"ingress state at the last snapshots: {state['users']:,} users, {state['seen_ids']:,} seen ids "
        f"(the {SEEN_HORIZON_MS // 86_400_000}-day horizon), {state['snapshot_bytes'] / MB:.1f} MB"
    )
    print(f"store: {report['stored']:,} rows, lost {report['lost']}, duplicated {report['duplicated']}")


if __name__ == "__main__":
    raise SystemExit(main())
