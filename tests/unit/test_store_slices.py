"""Slice partitions: a slice's rows replace only that slice's, and layout-1 stores migrate to them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raie.store import SCHEMA_VERSION, Store, StoreError, table_spec
from raie.store.migrations import split_run_partitions_by_slice

pytestmark = pytest.mark.unit

RUN = {"run_id": "stream-1", "method": "raie", "seed": 0}


def edits(slice_index: int, n: int) -> list[dict[str, object]]:
    return [{"region_id": r, "op": "update", "count": 10 * slice_index + r} for r in range(n)]


def slice_counts(store: Store, table: str = "edits") -> dict[int, int]:
    rows = store.query(f"SELECT slice, count(*) AS n FROM {table} GROUP BY slice ORDER BY slice").to_pylist()
    return {r["slice"]: r["n"] for r in rows}


def test_a_slice_written_again_replaces_only_its_own_rows(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store:
        for slice_index in (1, 2):
            store.replace_partition("edits", RUN | {"slice": slice_index}, edits(slice_index, 3))
        store.replace_partition("edits", RUN | {"slice": 1}, edits(1, 2))
        assert slice_counts(store) == {1: 2, 2: 3}
        # Nothing to record this time: the slice's earlier rows go, the table stays queryable.
        store.replace_partition("edits", RUN | {"slice": 2}, [])
        assert slice_counts(store) == {1: 2}
        store.replace_partition("edits", RUN | {"slice": 1}, [])
        assert slice_counts(store) == {}


def test_a_partition_key_must_name_every_partition_column(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as store, pytest.raises(StoreError, match="partitioned by"):
        store.replace_partition("edits", RUN, edits(1, 1))


def test_an_arrow_table_without_key_columns_is_written_to_the_key(tmp_path: Path) -> None:
    rows = pa.table({"region_id": [0, 1], "op": ["add", "expand"], "count": [4, 5]})
    with Store.open(tmp_path / "s") as store:
        assert store.replace_partition("edits", RUN | {"slice": 3}, rows) == 2
        assert store.read("edits").column("slice").to_pylist() == [3, 3]


def _write_layout_1(root: Path) -> Path:
    """A store as layout 1 wrote it: edits of slices 0-2 in one (run, method, seed) file."""
    Store.open(root).close()
    spec = table_spec("edits")
    rows = pa.Table.from_pylist(
        [RUN | {"slice": s} | row for s in (0, 1, 2) for row in edits(s, 2)], schema=spec.schema
    )
    old = root / "edits" / "run_id=stream-1" / "method=raie" / "seed=0" / "part.parquet"
    old.parent.mkdir(parents=True)
    pq.write_table(rows, old)
    manifest = json.loads((root / "store.json").read_text())
    (root / "store.json").write_text(json.dumps(manifest | {"schema_version": 1}))
    return old


def test_a_layout_1_store_is_split_into_slice_partitions_when_opened(tmp_path: Path) -> None:
    root = tmp_path / "s"
    old = _write_layout_1(root)
    with Store.open(root) as store:
        assert slice_counts(store) == {0: 2, 1: 2, 2: 2}
        assert not old.exists()
        assert sorted(p.name for p in old.parent.iterdir()) == ["slice=0", "slice=1", "slice=2"]
        # Migrated partitions are ordinary slice partitions: re-running slice 1 replaces it alone.
        store.replace_partition("edits", RUN | {"slice": 1}, edits(1, 1))
        assert slice_counts(store) == {0: 2, 1: 1, 2: 2}
    assert json.loads((root / "store.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_an_interrupted_migration_run_again_gives_the_same_partitions(tmp_path: Path) -> None:
    root = tmp_path / "s"
    old = _write_layout_1(root)
    saved = old.read_bytes()
    split_run_partitions_by_slice(root)
    old.write_bytes(saved)  # as if the step had stopped before removing the old file
    with Store.open(root) as store:
        assert slice_counts(store) == {0: 2, 1: 2, 2: 2}
