"""Recommendation latency and freshness of a worker that ingests 500 events/s and closes slices meanwhile.

ml-latest-small through one ``raie worker --web-port`` (adapter jobs on a local Ray
with one CPU; SASRec, the movielens
preset with training cut to a few epochs: the bench measures serving, not
fits). Set-up (slice 0) is published and closed first. Then, while F and T are
published at ``--ingest`` events/s (each followed by its slice mark, so F
closes, trains and swaps adapters during the run), an open-loop aiohttp client
sends GET /recommendations/{user}?k=10 at 50, 200 and 1,000 requests/s. Open
loop: each request is due at a fixed time and its latency counts from then, so
a stalled server is not hidden by a client that waits for it. The 200/s phase
lasts until F's slice has been committed and swapped in, and a few seconds more.

Freshness: every ``PROBE_EVERY_S`` a probe event (a known user, an item the
model knows) is published and the endpoint polled until the answer's context
ends with it; the figure is publish -> first answer that shows it.

    python bench/serving_latency.py [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import gc
import json
import multiprocessing
import os
import re
import shutil
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import numpy as np
from stream_bench_parts import rss_mb

from raie.cli.common import resolve_config
from raie.config import ExperimentConfig, TrainConfig
from raie.config_files import save_config
from schemas import Interaction
from streams.admin import ensure_topics
from streams.local_broker import REPO, LocalBroker
from streams.producer import CountingProducer
from streams.replay import close_slice
from streams.replay_timeline import MS_PER_SECOND, Timeline, replay_timeline
from streams.topic_names import INTERACTIONS, ITEMS
from streams.worker_process import WorkerProcess

BROKER = LocalBroker(29096, 29097, REPO / "var" / "bench-serving-kafka")
WORK = REPO / "var" / "bench-serving"
DATA = REPO / "data" / "ml-latest-small"
PORT = 6066
TORCH_THREADS = max(1, (os.cpu_count() or 2) - 1)
"""The cores minus one, as the stream benches run: the scoring thread leaves the event loop a core."""
RATES = (50, 200, 1000)
PHASE_S = 15.0
"""Each rate's length; the 200/s phase runs on until the slice closed during it is served."""
AFTER_SWAP_S = 5.0
PHASE_MAX_S = 300.0
K = 10
PROBE_EVERY_S = 0.5
PROBE_POLL_S = 0.02
"""A probe polls at 50/s on top of the phase's rate: freshness is measured to within 20 ms."""
SLOWEST = 10
"""The slowest requests of each phase are listed with the time they were due, to read beside the worker's log."""
READY_WITHIN_S = 900.0
REQUEST_TIMEOUT_S = 10.0


@dataclasses.dataclass
class Phase:
    rate: int
    due_wall: list[float] = dataclasses.field(default_factory=list)
    """Wall-clock second each answered request was due (to split by slice closes afterwards)."""
    latencies_ms: list[float] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    swaps: int = 0

    def report(self, closes: list[tuple[float, float]]) -> dict[str, Any]:
        lat, due = np.asarray(self.latencies_ms), np.asarray(self.due_wall)
        during = np.zeros(len(lat), dtype=bool)
        for start, end in closes:
            during |= (due >= start) & (due <= end)
        done = len(lat) + len(self.errors)
        return {
            "rate": self.rate,
            "requests": done,
            "achieved_rps": done / self.seconds if self.seconds else 0.0,
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            **percentiles(lat),
            "during_close": {"requests": int(during.sum()), **percentiles(lat[during])},
            "outside_close": {"requests": int((~during).sum()), **percentiles(lat[~during])},
            "seconds": self.seconds,
            "swaps_during": self.swaps,
            "slowest": [[wall_clock(due[i]), round(float(lat[i]), 1)] for i in np.argsort(-lat)[:SLOWEST]],
        }


def wall_clock(seconds: float) -> str:
    """As the worker's log writes times."""
    return datetime.datetime.fromtimestamp(seconds).strftime("%H:%M:%S,%f")[:-3]


