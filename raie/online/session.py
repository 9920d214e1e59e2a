"""The single writer of the region bank: collects each slice's windows, closes slices.

The stream's editor agent feeds this class the routed windows of its
1-partition topic and the slice marks every input partition forwards. A slice
closes when every input partition has marked it and every earlier slice is
closed. Closing applies the offline runner's steps to the slice's windows,
in event-time order, so the stream and ``raie experiment`` build the same bank:

- slice 0 (Set-up): fix the item vocabulary, train the Set-up backbone on the
  slice's training windows, build the regions with spherical k-means;
- later slices: score the slice's evaluation windows with what served while
  it happened (prequential, raie/online/prequential.py), then Update / Expand
  / Add with the training windows' frozen representations, then train the
  global and the changed regions' adapters.

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
from raie.online.prequential import DEFAULT_METHODS, RAIE_METHOD, PrequentialScorer, check_methods, window_row
from raie.online.slice_training import SlicePlan, train_slice
from raie.online.slice_windows import in_time_order, role_windows, split_roles
from raie.online.trainer import AdapterTrainer, JobEvent, JobEvents, SetupJob
from raie.protocol.windows import Windows
from raie.recording import Row
from raie.regions.bank import RegionBank
from raie.regions.editor import RegionEditor, SampleEdits
from raie.regions.router import Router, represent_windows
from raie.regions.routing import Routes
from raie.store import Store
from raie.strategies.global_lora import TRAINED_BASELINES
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
    rows: dict[str, dict[str, list[Row]]]
    """method -> store table -> rows: RAIE's regions, edits, train jobs, windows and
    metrics under ``raie``; the windows and metrics of methods scored beside it."""
    seconds: float

    @property
    def bank(self) -> RegionBank:
        return self.state.bank

    @property
    def own_rows(self) -> dict[str, list[Row]]:
        """RAIE's rows for each table."""
        return self.rows.get(RAIE_METHOD, {})

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
    on_job_event: JobEvents = _ignore  # where the lifecycle of each adapter job is reported as it happens
    scored_methods: tuple[str, ...] = DEFAULT_METHODS
    _scorer: PrequentialScorer | None = field(default=None, repr=False)

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
        state = artifacts.load(backbone, config)
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
        if self.state is None:
            state, rows = await self._set_up(candidates, roles, catalogue)
        else:
            # Before the slice changes anything: the prequential scores.
            rows = await asyncio.to_thread(self._score, slice_index, roles["eval"])
            state, trained = await self._update(slice_index, roles)
            for method, tables in trained.items():
                for table, table_rows in tables.items():
                    rows.setdefault(method, {}).setdefault(table, []).extend(table_rows)
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
    ) -> tuple[SessionState, dict[str, dict[str, list[Row]]]]:
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
        bank, routes = await asyncio.to_thread(self._build_bank, model, train)
        state = SessionState(1, vocabulary, model, bank, train, {})
        await asyncio.to_thread(self.artifacts.write_slice, 0, state, catalog)
        # The Set-up windows build the regions rather than edit them: each row names its region, no op.
        member = SampleEdits(np.full(len(train), None), bank.ids[routes.top], routes.p1, routes.p2)
        windows = train_window_rows(0, roles["train"], member)
        return state, {RAIE_METHOD: {"regions": region_rows(bank, bank, 0), "windows": windows}}

    def _build_bank(self, model: SequentialRecommender, train: Windows) -> tuple[RegionBank, Routes]:
        """The regions of the Set-up windows, and how each window routes to them."""
        cfg = self.config.regions
        representations = represent_windows(model, train, self.device)
        bank = RegionBank.build(representations, cfg.regions, quantile=cfg.radius_quantile, seed=self.seed)
        return bank, bank.route(representations, rule=cfg.confidence, temperature=cfg.temperature)

    def _score(self, slice_index: int, evaluated: list[Candidate]) -> dict[str, dict[str, list[Row]]]:
        """Each scored method's ``windows`` and ``metrics`` rows for the slice, before it changes anything."""
        assert self.state is not None
        if self._scorer is None:
            self._scorer = PrequentialScorer(self.config, self.artifacts.registry, self.device, self.scored_methods)
        eval_windows = role_windows(evaluated, self.state.vocabulary, self.config.protocol.context_len)
        scores = self._scorer.score(
            slice_index, self.state, evaluated, eval_windows.windows, eval_windows.representations
        )
        return {s.method: {"windows": s.windows, "metrics": s.metrics} for s in scores}

    async def _update(
        self, slice_index: int, roles: dict[str, list[Candidate]]
    ) -> tuple[SessionState, dict[str, dict[str, list[Row]]]]:
        assert self.state is not None
        state, length = self.state, self.config.protocol.context_len
        plan, bank, windows = await asyncio.to_thread(self._edit, slice_index, roles)
        training = await train_slice(self.trainer, plan, state.setup_model, self.on_job_event)
        after = replace(
            state,
            closed_slices=slice_index + 1,
            bank=bank,
            history=Windows.concat([state.history, plan.data.new.windows], length),
            live=training.live,
        )
        await asyncio.to_thread(self.artifacts.write_slice, slice_index, after)
        own = {
            "regions": region_rows(state.bank, bank, slice_index),
            "edits": edit_rows(plan.edits),
            "windows": windows,
        }
        rows = training.rows()
        rows[RAIE_METHOD] = own | rows.get(RAIE_METHOD, {})
        return after, rows

    def _edit(self, slice_index: int, roles: dict[str, list[Candidate]]) -> tuple[SlicePlan, RegionBank, list[Row]]:
        """Edit a copy of the bank with the slice's training windows in time order, and write
        the jobs' input; the training plan, the bank after the edits and a row per edited window."""
        assert self.state is not None
        state, cfg, length = self.state, self.config.regions, self.config.protocol.context_len
        edited = in_time_order(roles["train"])
        new = role_windows(edited, state.vocabulary, length)
        valid = role_windows(roles["valid"], state.vocabulary, length)
        bank = state.bank.copy()
        router = Router(state.setup_model, bank, cfg)
        new_rep = self._representations(new.representations, new.windows, router)
        editor = RegionEditor(bank, cfg, seed=self.seed, slice_index=slice_index)
        samples = editor.edit(new_rep)
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
            slice_index,
            self.config,
            self.seed,
            input_path,
            data,
            edits,
            self.artifacts.registry.root,
            state.live,
            tuple(m for m in self.scored_methods if m in TRAINED_BASELINES),
        )
        return plan, bank, train_window_rows(slice_index, edited, samples)

    def _representations(self, carried: np.ndarray | None, windows: Windows, router: Router) -> np.ndarray:
        """The representations the ingress computed, or computed here when a window arrived without one."""
        if carried is not None:
            return carried
        return router.represent_windows(windows, self.device)


def train_window_rows(slice_index: int, candidates: list[Candidate], samples: SampleEdits) -> list[Row]:
    """``windows`` rows of a slice's training windows: the region, op and confidences each one got."""
    rows: list[Row] = []
    for i, c in enumerate(candidates):
        p1, p2, op = float(samples.p1[i]), float(samples.p2[i]), samples.op[i]
        rows.append(
            window_row(slice_index, "train", c)
            | {
                "region_id": int(samples.region[i]),
                "op": None if op is None else str(op),
                "p1": None if np.isnan(p1) else p1,
                "p2": None if np.isnan(p2) else p2,
            }
        )
    return rows
