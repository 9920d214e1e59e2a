"""The single writer of the region bank: collects each slice's windows, closes slices.

The stream's editor agent feeds this class the routed windows of its
1-partition topic and the slice marks every input partition forwards. A slice
closes when every input partition has marked it and every earlier slice is
closed. Closing applies the offline runner's steps to the slice's windows,
in event-time order, so the stream and ``raie experiment`` build the same bank:

- slice 0 (Set-up): fix the item vocabulary, train the Set-up backbone on the
  slice's training windows, build the regions with spherical k-means;
- later slices: Update / Expand / Add with the training windows' frozen
  representations, then train the global and the changed regions' adapters.

Windows are kept by key, so duplicates (a re-sent event, a restarted ingress)
count once, and windows of slices already closed are ignored.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import torch

from raie.backbones.base import SequentialRecommender
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.online.adapter_job import JobInput
from raie.online.artifacts import Artifacts, SessionState
from raie.online.candidates import Candidate, ItemVocabulary
from raie.online.slice_training import SlicePlan, train_slice
from raie.online.slice_windows import in_time_order, role_windows, split_roles
from raie.online.trainer import AdapterTrainer, JobEvent, JobEvents, SetupJob
from raie.protocol.windows import Windows
from raie.recording import Row
from raie.regions.bank import RegionBank
from raie.regions.editor import RegionEditor
from raie.regions.router import Router, represent_windows
from raie.strategies.raie import OwnedWindows, edit_rows, region_rows


async def _ignore(event: JobEvent) -> None:
    return None


@dataclass(frozen=True)
class SliceOutcome:
    """What closing one slice did: the state it leads to, with the store rows it produced.

    Its files are on disk but not yet committed: the caller first persists the
    rows, then :meth:`SliceSession.commit` makes the slice closed. A crash in
    between re-closes the slice after a restart, replacing rows and files alike.
    """

    slice: int
    candidates: int
    train_windows: int
    state: SessionState
    rows: dict[str, list[Row]]  # table name -> rows (regions, edits, train_jobs)
    seconds: float

    @property
    def bank(self) -> RegionBank:
        return self.state.bank


@dataclass
class SliceSession:
    config: ExperimentConfig
    backbone: str
    seed: int
    partitions: int
    trainer: AdapterTrainer
    artifacts: Artifacts
    device: torch.device
    state: SessionState | None = None
    pending: dict[int, dict[tuple[str, int, int], Candidate]] = field(default_factory=lambda: defaultdict(dict))
    marks: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    on_job_event: JobEvents = _ignore  # where the lifecycle of each adapter job is reported as it happens

    @classmethod
    def resume(
        cls,
        config: ExperimentConfig,
        backbone: str,
        seed: int,
        partitions: int,
        trainer: AdapterTrainer,
        artifacts: Artifacts,
        device: torch.device,
    ) -> SliceSession:
        """A session continuing after the last slice the artifacts recorded as closed."""
        state = artifacts.load(backbone, config)
        if state is not None:
            trainer.warm_up()
        return cls(config, backbone, seed, partitions, trainer, artifacts, device, state)

    @property
    def closed_slices(self) -> int:
        return 0 if self.state is None else self.state.closed_slices

    def add(self, candidate: Candidate) -> bool:
        """Keep a window for its slice; False when its slice is already closed."""
        if candidate.slice < self.closed_slices:
            return False
        self.pending[candidate.slice][candidate.key] = candidate
        return True

    def mark(self, slice_index: int, partition: int) -> list[int]:
        """Record that ``partition`` finished ``slice_index``; the slices now ready to close, in order."""
        if slice_index >= self.closed_slices:
            self.marks[slice_index].add(partition)
        ready, next_slice = [], self.closed_slices
        while len(self.marks.get(next_slice, ())) >= self.partitions:
            ready.append(next_slice)
            next_slice += 1
        return ready

    async def close(self, slice_index: int, catalogue: pa.Table | None = None) -> SliceOutcome:
        """Compute and write the next slice's state; ``catalogue`` (ITEMS_SCHEMA) names the items at Set-up.

        The session stays on the previous state until :meth:`commit`."""
        if slice_index != self.closed_slices:
            raise ValueError(f"slice {slice_index} cannot close before slice {self.closed_slices}")
        started = time.perf_counter()
        candidates = list(self.pending.pop(slice_index, {}).values())
        self.marks.pop(slice_index, None)
        roles = split_roles(candidates, self.config.protocol)
        if self.state is None:
            state, rows = await self._set_up(candidates, roles, catalogue)
        else:
            state, rows = await self._update(slice_index, roles)
        return SliceOutcome(
            slice_index, len(candidates), len(roles["train"]), state, rows, time.perf_counter() - started
        )

    async def commit(self, outcome: SliceOutcome) -> None:
        """Make ``outcome``'s slice closed, on disk and in this session."""
        if outcome.slice != self.closed_slices:
            raise ValueError(f"slice {outcome.slice} cannot commit before slice {self.closed_slices}")
        await asyncio.to_thread(self.artifacts.commit, outcome.state)
        self.state = outcome.state
        if outcome.slice == 0:
            self.trainer.warm_up()  # the Set-up backbone is now on disk for the trainer's workers

    async def _set_up(
        self, candidates: list[Candidate], roles: dict[str, list[Candidate]], catalogue: pa.Table | None
    ) -> tuple[SessionState, dict[str, list[Row]]]:
        seen = {c.target for c in candidates} | {item for c in candidates for item in c.context}
        listed = set() if catalogue is None else set(catalogue.column("item_id").to_pylist())
        vocabulary = ItemVocabulary.sorted_from(seen | listed)
        catalog = (
            Catalog.anonymous(len(vocabulary))
            if catalogue is None
            else Catalog.from_items(catalogue, list(vocabulary.item_ids))
        )
        length = self.config.protocol.context_len
        train = role_windows(roles["train"], vocabulary, length).windows
        valid = role_windows(roles["valid"], vocabulary, length).windows
        model = await self.trainer.train_setup(SetupJob(self.backbone, self.config, catalog, train, valid, self.seed))
        bank = await asyncio.to_thread(self._build_bank, model, train)
        state = SessionState(1, vocabulary, model, bank, train, {})
        await asyncio.to_thread(self.artifacts.write_slice, 0, state, catalog)
        return state, {"regions": region_rows(bank, bank, 0)}

    def _build_bank(self, model: SequentialRecommender, train: Windows) -> RegionBank:
        cfg = self.config.regions
        representations = represent_windows(model, train, self.device)
        return RegionBank.build(representations, cfg.regions, quantile=cfg.radius_quantile, seed=self.seed)

    async def _update(
        self, slice_index: int, roles: dict[str, list[Candidate]]
    ) -> tuple[SessionState, dict[str, list[Row]]]:
        assert self.state is not None
        state, length = self.state, self.config.protocol.context_len
        plan, bank = await asyncio.to_thread(self._edit, slice_index, roles)
        training = await train_slice(self.trainer, plan, state.setup_model, self.on_job_event)
        after = replace(
            state,
            closed_slices=slice_index + 1,
            bank=bank,
            history=Windows.concat([state.history, plan.data.new.windows], length),
            live=training.live,
        )
        await asyncio.to_thread(self.artifacts.write_slice, slice_index, after)
        return after, {
            "regions": region_rows(state.bank, bank, slice_index),
            "edits": edit_rows(plan.edits),
            **training.rows(),
        }

    def _edit(self, slice_index: int, roles: dict[str, list[Candidate]]) -> tuple[SlicePlan, RegionBank]:
        """Edit a copy of the bank with the slice's training windows in time order, and write
        the jobs' input; the training plan and the bank after the edits."""
        assert self.state is not None
        state, cfg, length = self.state, self.config.regions, self.config.protocol.context_len
        new = role_windows(in_time_order(roles["train"]), state.vocabulary, length)
        valid = role_windows(roles["valid"], state.vocabulary, length)
        bank = state.bank.copy()
        router = Router(state.setup_model, bank, cfg)
        new_rep = self._representations(new.representations, new.windows, router)
        editor = RegionEditor(bank, cfg, seed=self.seed, slice_index=slice_index)
        editor.edit(new_rep)
        edits = editor.close_slice()
        old_rep = represent_windows(state.setup_model, state.history, self.device)
        valid_rep = self._representations(valid.representations, valid.windows, router)
        data = JobInput(
            new=OwnedWindows(new.windows, router.nearest(new_rep)),
            old=OwnedWindows(state.history, router.nearest(old_rep)),
            valid=OwnedWindows(valid.windows, router.nearest(valid_rep)),
            centres=bank.centres,
            region_ids=bank.ids,
        )
        input_path = self.artifacts.train_input(slice_index)
        data.save(input_path)
        plan = SlicePlan(
            slice_index, self.config, self.seed, input_path, data, edits, self.artifacts.registry.root, state.live
        )
        return plan, bank

    def _representations(self, carried: np.ndarray | None, windows: Windows, router: Router) -> np.ndarray:
        """The representations the ingress computed, or computed here when a window arrived without one."""
        if carried is not None:
            return carried
        return router.represent_windows(windows, self.device)
