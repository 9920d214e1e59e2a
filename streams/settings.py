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
    """Events per embedding batch: one forward pass amortises its overhead over many windows."""
    ingress_linger_s: float = 0.1
    """How long a partial batch waits for more events: bounds the latency a batch adds."""
    sink_batch: int = 20_000
    """Interactions per Parquet chunk: few files, each flushed within ``sink_flush_s``."""
    sink_flush_s: float = 2.0
    """Longest wait before accepted interactions are durable and visible in the store."""
    trainer: Literal["ray", "in-process"] = "ray"
    """Where adapter jobs run: the Ray pool, or one at a time in a thread of the worker."""
    pool: RayPoolConfig = field(default_factory=RayPoolConfig)
    score_methods: tuple[str, ...] = DEFAULT_METHODS
    """Methods each slice is scored with before it is trained on (raie/online/prequential.py)."""

    def __post_init__(self) -> None:
        # Checked here too, not only by the CLI: tests and benchmarks build settings directly,
        # and a zero batch or wait would stall an agent instead of failing.
        for name in ("ingress_batch", "sink_batch"):
            if getattr(self, name) < 1:
                raise ConfigError(name, f"{getattr(self, name)} < 1", "use a positive number of events")
        for name in ("ingress_linger_s", "sink_flush_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(name, f"{getattr(self, name)} is not > 0", "use a positive number of seconds")
