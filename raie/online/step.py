"""The slice step: one closed slice, scored, edited and trained on. Offline and stream alike.

``raie experiment`` runs it over the protocol's update blocks with the
in-process trainer; the stream's editor runs it each time a slice closes,
with the Ray pool. In order:

1. score the slice's evaluation windows with the state it starts from
   (prequential: nothing has learnt from the slice yet);
2. edit a copy of the bank with the slice's training windows in event-time
   order (Update / Expand / Add), or keep it fixed (the w/o KE line);
3. write the jobs' input: the new windows, the rehearsal memory and the
   validation windows, each with the region that owns it after the edits;
4. train: the global adapter and every trained baseline first, then each
   edited or new region's adapter (raie/online/slice_training.py); the
   promotion guard (raie/online/promotion.py) lets each new version serve only
   when the model that serves it does not lose more than
   ``promotion.max_regression`` on the slice's validation windows;
5. offer the slice's training windows to the rehearsal memory.

Work and bytes are bounded by the slice's windows plus the memory's
capacity, never by the history before it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
import torch

from raie.config import ExperimentConfig
from raie.online.adapter_job import JobInput
from raie.online.artifacts import Artifacts
from raie.online.prequential import Scorer
from raie.online.promotion import guard_promotions
from raie.online.setup import memory_seed
from raie.online.slice_training import SlicePlan, train_slice
from raie.online.state import SliceData, SliceResult, StepState
from raie.online.trainer import AdapterTrainer, JobEvents, ignore_events
from raie.regions.bank import RegionBank
from raie.regions.editor import RegionEditor, SampleEdits, SliceEdits
from raie.regions.router import Router
from raie.strategies import build_strategy
from raie.strategies.global_lora import TRAINED_BASELINES
from raie.strategies.raie import OwnedWindows


@dataclass(frozen=True)
class StepSettings:
    """What one line of methods (raie/strategies/base.py) needs from each slice."""

    config: ExperimentConfig
    seed: int
    methods: tuple[str, ...]  # scored, and trained where they train
    editing: bool = True  # False: regions stay as Set-up built them (w/o KE)

    @property
    def trains_global(self) -> bool:
        return any(build_strategy(m).uses_raie_state for m in self.methods)

    @property
    def trains_regions(self) -> bool:
        return any(build_strategy(m).serves == "routed" for m in self.methods)

    @property
    def baselines(self) -> tuple[str, ...]:
        return tuple(m for m in self.methods if m in TRAINED_BASELINES)


@dataclass(frozen=True)
class Edited:
    bank: RegionBank
    edits: SliceEdits
    samples: SampleEdits
    train_rep: np.ndarray  # in event-time order
    valid_rep: np.ndarray
    job_input: JobInput


async def step(
    state: StepState,
    data: SliceData,
    trainer: AdapterTrainer,
    settings: StepSettings,
    artifacts: Artifacts,
    device: torch.device,
    scorer: Scorer | None = None,
    events: JobEvents = ignore_events,
) -> SliceResult:
    """Close slice ``data.index`` from ``state``; ``scorer`` None skips the prequential scores."""
    if data.index != state.closed_slices:
        raise ValueError(f"slice {data.index} cannot close before slice {state.closed_slices}")
    started = time.perf_counter()
    scores = []
    if scorer is not None and len(data.evaluate):
        scores = await asyncio.to_thread(scorer.score, state, data.evaluate, data.eval_rep, settings.methods)
    order = data.time_order()
    edited = await asyncio.to_thread(edit_slice, state, data, order, settings, device)
    input_path = artifacts.train_input(data.index)
    await asyncio.to_thread(edited.job_input.save, input_path)
    plan = SlicePlan(
        data.index,
        settings.config,
        settings.seed,
        input_path,
        edited.job_input,
        edited.edits,
        artifacts.registry.root,
        state.live,
        settings.baselines,
        trains_global=settings.trains_global,
        trains_regions=settings.trains_regions,
    )
    training = await train_slice(trainer, plan, state.setup_model, events)
    trained = StepState(data.index + 1, state.setup_model, edited.bank, state.memory, training.live)
    promotion = await asyncio.to_thread(
        guard_promotions,
        state.live,
        trained,
        data.valid,
        edited.valid_rep,
        scorer or Scorer(settings.config, artifacts.registry, device),
        settings.config.promotion,
        (edited.job_input.new.windows, edited.train_rep),
    )
    training.live, training.decisions = promotion.live, promotion.decisions
    memory = await asyncio.to_thread(
        state.memory.offer, edited.job_input.new.windows, edited.train_rep, memory_seed(settings.seed, data.index)
    )
    after = StepState(data.index + 1, state.setup_model, edited.bank, memory, training.live)
    seconds = time.perf_counter() - started
    return SliceResult(data.index, state, after, edited.edits, edited.samples, order, training, scores, seconds)


def edit_slice(
    state: StepState, data: SliceData, order: np.ndarray, settings: StepSettings, device: torch.device
) -> Edited:
    """Edit a copy of the bank with the slice's training windows in ``order``; the jobs' input."""
    cfg = settings.config.regions
    bank = state.bank.copy()
    router = Router(state.setup_model, bank, cfg)
    new = data.train.take(order)
    new_rep = data.train_rep[order] if data.train_rep is not None else router.represent_windows(new, device)
    if settings.editing:
        editor = RegionEditor(bank, cfg, seed=settings.seed, slice_index=data.index)
        samples = editor.edit(new_rep, users=new.user)
        edits = editor.close_slice()
    else:
        # Fixed regions: each window goes to its nearest region, and every region that owns one counts as changed.
        samples = SampleEdits.unedited(bank.ids, router.routes(new_rep))
        edits = SliceEdits(data.index)
        edits.edited.update(int(r) for r in np.unique(samples.region))
    valid_rep = data.valid_rep if data.valid_rep is not None else router.represent_windows(data.valid, device)
    # A window belongs to the region whose adapter would serve it (FALLBACK: the global
    # adapter's alone), so each adapter trains and validates on the windows it will serve.
    job_input = JobInput(
        new=OwnedWindows(new, router.serving(new_rep)),
        old=OwnedWindows(state.memory.windows, router.serving(state.memory.representations)),
        valid=OwnedWindows(data.valid, router.serving(valid_rep)),
        centres=bank.centres,
        region_ids=bank.ids,
    )
    return Edited(bank, edits, samples, new_rep, valid_rep, job_input)
