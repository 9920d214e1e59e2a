"""What a stream worker is told at start: where things are and which method config it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from raie.config import ExperimentConfig
from raie.errors import ConfigError
from raie.online.prequential import DEFAULT_METHODS
from raie.online.slice_clock import Watermark
from workers.pool_config import RayPoolConfig

MAX_PORT = 65535
MAX_NICENESS = 19
"""The lowest CPU priority Linux gives."""

APP_ID = "raie-stream"
"""Faust app id: the consumer group and the prefix of the tables' changelog topics."""


@dataclass(frozen=True)
class WorkerSettings:
    bootstrap: str
    store: Path
    config: ExperimentConfig
    backbone: str = "sasrec"
    seed: int = 0
    app_id: str = APP_ID
    watermark: Watermark | None = None
    """Close slices by event time; None closes them only at the replayer's slice marks."""
    ingress_batch: int = 1024
    """Most records per ingress batch: one embedding pass and one routed record per partition each."""
    ingress_linger_s: float = 0.005
    """How long a partial batch waits for more records: the latency a batch adds. A few
    milliseconds already gather hundreds of records at full speed; under light load a
    window is on its way to the editor within them."""
    commit_interval_s: float = 1.0
    """How often the ingress makes its work durable (store rows, state deltas) and acks it:
    the records a crash makes it re-read, and the Parquet chunk count (one per partition each)."""
    commit_events: int = 20_000
    """Commit earlier once this many events wait: bounds the rows held in memory."""
    torch_threads: int | None = None
    """Torch intra-op threads of the worker, set once at start; None: torch's default. The
    default keeps the stream's scores equal to ``raie experiment``'s: with 1 thread instead of
    2 the demo's Set-up model, and every stream score, came out different. Fewer (the cores
    minus one) leave the event loop a core: the throughput bench runs with 1 on 2 cores.
    Changing it while the worker runs is unsafe (torch's pool is process-wide)."""
    trace: Path | None = None
    """A JSON-lines file of per-batch stage times (streams/trace.py), for benchmarks; None: off."""
    trainer: Literal["ray", "in-process"] = "ray"
    """Where adapter jobs run: the Ray pool, or one at a time in a thread of the worker."""
    pool: RayPoolConfig = field(default_factory=RayPoolConfig)
    score_methods: tuple[str, ...] = DEFAULT_METHODS
    """Methods each slice is scored with before it is trained on (raie/online/prequential.py)."""
    web_port: int | None = None
    """Port of the recommendation endpoint (streams/web.py); None: no web server."""
    web_host: str = "127.0.0.1"
    """The host other workers forward requests to, and the interface the endpoint listens on
    unless ``web_bind`` says otherwise: loopback by default, so a worker is not reachable from
    the network unless told."""
    web_bind: str | None = None
    """Interface to listen on when it differs from ``web_host`` (a container: 0.0.0.0)."""
    stream_niceness: int = 5
    """With an endpoint: the CPU niceness the stream takes once the serving process has started
    (0..19; 0 keeps them equal). On a shared machine a request then goes before the stream's
    batch work (a slice close above all): the stream has Kafka to buffer it, a request has not."""

    def __post_init__(self) -> None:
        # Checked here too, not only by the CLI: tests and benchmarks build settings directly,
        # and a zero batch or wait would stall an agent instead of failing.
        for name in ("ingress_batch", "commit_events", "torch_threads"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ConfigError(name, f"{getattr(self, name)} < 1", "use a positive number of events")
        if not 0 <= self.stream_niceness <= MAX_NICENESS:
            raise ConfigError("stream_niceness", f"{self.stream_niceness} is not in 0..{MAX_NICENESS}", "e.g. 5")
        if self.web_port is not None and not 1 <= self.web_port <= MAX_PORT:
            raise ConfigError("web_port", f"{self.web_port} is not a TCP port", f"use 1..{MAX_PORT}, e.g. 6066")
        for name in ("ingress_linger_s", "commit_interval_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"{getattr(self, name)} is not > 0", "use a positive number of seconds")
