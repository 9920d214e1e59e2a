"""Reproducible numbers (issue #15 item 7): pinned threads and deterministic kernels,
a tie order that no id coding can change, and the run manifest in the store."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from raie.config import ExperimentConfig, PreprocessConfig, ProtocolConfig
from raie.data.dataset import load_dataset
from raie.data.schema import INTERACTIONS_SCHEMA
from raie.errors import ConfigError
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import Positives, _Codes, _codes, _positives, _Rows, preprocess
from raie.protocol.windows import Windows
from raie.run_manifest import (
    SOURCE_ROOT,
    UNKNOWN,
    cpu_model,
    git_state,
    package_versions,
    record_run_manifest,
    run_manifest,
    windows_sha256,
)
from raie.seeding import make_deterministic
from raie.store import Store
from raie.store.manifest_tables import RECORDED_PACKAGES, RUN_MANIFESTS
from tests.paths import ML_LATEST_SMALL

pytestmark = pytest.mark.unit

TIES_PROTOCOL = ProtocolConfig(context_len=2, eval_stride=1, holdout_targets=1)


@pytest.fixture
def torch_state() -> Iterator[None]:
    """Put back the process-wide torch settings a test changes, so later tests run as before.

    The inter-op pool cannot be put back (torch sets it once); its size changes no value.
    """
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark = torch.backends.cudnn.benchmark
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.backends.cudnn.benchmark = benchmark


def test_make_deterministic_pins_threads_and_turns_on_strict_deterministic_kernels(torch_state: None) -> None:
    assert make_deterministic(1) == 1
    assert torch.get_num_threads() == 1
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()  # CPU: a missing kernel fails loudly
    assert not torch.backends.cudnn.benchmark


def test_make_deterministic_without_a_count_keeps_torchs_and_can_run_twice(torch_state: None) -> None:
    current = torch.get_num_threads()
    assert make_deterministic() == current
    # By now the inter-op pool is fixed in this process; asking for another size must not fail.
    assert make_deterministic(current + 1) == current + 1


def test_a_thread_count_below_one_is_a_config_error(torch_state: None) -> None:
    with pytest.raises(ConfigError, match="threads"):
        make_deterministic(0)


def interactions(rows: list[tuple[str, str, int]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"user_id": u, "item_id": i, "rating": 5.0, "ts": datetime.fromtimestamp(t, UTC)} for u, i, t in rows],
        schema=INTERACTIONS_SCHEMA,
    )


TIED = [
    # u rates three items in one second: "10" < "100" < "9" as strings, the reverse of their numbers.
    *[("u", i, 1) for i in ("9", "100", "10")],
    ("u", "7", 2),
    ("u", "8", 3),
    *[("v", i, 1) for i in ("b", "a")],
    ("v", "c", 2),
    ("v", "9", 3),
    ("v", "7", 4),
]


def sequences(positives: Positives) -> dict[str, list[str]]:
    """Each user's positives as raw item ids, in the stored order."""
    out: dict[str, list[str]] = {}
    for user, item in zip(positives.user.tolist(), positives.item.tolist(), strict=True):
        out.setdefault(positives.user_ids[user], []).append(positives.item_ids[item - 1])
    return out


def test_same_second_items_follow_their_raw_ids_as_strings() -> None:
    positives = preprocess(interactions(TIED), PreprocessConfig(k_core=0))
    assert sequences(positives) == {"u": ["10", "100", "9", "7", "8"], "v": ["a", "b", "c", "9", "7"]}
    assert positives.item_ids == sorted(positives.item_ids)  # codes rank the ids


def test_movielens_ties_are_ordered_by_movie_id_string() -> None:
    positives = preprocess(load_dataset("movielens", ML_LATEST_SMALL).interactions, PreprocessConfig(k_core=0))
    key = positives.user * (positives.ts.max() + 1) + positives.ts
    tied = np.flatnonzero(key[1:] == key[:-1])
    assert len(tied) > 1000  # MovieLens users rate many films in the same second
    ids = np.asarray(positives.item_ids, dtype=object)
    assert all(a < b for a, b in zip(ids[positives.item[tied] - 1], ids[positives.item[tied + 1] - 1], strict=True))


def recoded(raw: pa.Table, seed: int) -> Positives:
    """Positives from ``raw`` after giving users and items other integer codes.

    Preprocessing codes ids itself and offers no way to pick a coding, so this
    goes through its private pieces: ``_positives`` must give the same positives
    whatever codes it is handed.
    """
    rng = np.random.default_rng(seed)

    def permuted(codes: _Codes) -> _Codes:
        new_code = rng.permutation(len(codes.names))
        names = [""] * len(codes.names)
        for old, new in enumerate(new_code):
            names[new] = codes.names[old]
        return _Codes(new_code[codes.indices], names)

    users, items = permuted(_codes(raw["user_id"])), permuted(_codes(raw["item_id"]))
    ts = raw["ts"].cast(pa.int64()).to_numpy()
    rows = _Rows(users.indices, items.indices, ts, np.full(len(ts), 5.0, dtype=np.float32))
    return _positives(rows, users, items, ())


