"""Do RAIE's regions recover the interest groups of the local-drift scenario? ARI against the true groups.

Writes the default ``local-drift`` synthetic Yelp timeline (raie/data/synthetic_local.py:
stable, shifting and new interest groups) into a temporary folder, reads it with
the Yelp loader and the Yelp preset's preprocessing and protocol, and trains a
small Set-up SASRec on S (few epochs on a sample of S's training windows, so
the whole run stays within about 3 minutes on 2 CPU cores). Then, as
``raie experiment`` does:

- **Set-up regions**: spherical k-means on the frozen representations of all of
  S's training windows (``initial_state``); each S window's region is its top route.
- **Edited regions**: F's training windows, in event-time order, through the
  region editor from the Set-up bank (``edit_slice``, the slice step's edit);
  each F window's region is its owner after the edits. For reference, the same
  F windows against the unedited Set-up bank (the w/o KE line).

Prints windows per group and block, then the adjusted Rand index of each
assignment against the windows' users' true groups (raie/regions/recovery.py),
the number of regions, the edit ops, and F's group x region table.

    python bench/region_recovery.py [--seed 0] [--epochs 2] [--train-windows 30000] [--sparse]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np

from raie.config import ExperimentConfig, SASRecConfig, TrainConfig
from raie.config_files import load_config, preset_path
from raie.data.synthetic_groups import GroupTruth, read_groups
from raie.data.synthetic_local import SPARSE_USERS_PER_GROUP, LocalDriftConfig, write_local_drift_yelp
from raie.device import default_device
from raie.experiment import ExperimentRequest, prepare_data
from raie.online.setup import initial_state
from raie.online.setup_model import train_setup_on
from raie.online.state import SliceData
from raie.online.step import StepSettings, edit_slice
from raie.protocol.blocks import ProtocolData
from raie.regions.recovery import Recovery, score_regions, window_groups
from raie.regions.router import Router
from raie.tabular import format_text_table

SMALL_SASREC = SASRecConfig(hidden=32, blocks=1, heads=1, dropout=0.2)
"""Half the preset's width and one block: routing needs a representation that separates
interests, not the best recommender, and this trains several times faster on CPU."""

UPDATE_SLICE = 1
"""F is the offline protocol's one update slice; S is slice 0."""


def bench_config(epochs: int) -> ExperimentConfig:
    """The Yelp preset (its protocol, preprocessing and regions) with a small, quick Set-up model."""
    preset = load_config(preset_path("yelp"))
    # Small batches: a few hundred steps are what separates the groups (with 120 steps of 512 the
    # representations still share one direction and k-means cuts across groups). patience 0: every
    # epoch runs and no validation pass is spent on a model that is not the point.
    train = TrainConfig(epochs=epochs, batch_size=128, lr=3e-3, patience=0)
    return dataclasses.replace(preset, sasrec=SMALL_SASREC, setup_train=train)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, the model and the regions")
    parser.add_argument("--epochs", type=int, default=2, help="Set-up epochs")
    parser.add_argument(
        "--sparse", action="store_true", help="the scenario at Yelp's sparsity (3,000 users per group; slower)"
    )
    parser.add_argument(
        "--train-windows", type=int, default=30000, help="S training windows the model trains on (0: all)"
    )
    args = parser.parse_args()
    config = bench_config(args.epochs)
    device = default_device()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scenario = LocalDriftConfig(seed=args.seed)
        if args.sparse:
            scenario = LocalDriftConfig(seed=args.seed, sparse=True, users_per_group=SPARSE_USERS_PER_GROUP)
        write_local_drift_yelp(folder, scenario)
        truth = read_groups(folder)
        request = ExperimentRequest("yelp", folder, "sasrec", ("raie",), (args.seed,), folder / "store", config)
        data = prepare_data(request)
    print(f"data: {time.perf_counter() - started:.0f} s, {len(data.positives)} positives, on {device}", flush=True)
    print(window_table(data, truth), flush=True)

    s_train, f_train = data.block("S").train, data.block("F").train
    sample = np.random.default_rng(args.seed).permutation(len(s_train))
    if args.train_windows:
        sample = sample[: args.train_windows]
    clock = time.perf_counter()
    model = train_setup_on(
        "sasrec", config, data.catalog, s_train.take(np.sort(sample)), data.block("S").valid, args.seed, device
    )
    print(f"Set-up SASRec: {len(sample)} windows x {args.epochs} epochs, {time.perf_counter() - clock:.0f} s")

    clock = time.perf_counter()
    state, setup_routes = initial_state(model, s_train, config, args.seed, device)
    empty = f_train.take(np.zeros(0, dtype=np.int64))
    f_slice = SliceData(UPDATE_SLICE, f_train, data.block("F").valid, empty)
    order = f_slice.time_order()
    edited = edit_slice(state, f_slice, order, StepSettings(config, args.seed, ("raie",)), device)
    f_windows = f_train.take(order)  # the order edited.train_rep is in
    # Each window's region is its nearest (top) region, with no fallback, after / without the edits.
    after = Router(model, edited.bank, config.regions).nearest(edited.train_rep)
    fixed = Router(model, state.bank, config.regions).nearest(edited.train_rep)
    print(f"regions: {time.perf_counter() - clock:.0f} s; F edits {edited.edits.totals()}")

    users, groups = data.positives.user_ids, truth.user_group
    scores = {
        "Set-up regions on S": score_regions(state.bank.ids[setup_routes.top], s_train.user, users, groups),
        "edited regions on F": score_regions(after, f_windows.user, users, groups),
        "Set-up regions on F, unedited (w/o KE)": score_regions(fixed, f_windows.user, users, groups),
    }
    rows = [[name, f"{s.ari:.3f}", str(s.regions), str(s.groups), str(s.windows)] for name, s in scores.items()]
    print(format_text_table(["assignment", "ARI", "regions", "groups", "windows"], rows))
    print(f"regions in the bank: {len(state.bank)} after Set-up, {len(edited.bank)} after F")
    print("F windows, true group (rows) x edited region (columns):")
    print(group_region_table(scores["edited regions on F"], truth))
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


def window_table(data: ProtocolData, truth: GroupTruth) -> str:
    """Training windows per true group and block."""
    names = [b.name for b in data.blocks]
    counts = [
        np.bincount(window_groups(b.train.user, data.positives.user_ids, truth.user_group), minlength=len(truth.groups))
        for b in data.blocks
    ]
    rows = [[str(info.group), info.kind.value, *(str(int(c[info.group])) for c in counts)] for info in truth.groups]
    return format_text_table(["group", "kind", *(f"{n} train windows" for n in names)], rows)


def group_region_table(score: Recovery, truth: GroupTruth) -> str:
    rows = [
        [f"{g} {truth.kind_of(int(g)).value}", *map(str, row)]
        for g, row in zip(score.group_labels, score.table, strict=True)
    ]
    return format_text_table(["group", *(f"r{r}" for r in score.region_labels)], rows)


if __name__ == "__main__":
    raise SystemExit(main())
