"""Adapter freshness: from a slice's close to every adapter it retrained being live.

SASRec on ml-latest-small on this machine's CPU. The bundled timeline goes
through the stream's slice session in this process (no broker: Kafka is not
on the path from a closed slice to a published adapter), once with the Ray
pool and once with the in-process trainer, which resumes from the Ray run's
Set-up: both train the same jobs on the same slices.

Prints, per trainer: the freshness of each update slice (close -> committed,
adapters live), the jobs and their wall time, the per-job overhead (a job's
started -> finished wall time minus its own training time), and for Ray the
resident memory of its processes.

    python bench/adapter_freshness.py [--data-dir data/ml-latest-small] [--concurrency 2]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import ray
import torch

from raie.cli.common import resolve_config
from raie.config import ExperimentConfig, TrainConfig
from raie.data.dataset import load_dataset
from raie.online.artifacts import ARTIFACTS_DIR, STATE_FILE, Artifacts
from raie.online.in_process import ClosedSlice, feed_session
from raie.online.session import SliceSession
from raie.online.trainer import AdapterTrainer, InProcessTrainer, JobEvent
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import preprocess
from workers.pool_config import RayPoolConfig
from workers.ray_trainer import RayTrainer

CPU = torch.device("cpu")
EMBED_BATCH = 1024  # the stream's ingress batch
RAY_PROCESS_MARKERS = ("ray::", "raylet", "gcs_server", "ray/_private", "ray/dashboard")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data/ml-latest-small"))
    parser.add_argument("--concurrency", type=int, default=2, help="Ray actors (jobs at once)")
    args = parser.parse_args()

    config = _bench_config()
    dataset = load_dataset("movielens", args.data_dir)
    data = build_protocol(preprocess(dataset.interactions, config.preprocess), config.protocol, dataset.items)
    print(f"machine: {torch.get_num_threads()} torch threads, {_cpus()} CPUs; {len(data.positives)} interactions")

    with tempfile.TemporaryDirectory(prefix="raie-freshness-") as tmp:
        root = Path(tmp)
        pool = RayPoolConfig(max_concurrent_jobs=args.concurrency)
        started = time.perf_counter()
        ray_trainer = RayTrainer.start(pool, Artifacts.in_store(root / "ray"), "sasrec", config, CPU)
        print(f"ray.init (local, {args.concurrency} actors): {time.perf_counter() - started:.1f} s")
        ray_events: list[TimedEvent] = []
        ray_slices = _run(data, config, root / "ray", ray_trainer, ray_events)
        rss = _ray_rss_mb()
        ray_trainer.shutdown()
        ray.shutdown()

        # The in-process run resumes from the Ray run's Set-up: the same backbone, bank and jobs.
        _copy_setup(root / "ray", root / "in-process")
        local_events: list[TimedEvent] = []
        local_slices = _run(data, config, root / "in-process", InProcessTrainer(CPU), local_events)

    for name, slices, events in (("ray", ray_slices[1:], ray_events), ("in-process", local_slices, local_events)):
        _report(name, slices, events)
    print(f"ray processes RSS after the run: {rss[0]:.0f} MB in {rss[1]} processes")
    return 0


@dataclass(frozen=True)
class TimedEvent:
    event: JobEvent
    at_s: float  # perf_counter when it was reported: durations immune to wall-clock steps


def _bench_config() -> ExperimentConfig:
    """The MovieLens preset with a one-epoch Set-up: Set-up training is not what is measured."""
    config = resolve_config("movielens", None, "sasrec")
    setup = config.setup_train
    return dataclasses.replace(config, setup_train=TrainConfig(1, setup.batch_size, setup.lr, patience=1))


def _copy_setup(source: Path, target: Path) -> None:
    """A store whose only closed slice is ``source``'s Set-up (slice 0)."""
    for part in ("setup", "slice=0"):
        shutil.copytree(source / ARTIFACTS_DIR / part, target / ARTIFACTS_DIR / part)
    (target / ARTIFACTS_DIR / STATE_FILE).write_text(json.dumps({"closed_slices": 1, "live": {}}))


def _run(
    data: ProtocolData, config: ExperimentConfig, root: Path, trainer: AdapterTrainer, events: list[TimedEvent]
) -> list[ClosedSlice]:
    session = SliceSession.resume(config, "sasrec", 0, 1, trainer, Artifacts.in_store(root), CPU)

    async def record(event: JobEvent) -> None:
        events.append(TimedEvent(event, time.perf_counter()))

    session.on_job_event = record
    return feed_session(data, session, EMBED_BATCH)


def _report(name: str, slices: list[ClosedSlice], events: list[TimedEvent]) -> None:
    print(f"\n== {name}")
    print("slice  jobs  freshness_s  global_job_s  region_jobs_s  (freshness: close -> every retrained adapter live)")
    for closed in slices:
        jobs = len(closed.outcome.own_rows.get("train_jobs", []))
        mine = [e for e in events if e.event.job.slice == closed.outcome.slice and e.event.status != "queued"]
        global_s = _span_s([e for e in mine if e.event.job.is_global])
        regions_s = _span_s([e for e in mine if not e.event.job.is_global])
        row = f"{closed.outcome.slice:>5}  {jobs:>4}  {closed.live_after_s:>11.1f}"
        print(f"{row}  {global_s:>12.1f}  {regions_s:>13.1f}")
    print(f"{name} freshness: mean {statistics.mean(c.live_after_s for c in slices):.1f} s per update slice")
    started = {(e.event.job.job_id, e.event.attempt): e.at_s for e in events if e.event.status == "started"}
    overheads = []
    for e in events:
        if e.event.status == "finished" and e.event.result is not None:
            wall = e.at_s - started[(e.event.job.job_id, e.event.attempt)]
            overheads.append(wall - e.event.result.training.seconds)
    print(
        f"{name} per-job overhead (wall - training): median {statistics.median(overheads):.2f} s, "
        f"max {max(overheads):.2f} s over {len(overheads)} jobs"
    )


def _span_s(events: list[TimedEvent]) -> float:
    """From the first event to the last, in seconds (0 without events)."""
    return max(e.at_s for e in events) - min(e.at_s for e in events) if events else 0.0


def _ray_rss_mb() -> tuple[float, int]:
    total_kb, count = 0, 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            status = (proc / "status").read_text()
        except OSError:
            continue
        if any(marker in cmdline for marker in RAY_PROCESS_MARKERS):
            rss = [line for line in status.splitlines() if line.startswith("VmRSS:")]
            if rss:
                total_kb += int(rss[0].split()[1])
                count += 1
    return total_kb / 1024, count


def _cpus() -> int:
    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
