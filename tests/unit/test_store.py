"""The store: typed roundtrips, idempotent partitions, views, versions, refusals."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raie.errors import RaieError
from raie.store import (
    EXPERIMENT_RESULTS,
    MIGRATIONS,
    SCHEMA_VERSION,
    Store,
    StoreError,
    TableSpec,
    decode_value,
    encode_value,
    register_table,
    table_spec,
)
from raie.store.tables import _REGISTRY

pytestmark = pytest.mark.unit

PROJECT_ROOT = Path(__file__).resolve().parents[2]

CREATED = dt.datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=dt.UTC)


def results(run_id: str = "run-1", method: str = "raie", seed: int = 0, value: float = 0.5) -> pa.Table:
    """Four experiment_results rows of one (run, method, seed) partition."""
    rows = [{"split": split, "metric": metric, "value": value} for split in ("S", "T") for metric in ("recall", "ndcg")]
    n = len(rows)
    return pa.table(
        {
            "run_id": [run_id] * n,
            "dataset": ["ml-latest-small"] * n,
            "backbone": ["sasrec"] * n,
            "method": [method] * n,
            "seed": pa.array([seed] * n, pa.int64()),  # cast to int32 by the store
            "split": [r["split"] for r in rows],
            "metric": [r["metric"] for r in rows],
            "k": [10] * n,
            "average": ["window"] * n,
            "value": [r["value"] for r in rows],
            "n_windows": [100] * n,
            "created_at": pa.array([CREATED] * n, pa.timestamp("ms", tz="UTC")),
        }
    )


def count(store: Store) -> int:
    return int(store.query("SELECT count(*) AS n FROM experiment_results")["n"][0].as_py())


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(tmp_path / "store") as opened:
        yield opened


def test_roundtrip_keeps_exact_types(store: Store) -> None:
    assert store.write("experiment_results", results()) == 4
    back = store.read("experiment_results")
    assert back.schema == EXPERIMENT_RESULTS.schema
    assert back.column("created_at")[0].as_py() == CREATED
    assert sorted(back.column("value").to_pylist()) == [0.5] * 4


def test_parquet_file_holds_partition_columns_with_exact_types(store: Store) -> None:
    store.write("experiment_results", results())
    files = list((store.root / "experiment_results").rglob("*.parquet"))
    assert [f.relative_to(store.root).as_posix() for f in files] == [
        "experiment_results/run_id=run-1/method=raie/seed=0/part.parquet"
    ]
    assert pq.read_schema(files[0]).field("seed").type == pa.int32()


def test_rewriting_a_partition_replaces_its_rows(store: Store) -> None:
    store.write("experiment_results", results(value=0.1))
    store.write("experiment_results", results(value=0.2))
    assert count(store) == 4
    values = store.query("SELECT DISTINCT value FROM experiment_results")["value"].to_pylist()
    assert values == [0.2]


def test_different_partitions_accumulate(store: Store) -> None:
    store.write("experiment_results", results(seed=0))
    store.write("experiment_results", results(seed=1))
    store.write("experiment_results", results(method="lora"))
    assert count(store) == 12
    by_seed = store.query(
        "SELECT seed, count(*) AS n FROM experiment_results WHERE method = ? GROUP BY seed ORDER BY seed",
        ["raie"],
    )
    assert by_seed.to_pylist() == [{"seed": 0, "n": 4}, {"seed": 1, "n": 4}]


def test_one_write_spanning_partitions_splits_them(store: Store) -> None:
    both = pa.concat_tables([results(seed=0), results(seed=1)])
    assert store.write("experiment_results", both) == 8
    assert len(list((store.root / "experiment_results").rglob("part.parquet"))) == 2


def test_stale_part_files_are_removed(store: Store) -> None:
    store.write("experiment_results", results())
    part = next((store.root / "experiment_results").rglob("part.parquet"))
    pq.write_table(store.read("experiment_results"), part.with_name("old.parquet"))
    store.write("experiment_results", results())
    assert sorted(p.name for p in part.parent.iterdir()) == ["part.parquet"]
    assert count(store) == 4


def test_empty_table_view_has_typed_columns(store: Store) -> None:
    empty = store.query("SELECT * FROM experiment_results")
    assert empty.num_rows == 0
    assert empty.column_names == EXPERIMENT_RESULTS.schema.names
    assert empty.schema.field("seed").type == pa.int32()
    assert empty.schema.field("n_windows").type == pa.int64()
    assert pa.types.is_timestamp(empty.schema.field("created_at").type)
    assert store.read("experiment_results").schema == EXPERIMENT_RESULTS.schema


def test_missing_column_is_named(store: Store) -> None:
    with pytest.raises(StoreError, match="column 'k' is missing"):
        store.write("experiment_results", results().drop_columns(["k"]))


def test_extra_column_is_named(store: Store) -> None:
    rows = results().append_column("note", pa.array(["x"] * 4))
    with pytest.raises(StoreError, match="column 'note' is not part of the table"):
        store.write("experiment_results", rows)


def test_uncastable_type_is_named(store: Store) -> None:
    rows = results().set_column(7, "k", pa.array(["ten"] * 4))
    with pytest.raises(StoreError, match="column 'k': cannot store string as int32"):
        store.write("experiment_results", rows)


def test_lossy_cast_is_refused(store: Store) -> None:
    rows = results().set_column(4, "seed", pa.array([2**40] * 4, pa.int64()))
    with pytest.raises(StoreError, match="column 'seed'"):
        store.write("experiment_results", rows)


def test_value_outside_vocabulary_is_refused(store: Store) -> None:
    rows = results().set_column(5, "split", pa.array(["F"] * 4))
    with pytest.raises(StoreError, match=r"column 'split': value 'F' is not one of \['S', 'T'\]"):
        store.write("experiment_results", rows)


def test_null_in_required_column_is_refused(store: Store) -> None:
    rows = results().set_column(9, "value", pa.array([None, 0.1, 0.2, 0.3], pa.float64()))
    with pytest.raises(StoreError, match="column 'value': 1 null value"):
        store.write("experiment_results", rows)


def test_unknown_table_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match=r"unknown table 'nope'.*experiment_results"):
        store.write("nope", results())


def test_partition_values_are_path_safe_and_reversible(store: Store) -> None:
    tricky = "a/b=c%d ..\\e"
    store.write("experiment_results", results(run_id=tricky))
    store.write("experiment_results", results(run_id=".."))
    run_dirs = sorted(p.name for p in (store.root / "experiment_results").iterdir())
    assert run_dirs == ["run_id=" + encode_value(".."), "run_id=" + encode_value(tricky)]
    assert all("/" not in name[len("run_id=") :] for name in run_dirs)
    assert decode_value(encode_value(tricky)) == tricky
    ids = store.query("SELECT DISTINCT run_id FROM experiment_results ORDER BY run_id")
    assert ids["run_id"].to_pylist() == ["..", tricky]


def test_overlong_partition_value_is_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="too long for a directory name"):
        store.write("experiment_results", results(run_id="x" * 300))


def test_query_error_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no_such_table") as info:
        store.query("SELECT * FROM no_such_table")
    assert isinstance(info.value, RaieError)


def test_reopen_sees_data_and_moved_store_still_works(tmp_path: Path) -> None:
    with Store.open(tmp_path / "a") as store:
        store.write("experiment_results", results())
    with Store.open(tmp_path / "a", create=False) as store:
        assert count(store) == 4
    (tmp_path / "a").rename(tmp_path / "b")
    with Store.open(tmp_path / "b", create=False) as store:
        assert count(store) == 4
        assert store.tables() == sorted(store.tables())
        assert "experiment_results" in store.tables()


def test_manifest_records_versions(store: Store) -> None:
    manifest = json.loads((store.root / "store.json").read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    assert manifest["raie_version"]


def test_closed_store_refuses_use(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.query("SELECT 1")


def test_missing_store_without_create_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store at"):
        Store.open(tmp_path / "absent", create=False)


def test_non_store_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(StoreError, match="not a raie store"):
        Store.open(tmp_path / "photos")
    assert sorted(p.name for p in (tmp_path / "photos").iterdir()) == ["cat.jpg"]


def test_empty_existing_directory_becomes_a_store(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with Store.open(tmp_path / "empty") as store:
        assert (store.root / "store.json").is_file()


def _set_version(root: Path, version: int) -> None:
    path = root / "store.json"
    manifest = json.loads(path.read_text())
    manifest["schema_version"] = version
    path.write_text(json.dumps(manifest))


def test_newer_store_is_refused(tmp_path: Path) -> None:
    Store.open(tmp_path / "s").close()
    _set_version(tmp_path / "s", SCHEMA_VERSION + 1)
    with pytest.raises(StoreError, match="upgrade raie"):
        Store.open(tmp_path / "s")


def test_older_store_is_migrated_step_by_step(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "s"
    with Store.open(root) as store:
        store.write("experiment_results", results())
    old = SCHEMA_VERSION - 1
    _set_version(root, old)
    # Pretend layout `old` named every data file data.parquet.
    for part in root.rglob("part.parquet"):
        part.rename(part.with_name("data.parquet"))
    seen: list[int] = []

    def rename_data_files(store_root: Path) -> None:
        seen.append(json.loads((store_root / "store.json").read_text())["schema_version"])
        for data in store_root.rglob("data.parquet"):
            data.rename(data.with_name("part.parquet"))

    monkeypatch.setitem(MIGRATIONS, old, rename_data_files)
    with Store.open(root) as store:
        assert seen == [old]
        assert count(store) == 4
    assert json.loads((root / "store.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_older_store_without_migration_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Store.open(tmp_path / "s").close()
    _set_version(tmp_path / "s", SCHEMA_VERSION - 1)
    monkeypatch.delitem(MIGRATIONS, SCHEMA_VERSION - 1)
    with pytest.raises(StoreError, match="no migration"):
        Store.open(tmp_path / "s")


def test_read_only_store_queries_while_writer_is_open(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s") as writer:
        writer.write("experiment_results", results())
        with Store.open(tmp_path / "s", read_only=True) as reader:
            assert count(reader) == 4
            with pytest.raises(StoreError, match="read-only"):
                reader.write("experiment_results", results())


def test_later_registered_table_gets_a_view_and_loses_it_when_unregistered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TableSpec(
        name="test_slices",
        schema=pa.schema([pa.field("slice_id", pa.int32()), pa.field("n", pa.int64())]),
        partition_by=("slice_id",),
        description="test table registered after the store opened",
    )
    with Store.open(tmp_path / "s") as store:
        monkeypatch.setitem(_REGISTRY, spec.name, spec)
        assert store.query("SELECT * FROM test_slices").num_rows == 0
        store.write("test_slices", pa.table({"slice_id": [1, 2], "n": [10, 20]}))
        rows = store.query("SELECT * FROM test_slices ORDER BY slice_id").to_pylist()
        assert rows == [{"slice_id": 1, "n": 10}, {"slice_id": 2, "n": 20}]
        store.query("CREATE VIEW mine AS SELECT 1 AS one")
    monkeypatch.delitem(_REGISTRY, spec.name)
    with Store.open(tmp_path / "s") as store:
        with pytest.raises(StoreError, match="test_slices"):
            store.query("SELECT * FROM test_slices")
        assert store.query("SELECT one FROM mine")["one"].to_pylist() == [1]


def test_second_writer_process_is_refused(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from raie.store import Store, StoreError\n"
        "try:\n"
        "    Store.open(sys.argv[1])\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    with Store.open(tmp_path / "s"):
        done = subprocess.run(
            [sys.executable, "-c", probe, str(tmp_path / "s")],
            capture_output=True,
            text=True,
            check=False,
            cwd=PROJECT_ROOT,  # so the child imports this checkout's raie
        )
    assert done.returncode == 3, done.stderr
    assert "read_only=True" in done.stdout


def test_registering_a_conflicting_spec_is_refused() -> None:
    assert register_table(table_spec("experiment_results")) is EXPERIMENT_RESULTS
    clash = TableSpec(
        name="experiment_results",
        schema=pa.schema([pa.field("run_id", pa.string())]),
        partition_by=("run_id",),
        description="clash",
    )
    with pytest.raises(StoreError, match="already registered"):
        register_table(clash)


def test_spec_rejects_unknown_partition_column() -> None:
    with pytest.raises(StoreError, match="'nope' is not one of its columns"):
        TableSpec("t", pa.schema([pa.field("a", pa.int32())]), ("nope",), "bad")


def test_failed_migration_keeps_version_and_store_reopens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "s"
    Store.open(root).close()
    _set_version(root, SCHEMA_VERSION - 1)

    def broken(store_root: Path) -> None:
        raise StoreError(f"cannot migrate {store_root}")

    monkeypatch.setitem(MIGRATIONS, SCHEMA_VERSION - 1, broken)
    with pytest.raises(StoreError, match="cannot migrate"):
        Store.open(root)
    assert json.loads((root / "store.json").read_text())["schema_version"] == SCHEMA_VERSION - 1
    monkeypatch.delitem(MIGRATIONS, SCHEMA_VERSION - 1)
    _set_version(root, SCHEMA_VERSION)
    Store.open(root).close()
