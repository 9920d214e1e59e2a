"""The single writer of the region bank: collects each slice's windows, closes slices.

The stream's editor agent feeds this class the routed windows of its
1-partition topic and the slice marks every input partition forwards. A slice
closes when every input partition has marked it and every earlier slice is
closed. Its candidates are split into the protocol's roles, and:

- slice 0 (Set-up): fix the item vocabulary, train the Set-up backbone on the
  slice's training windows and start the slice step's state
  (raie/online/setup.py), as ``raie experiment`` does with S;
- later slices: run the slice step (raie/online/step.py), the one that
  ``raie experiment`` runs: prequential scores, then Update / Expand / Add,
  then the adapter jobs.

Windows are kept by key, so duplicates (a re-sent event, a restarted ingress)
count once, and windows of slices already closed are ignored.

``raie adapters rollback`` changes the committed live versions from another
process; before each slice trains, the session rereads them from the
artifacts, so the slice continues from the rolled-back versions and its
commit does not undo the rollback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace

import pyarrow as pa
import torch

from raie.backbones.lora import GLOBAL_ADAPTER
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.online.artifacts import Artifacts, SessionState
from raie.online.candidates import Candidate, ItemVocabulary
from raie.online.prequential import DEFAULT_METHODS, Scorer, check_methods
from raie.online.rows import MethodRows, region_rows, stream_rows, train_window_rows
from raie.online.setup import SETUP_SLICE, initial_state
from raie.online.slice_windows import role_windows, split_roles
from raie.online.state import SliceData, SliceResult
from raie.online.step import StepSettings, step
from raie.online.trainer import AdapterTrainer, JobEvents, SetupJob, ignore_events
from raie.recording import Row
from raie.regions.bank import RegionBank
from raie.regions.editor import SampleEdits
from raie.store import Store
from raie.strategies import RAIE

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class SliceOutcome:
    """What closing one slice did: the state it leads to, the step's typed result and the store rows.

    Its files are on disk but not yet committed: the caller first persists the
    rows, then :meth:`SliceSession.commit` makes the slice closed. A crash in
    between re-closes the slice after a restart, replacing rows and files alike.
    """

    slice: int
    candidates: int
    train_windows: int
    state: SessionState
    result: SliceResult | None  # None for Set-up, which builds the state rather than stepping it
    rows: MethodRows
    """method -> store table -> rows: RAIE's regions, edits, train jobs, windows and
    metrics under ``raie``; the windows and metrics of methods scored beside it."""
    seconds: float

    @property
    def bank(self) -> RegionBank:
        return self.state.bank

    @property
    def own_rows(self) -> dict[str, list[Row]]:
        """RAIE's rows for each table."""
        return self.rows.get(RAIE, {})

    def store(self, store: Store, run_id: str, seed: int) -> None:
        """Each (table, method)'s rows replace that slice's partition: closing a slice twice
        (after a restart) replaces its rows, and never touches another slice's."""
        for method, tables in self.rows.items():
            key = {"run_id": run_id, "method": method, "seed": seed, "slice": self.slice}
            for name, rows in tables.items():
                store.replace_partition(name, key, rows)


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
    on_job_event: JobEvents = ignore_events  # where the lifecycle of each adapter job is reported as it happens
    scored_methods: tuple[str, ...] = DEFAULT_METHODS
    _scorer: Scorer | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        check_methods(self.scored_methods)

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
        scored_methods: tuple[str, ...] = DEFAULT_METHODS,
    ) -> SliceSession:
        """A session continuing after the last slice the artifacts recorded as closed."""
        state = artifacts.load(backbone, config, device)
        if state is not None:
            trainer.warm_up()
        return cls(config, backbone, seed, partitions, trainer, artifacts, device, state, scored_methods=scored_methods)

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
        result = None
        if self.state is None:
            state, rows = await self._set_up(candidates, roles, catalogue)
        else:
            state, result = await self._step(slice_index, roles)
            rows = stream_rows(result, roles["train"], roles["eval"])
        await asyncio.to_thread(self.artifacts.write_slice, slice_index, state)
        return SliceOutcome(
            slice_index, len(candidates), len(roles["train"]), state, result, rows, time.perf_counter() - started
        )

    async def commit(self, outcome: SliceOutcome) -> None:
        """Make ``outcome``'s slice closed, on disk and in this session."""
        if outcome.slice != self.closed_slices:
            raise ValueError(f"slice {outcome.slice} cannot commit before slice {self.closed_slices}")
        started_from = None if outcome.result is None else outcome.result.before.live
        self.state = await asyncio.to_thread(self.artifacts.commit, outcome.state, started_from)
        if outcome.slice == SETUP_SLICE:
            self.trainer.warm_up()  # the Set-up backbone is now on disk for the trainer's workers

    async def _set_up(
        self, candidates: list[Candidate], roles: dict[str, list[Candidate]], catalogue: pa.Table | None
    ) -> tuple[SessionState, MethodRows]:
        seen = {c.target for c in candidates} | {item for c in candidates for item in c.context}
        listed = set() if catalogue is None else set(catalogue.column("item_id").to_pylist())
        vocabulary = ItemVocabulary.sorted_from(seen | listed, self.config.new_item_room)
        catalog = (
            Catalog.anonymous(len(vocabulary))
            if catalogue is None
            else Catalog.from_items(catalogue, list(vocabulary.item_ids))
        )
        length = self.config.protocol.context_len
        train = role_windows(roles["train"], vocabulary, length).windows
        valid = role_windows(roles["valid"], vocabulary, length).windows
        model = await self.trainer.train_setup(SetupJob(self.backbone, self.config, catalog, train, valid, self.seed))
        step_state, routes = await asyncio.to_thread(initial_state, model, train, self.config, self.seed, self.device)
        state = SessionState(vocabulary, step_state)
        await asyncio.to_thread(self.artifacts.write_setup, state, catalog)
        # The Set-up windows build the regions rather than edit them: each row names its region, no op.
        bank = step_state.bank
        windows = train_window_rows(SETUP_SLICE, roles["train"], SampleEdits.unedited(bank.ids, routes))
        return state, {RAIE: {"regions": region_rows(bank, bank, SETUP_SLICE), "windows": windows}}

    async def _step(self, slice_index: int, roles: dict[str, list[Candidate]]) -> tuple[SessionState, SliceResult]:
        self.state = await asyncio.to_thread(self._with_committed_live)
        length = self.config.protocol.context_len
        # Items first seen in this slice take free rows before any of its windows is encoded,
        # as the offline runner knows every item of the timeline from the start.
        candidates = [c for role in roles.values() for c in role]
        vocabulary, homeless = self.state.vocabulary.grown(item for c in candidates for item in (c.target, *c.context))
        if homeless:
            LOG.warning(
                "slice %d: %d new items found no free item row (new_item_room is used up); they read as "
                "padding and teach nothing. Raise new_item_room before the next Set-up.",
                slice_index,
                len(homeless),
            )
        train, valid, evaluate = (role_windows(roles[r], vocabulary, length) for r in ("train", "valid", "eval"))
        data = SliceData(
            slice_index,
            train.windows,
            valid.windows,
            evaluate.windows,
            train.representations,
            valid.representations,
            evaluate.representations,
        )
        if self._scorer is None:
            self._scorer = Scorer(self.config, self.artifacts.registry, self.device)
        settings = StepSettings(self.config, self.seed, self.scored_methods)
        result = await step(
            self.state.step, data, self.trainer, settings, self.artifacts, self.device, self._scorer, self.on_job_event
        )
        if GLOBAL_ADAPTER not in result.state.live and any(
            d.adapter == GLOBAL_ADAPTER for d in result.training.decisions
        ):
            # The guard scored a first global version and rejected it: the scorer's model still holds
            # its weights (a loaded adapter is never unloaded), so the next slice scores with a fresh one.
            self._scorer = None
        return SessionState(vocabulary, result.state), result

    def _with_committed_live(self) -> SessionState:
        """The session's state with the live versions ``state.json`` holds now: a rollback since
        this session loaded or committed them wins, or the slice's commit would undo it."""
        assert self.state is not None
        closed, live = self.artifacts.committed()
        if closed != self.state.closed_slices or live == self.state.live:
            return self.state
        LOG.warning(
            "slice %d continues from the committed adapter versions %s, not %s: they were rolled back",
            closed,
            live,
            self.state.live,
        )
        return SessionState(self.state.vocabulary, replace(self.state.step, live=live))