def percentiles(values: np.ndarray) -> dict[str, float | None]:
    if not len(values):
        return {"p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"p50_ms": float(p50), "p90_ms": float(p90), "p99_ms": float(p99), "max_ms": float(values.max())}


CLOSED_LINE = re.compile(r"^\[(\S+ \S+)\] \[\d+\] \[INFO\] closed slice (\d+): .* ([0-9.]+) s\s*$")


def slice_closes(log: str) -> list[tuple[float, float]]:
    """(start, end) wall-clock seconds of each slice close after Set-up, from the worker's log
    line at its end, which gives its length."""
    closes = []
    for line in log.splitlines():
        match = CLOSED_LINE.match(line)
        if match and int(match.group(2)) > 0:
            end = datetime.datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            closes.append((end - float(match.group(3)), end))
    return closes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest", type=float, default=500.0, help="events/s published during the run")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    config = bench_config()
    config_path = save_config(config, WORK / "config.yaml")
    timeline = replay_timeline("movielens", DATA, config, config.protocol.cutoffs)
    store = WORK / "store"
    shutil.rmtree(store, ignore_errors=True)
    # Adapter jobs on Ray with one CPU: training runs beside the worker, not on its GIL, and leaves it a core.
    options: tuple[str, ...] = ("--dataset", "movielens", "--config", str(config_path), "--ray-cpus", "1")
    options += ("--train-concurrency", "1")
    options += ("--web-port", str(PORT), "--torch-threads", str(TORCH_THREADS), "--app-id", "bench-serving")
    with BROKER.running_empty() as bootstrap:
        ensure_topics(bootstrap)
        worker = WorkerProcess(bootstrap, store, WORK, options)
        worker.start()
        try:
            report = asyncio.run(run(bootstrap, worker, timeline, args.ingest))
            report["worker_rss_mb"] = rss_mb(worker.pid)[0]
            report["serving_rss_mb"] = sum(rss_mb(pid)[0] for pid in worker.serving_pids())
        finally:
            code = worker.stop()
    log = worker.logs[-1].read_text(errors="replace")
    closes = slice_closes(log)
    report["phases"] = [phase.report(closes) for phase in report["phases"]]
    report |= freshness(report.pop("probes"), closes)
    report["slice_closes_s"] = [round(end - start, 1) for start, end in closes]
    report["worker_exit"] = code
    report["gc_pauses_logged"] = log.count("garbage collection of")
    print_report(report)
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    failed = sum(p["errors"] for p in report["phases"])
    return 1 if failed or code != 0 else 0


def bench_config() -> ExperimentConfig:
    config = resolve_config("movielens", None, "sasrec")
    setup = dataclasses.replace(config.setup_train, epochs=5)
    fine = TrainConfig(epochs=1, batch_size=config.finetune_train.batch_size, lr=config.finetune_train.lr, patience=1)
    return dataclasses.replace(config, setup_train=setup, finetune_train=fine)


def slice_events(timeline: Timeline, index: int) -> list[Interaction]:
    cuts = [0, *timeline.boundaries, 1 << 62]
    return [e for e in timeline.events() if cuts[index] * MS_PER_SECOND <= e.ts_ms < cuts[index + 1] * MS_PER_SECOND]


async def run(bootstrap: str, worker: WorkerProcess, timeline: Timeline, ingest: float) -> dict[str, Any]:
    producer = CountingProducer(bootstrap, client_id="bench-serving")
    partitions = producer.partitions_for(INTERACTIONS)
    for item in timeline.items:
        producer.send(ITEMS, item.to_bytes(), key=item.key())
    setup = slice_events(timeline, 0)
    for event in setup:
        producer.send(INTERACTIONS, event.to_bytes(), key=event.key())
    close_slice(producer, partitions, 0, timeline.boundaries[0] * MS_PER_SECOND)
    print(f"Set-up: {len(setup):,} events published; training", file=sys.stderr)
    started = time.monotonic()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as http:
        while (await get_json(http, "/health"))[0] != 200:
            if (
                time.monotonic() - started > READY_WITHIN_S
                or worker.process is None
                or worker.process.poll() is not None
            ):
                sys.exit(f"the endpoint was not ready within {READY_WITHIN_S:.0f} s{worker.tail()}")
            await asyncio.sleep(1.0)
        setup_s = time.monotonic() - started
        users = sorted({e.user_id for e in setup})
        # The feeder publishes from a process of its own: in this one its serialising and kafka-python's
        # sender thread held the interpreter lock the client's loop needs, and an open-loop client
        # counts its own delays as the server's latency.
        spawn = multiprocessing.get_context("spawn")
        ingesting = spawn.Event()
        slices = [(slice_events(timeline, i), slice_end(timeline, i)) for i in (1, 2)]
        feeder = spawn.Process(target=feed, args=(bootstrap, slices, partitions, ingest, ingesting), daemon=True)
        freshness: list[tuple[float, float]] = []
        stop = asyncio.Event()
        probes = asyncio.ensure_future(probe(http, producer, users, timeline, freshness, stop))
        feeder.start()
        phases = []
        gc.collect()
        gc.freeze()  # the client's set-up (the timeline) is never garbage: its collections then stay short
        for rate in RATES:
            phases.append(await load(http, users, rate, worker, until_swap=rate == 200))
        stop.set()
        await probes
        ingesting.set()  # tell the feeder to stop early if it has not finished
        feeder.join(timeout=60)
    producer.close()
    return {
        "setup_s": setup_s,
        "ingest_eps": ingest,
        "phases": phases,
        "probes": freshness,
        "closed_slices_end": worker.closed_slices(),
        "load1_end": os.getloadavg()[0],
    }


class EventLike(Protocol):
    def is_set(self) -> bool: ...


def slice_end(timeline: Timeline, index: int) -> int:
    """Where slice ``index`` ends, in event-time seconds: its slice mark's time."""
    return timeline.boundaries[index] if index < len(timeline.boundaries) else timeline.last_ts + 1


def feed(
    bootstrap: str,
    slices: list[tuple[list[Interaction], int]],
    partitions: list[int],
    rate: float,
    stop: EventLike,
) -> None:
    """F then T at ``rate`` events/s, each closed by its slice mark (so the worker trains and swaps)."""
    producer = CountingProducer(bootstrap, client_id="bench-serving-feed")
    chunk = max(1, round(rate / 20))  # 20 sends a second keep the rate even
    for index, (events, end) in enumerate(slices, start=1):
        started = time.monotonic()
        for n in range(0, len(events), chunk):
            if stop.is_set():
                return
            for event in events[n : n + chunk]:
                producer.send(INTERACTIONS, event.to_bytes(), key=event.key())
            time.sleep(max(0.0, started + (n + chunk) / rate - time.monotonic()))
        close_slice(producer, partitions, index, end * MS_PER_SECOND)
        print(f"slice {index}: {len(events):,} events published at {rate:g}/s; marked", file=sys.stderr)
    producer.close()


async def load(
    http: aiohttp.ClientSession, users: list[str], rate: int, worker: WorkerProcess, *, until_swap: bool
) -> Phase:
    phase, rng = Phase(rate), np.random.default_rng(rate)
    tasks: set[asyncio.Future[None]] = set()
    """Requests in flight only: holding every finished one would grow the heap the client's collector scans."""
    swaps_before = (await get_json(http, "/state"))[1].get("swaps", 0)
    closed_before = worker.closed_slices()
    started = time.monotonic()
    end = started + PHASE_S
    n = 0
    while True:
        due = started + n / rate
        now = time.monotonic()
        if until_swap and due >= end and worker.closed_slices() > closed_before:
            served = (await get_json(http, "/state"))[1].get("closed_slices", 0)
            if served > closed_before:
                end = max(end, now)  # keep going a little after the swap
                until_swap = False
                end += AFTER_SWAP_S
        if (due >= end and not until_swap) or now - started > PHASE_MAX_S:
            break
        if due > now:
            await asyncio.sleep(due - now)
        user = users[int(rng.integers(len(users)))]
        task = asyncio.ensure_future(timed(http, f"/recommendations/{user}?k={K}", due, phase))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    phase.seconds = time.monotonic() - started
    phase.swaps = (await get_json(http, "/state"))[1].get("swaps", 0) - swaps_before
    print(f"{rate}/s done: {len(phase.latencies_ms)} answered, {len(phase.errors)} errors", file=sys.stderr)
    return phase


async def timed(http: aiohttp.ClientSession, path: str, due: float, phase: Phase) -> None:
    try:
        status, _ = await get_json(http, path)
    except (aiohttp.ClientError, TimeoutError) as error:
        phase.errors.append(f"{type(error).__name__}: {error}")
        return
    if status != 200:
        phase.errors.append(f"HTTP {status}")
        return
    phase.latencies_ms.append((time.monotonic() - due) * 1000)
    phase.due_wall.append(time.time() - (time.monotonic() - due))


async def probe(
    http: aiohttp.ClientSession,
    producer: CountingProducer,
    users: list[str],
    timeline: Timeline,
    out: list[tuple[float, float]],
    stop: asyncio.Event,
) -> None:
    """Publish a positive for a known user and time it until an answer's context ends with it."""
    rng = np.random.default_rng(7)
    ts_ms = timeline.boundaries[0] * MS_PER_SECOND  # inside F: a probe is an ordinary event of the open slice
    while not stop.is_set():
        user = users[int(rng.integers(len(users)))]
        try:
            status, before = await get_json(http, f"/recommendations/{user}?k=1")
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        if status != 200 or not before["items"]:
            await asyncio.sleep(PROBE_EVERY_S)
            continue
        item = before["items"][0]["item_id"]  # known to the model, not in the context yet
        event = Interaction(
            event_id=f"probe-{uuid.uuid4().hex}", user_id=user, item_id=item, ts_ms=ts_ms, source="bench", rating=5.0
        )
        published, published_wall = time.monotonic(), time.time()
        producer.send(INTERACTIONS, event.to_bytes(), key=event.key())
        while time.monotonic() - published < REQUEST_TIMEOUT_S:
            try:
                status, after = await get_json(http, f"/recommendations/{user}?k=1")
            except (aiohttp.ClientError, TimeoutError):
                continue
            if status == 200 and after["context"][-1:] == [item]:
                out.append((published_wall, (time.monotonic() - published) * 1000))
                break
            await asyncio.sleep(PROBE_POLL_S)
        await asyncio.sleep(PROBE_EVERY_S)


async def get_json(http: aiohttp.ClientSession, path: str) -> tuple[int, dict[str, Any]]:
    async with http.get(f"http://127.0.0.1:{PORT}{path}") as response:
        return response.status, await response.json()


def freshness(probes: list[tuple[float, float]], closes: list[tuple[float, float]]) -> dict[str, Any]:
    """Freshness percentiles, all probes and those published outside any slice close."""
    at, ms = np.asarray([p[0] for p in probes]), np.asarray([p[1] for p in probes])
    during = np.zeros(len(ms), dtype=bool)
    for start, end in closes:
        during |= (at >= start) & (at <= end)
    return {
        "freshness": {"probes": len(ms), **percentiles(ms)},
        "freshness_outside_close": {"probes": int((~during).sum()), **percentiles(ms[~during])},
    }


def print_report(report: dict[str, Any]) -> None:
    print(f"Set-up closed and served after {report['setup_s']:.0f} s; ingest {report['ingest_eps']:g} events/s")
    closes, pauses = report["slice_closes_s"], report["gc_pauses_logged"]
    print(f"slice closes during the run (s): {closes}; GC pauses >= 100 ms logged: {pauses}")
    print(
        "rate/s  requests  achieved/s  errors  p50 ms  p99 ms  max ms | in a close: n  p50  p99 | outside: n  p50  p99"
    )
    for p in report["phases"]:
        inside, outside = p["during_close"], p["outside_close"]
        print(
            f"{p['rate']:>6}  {p['requests']:>8}  {p['achieved_rps']:>10.1f}  {p['errors']:>6}  "
            f"{fmt(p['p50_ms'])}  {fmt(p['p99_ms'])}  {fmt(p['max_ms'])} | {inside['requests']:>6} "
            f"{fmt(inside['p50_ms'])} {fmt(inside['p99_ms'])} | {outside['requests']:>6} "
            f"{fmt(outside['p50_ms'])} {fmt(outside['p99_ms'])}"
        )
    for key in ("freshness", "freshness_outside_close"):
        f = report[key]
        print(
            f"{key} (publish -> in the answer's context): {f['probes']} probes, p50 {fmt(f['p50_ms'])} ms, "
            f"p99 {fmt(f['p99_ms'])} ms"
        )
    print(
        f"slices closed at the end: {report['closed_slices_end']}; worker RSS {report['worker_rss_mb']:.0f} MB, "
        f"its serving process {report['serving_rss_mb']:.0f} MB"
    )


def fmt(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.1f}"


if __name__ == "__main__":
    raise SystemExit(main())
