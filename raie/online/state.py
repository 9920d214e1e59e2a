"""The typed objects of the slice step: what it starts from, what it is given, what it returns.

``StepState`` is everything a later slice needs (the stream persists it in
``raie/online/artifacts.py``); ``SliceData`` is one closed slice's windows by
protocol role; ``SliceResult`` is what the step did, from which the store rows
(``raie/online/rows.py``) and the stream's wire messages (``streams/``) are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from raie.backbones.base import SequentialRecommender
from raie.evaluation import Ranking
from raie.online.memory import RehearsalMemory
from raie.online.slice_training import SliceTraining
from raie.protocol.windows import Windows
from raie.regions.bank import RegionBank
from raie.regions.editor import SampleEdits, SliceEdits


@dataclass(frozen=True)
class StepState:
    closed_slices: int
    setup_model: SequentialRecommender  # frozen after Set-up; it routes and every adapter wraps it
    bank: RegionBank
    memory: RehearsalMemory
    live: dict[str, int]  # adapter name -> the registry version that serves


@dataclass(frozen=True)
class SliceData:
    """One closed slice's windows by protocol role (raie/protocol/roles.py), in protocol order:
    by user, then position. The step edits regions with ``train`` in event-time order."""

    index: int
    train: Windows
    valid: Windows
    evaluate: Windows  # scored before the slice changes anything (prequential); may be empty
    train_rep: np.ndarray | None = None  # frozen representations the stream's ingress computed
    valid_rep: np.ndarray | None = None
    eval_rep: np.ndarray | None = None

    def time_order(self) -> np.ndarray:
        """The order RAIE edits the slice in: event time, ties in protocol order (user, position),
        so the result does not depend on how partitions interleaved on the wire."""
        return np.argsort(self.train.ts, kind="stable")


@dataclass(frozen=True)
class MethodScore:
    """One method's ranking of a set of windows, with what served each window."""

    method: str
    ranking: Ranking
    adapter: list[str] | None = None  # the adapter that scored each window; None: the Set-up model
    region_id: list[int] | None = None  # routed methods: the serving region (-1: global fallback)
    p1: list[float] | None = None
    p2: list[float] | None = None
    seconds: float = 0.0  # wall time of scoring these windows (the cost table's scoring ms per window)


@dataclass(frozen=True)
class SliceResult:
    slice: int
    before: StepState
    state: StepState
    edits: SliceEdits
    samples: SampleEdits  # per training window, in event-time order
    time_order: np.ndarray  # positions of ``samples`` in the slice's protocol-ordered train windows
    training: SliceTraining  # every job's outcome and lifecycle events, and the versions live after
    scores: list[MethodScore] = field(default_factory=list)
    seconds: float = 0.0