def as_raw_ids(windows: Windows, data: ProtocolData) -> list[tuple[str, tuple[str, ...], str, int]]:
    items = ["<pad>", *data.positives.item_ids]
    return [
        (data.positives.user_ids[u], tuple(items[i] for i in context), items[t], ts)
        for u, context, t, ts in zip(
            windows.user.tolist(), windows.context.tolist(), windows.target.tolist(), windows.ts.tolist(), strict=True
        )
    ]


def test_recoding_ids_leaves_every_window_unchanged_as_raw_ids() -> None:
    raw = interactions(TIED)
    reference = build_protocol(recoded(raw, 0), TIES_PROTOCOL)
    for seed in (1, 2, 3):
        other = build_protocol(recoded(raw, seed), TIES_PROTOCOL)
        for mine, theirs in zip(reference.blocks, other.blocks, strict=True):
            for part in ("train", "valid", "holdout", "eval"):
                assert as_raw_ids(getattr(mine, part), reference) == as_raw_ids(getattr(theirs, part), other)
        assert windows_sha256(other) == windows_sha256(reference)


def test_windows_hash_is_stable_and_sees_one_changed_window(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig
) -> None:
    again = build_protocol(synthetic_data.positives, fast_config.protocol)
    assert windows_sha256(again) == windows_sha256(synthetic_data)
    assert re.fullmatch(r"[0-9a-f]{64}", windows_sha256(synthetic_data))
    first = synthetic_data.blocks[0]
    target = first.train.target.copy()
    target[0] = target[0] % synthetic_data.n_items + 1
    changed_train = dataclasses.replace(first.train, target=target)
    changed = dataclasses.replace(
        synthetic_data, blocks=(dataclasses.replace(first, train=changed_train), *synthetic_data.blocks[1:])
    )
    assert windows_sha256(changed) != windows_sha256(synthetic_data)


def manifest(data: ProtocolData, config: ExperimentConfig, threads: int = 2) -> dict[str, object]:
    return run_manifest(
        data,
        config,
        dataset="yelp",
        backbone="sasrec",
        methods=("base", "raie"),
        seeds=(0, 1),
        threads=threads,
        device=torch.device("cpu"),
    )


def test_manifest_is_one_row_queryable_in_sql_and_a_rerun_replaces_it(
    synthetic_data: ProtocolData, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    with Store.open(tmp_path / "store") as store:
        assert record_run_manifest(store, "run-1", manifest(synthetic_data, fast_config, threads=2)) == 1
        assert record_run_manifest(store, "run-1", manifest(synthetic_data, fast_config, threads=3)) == 1
        rows = store.query(
            "SELECT run_id, threads, seeds, methods, windows_sha256, json_extract_string(config, '$.dataset') AS ds, "
            "torch_version, numpy_version, python_version, cpu, device FROM run_manifests"
        ).to_pylist()
        assert store.read(RUN_MANIFESTS.name).schema == RUN_MANIFESTS.schema
    assert len(rows) == 1
    row = rows[0]
    assert (row["run_id"], row["threads"], row["seeds"], row["methods"]) == ("run-1", 3, [0, 1], ["base", "raie"])
    assert row["windows_sha256"] == windows_sha256(synthetic_data)
    assert row["ds"] == fast_config.dataset
    assert torch.__version__.startswith(row["torch_version"])
    assert row["numpy_version"] == np.__version__
    assert row["python_version"] and row["cpu"] and row["device"] == "cpu"


def test_every_recorded_package_has_a_column_and_a_missing_one_is_null() -> None:
    versions = package_versions((*RECORDED_PACKAGES, "raie-no-such-distribution"))
    assert versions["raie-no-such-distribution"] is None
    assert versions["numpy"] == np.__version__
    assert {f"{p}_version" for p in RECORDED_PACKAGES} <= set(RUN_MANIFESTS.schema.names)


def test_git_state_outside_a_checkout_is_unknown(tmp_path: Path) -> None:
    assert git_state(tmp_path) == (UNKNOWN, None)


def test_git_state_of_this_checkout_is_a_commit_and_a_dirty_flag() -> None:
    if not (SOURCE_ROOT / ".git").exists():
        pytest.skip("raie does not run from a git checkout here")
    commit, dirty = git_state(SOURCE_ROOT)
    assert re.fullmatch(r"[0-9a-f]{40}", commit) or commit == UNKNOWN  # git may refuse a foreign-owned tree
    assert dirty is None or isinstance(dirty, bool)


def test_cpu_model_reads_proc_cpuinfo_and_falls_back_to_platform(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU @ 3.00GHz\nflags\t: fpu\n")
    assert cpu_model(cpuinfo) == "Example CPU @ 3.00GHz"
    assert cpu_model(tmp_path / "absent")  # platform's answer, or "unknown"
