"""Compaction: a group's small files become one file without duplicates, the view reads the same rows."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raie.store import Store, StoreError, table_spec
from raie.store.compaction import NOTHING_DONE, plan_compaction, remove_inputs, write_compacted
from raie.store.partitions import COMPACTED_FILE
from raie.store.store import VANISHED_FILE_RETRIES

pytestmark = pytest.mark.unit

TABLE = "interactions"
CHUNK_ROWS = 10


def chunk(slice_index: int, first: int, n: int = CHUNK_ROWS, *, ids: list[str] | None = None) -> pa.Table:
    """One sink flush of partition 0: offsets ``first..first+n``, event ids ``e<offset>`` unless given."""
    offsets = range(first, first + n)
    event_ids = ids if ids is not None else [f"e{o}" for o in offsets]
    return pa.Table.from_pylist(
        [
            {
                "event_id": event_id,
                "user_id": f"u{o % 3}",
                "item_id": f"i{o}",
                "rating": 4.0,
                "ts": datetime.fromtimestamp(1_700_000_000 + o, tz=UTC),
                "slice": slice_index,
                "source": "test",
                "partition": 0,
                "offset": o,
                "chunk": f"p0-{first:012d}",
            }
            for event_id, o in zip(event_ids, offsets, strict=True)
        ],
        schema=table_spec(TABLE).schema,
    )


def write_stream(store: Store) -> None:
    """Slices 1 and 2 in chunks of 10, with re-read chunks that overlap earlier ones (duplicate rows)."""
    for first in range(0, 200, CHUNK_ROWS):
        store.write(TABLE, chunk(1, first))
    for first in (5, 55, 105):  # re-reads after a crash: another first offset, the same events
        store.write(TABLE, chunk(1, first))
    for first in range(200, 260, CHUNK_ROWS):
        store.write(TABLE, chunk(2, first))


def view_rows(store: Store) -> list[dict[str, object]]:
    return sorted(store.read(TABLE).to_pylist(), key=lambda r: str(r["event_id"]))


def first_rows(store: Store) -> list[dict[str, object]]:
    """What the view must return, worked out without SQL: per event id, the first row in partition order.

    Partition order is (slice, chunk), the other columns break ties.
    """
    names = table_spec(TABLE).schema.names
    order = ["slice", "chunk", *(n for n in names if n not in ("slice", "chunk"))]
    first: dict[object, dict[str, object]] = {}
    for row in raw_rows(sorted((store.root / TABLE).rglob("*.parquet"))):
        kept = first.get(row["event_id"])
        if kept is None or [row[n] for n in order] < [kept[n] for n in order]:
            first[row["event_id"]] = row
    return sorted(first.values(), key=lambda r: str(r["event_id"]))


def files_of(store: Store, slice_index: int) -> list[Path]:
    return sorted((store.root / TABLE / f"slice={slice_index}").rglob("*.parquet"))


def raw_rows(files: list[Path]) -> list[dict[str, object]]:
    return [row for f in files for row in pq.read_table(f).to_pylist()]


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with Store.open(tmp_path / "s") as opened:
        yield opened


def test_small_files_become_one_file_without_duplicates_and_the_view_is_unchanged(store: Store) -> None:
    write_stream(store)
    before = view_rows(store)
    assert before == first_rows(store)
    assert len(raw_rows(files_of(store, 1))) > 200  # the re-read chunks really are duplicates on disk
    schema_before = store.query(f"SELECT * FROM {TABLE} LIMIT 0").schema

    result = store.compact(TABLE, {"slice": 1})

    (only,) = files_of(store, 1)
    assert only.name == COMPACTED_FILE
    assert result.files_removed == 23 and result.rows == 200
    stored = raw_rows([only])
    assert len({r["event_id"] for r in stored}) == len(stored) == 200
    assert view_rows(store) == before
    assert store.query(f"SELECT * FROM {TABLE} LIMIT 0").schema == schema_before
    assert len(files_of(store, 2)) == 6  # another slice is left alone
    assert [p.name for p in (store.root / TABLE / "slice=1").iterdir()] == ["_compacted"]  # no empty chunk dirs


def test_the_compacted_file_keeps_the_row_the_view_kept(store: Store) -> None:
    store.write(TABLE, chunk(1, 0))
    # A re-read whose rows differ from the first read only in their chunk name:
    # the first chunk in partition order is the one the view keeps.
    store.write(TABLE, chunk(1, 0).set_column(9, "chunk", pa.array(["p0-000000000099"] * CHUNK_ROWS)))
    before = view_rows(store)
    assert {r["chunk"] for r in before} == {"p0-000000000000"}
    store.compact(TABLE, {"slice": 1})
    assert {r["chunk"] for r in raw_rows(files_of(store, 1))} == {"p0-000000000000"}
    assert view_rows(store) == before


def test_compacting_again_is_a_no_op(store: Store) -> None:
    write_stream(store)
    store.compact(TABLE, {"slice": 1})
    (compacted,) = files_of(store, 1)
    stamp = compacted.stat().st_mtime_ns, compacted.read_bytes()
    assert store.compact(TABLE, {"slice": 1}) == NOTHING_DONE
    assert (compacted.stat().st_mtime_ns, compacted.read_bytes()) == stamp


def test_a_crash_between_writing_and_removing_inputs_reads_each_row_once_and_converges(
    tmp_path: Path, store: Store
) -> None:
    write_stream(store)
    before = view_rows(store)
    spec = table_spec(TABLE)
    plan = plan_compaction(spec, store.root / TABLE, {"slice": 1})
    write_compacted(store._connection(), spec, store.root / TABLE, plan)  # the crash comes before remove_inputs

    assert len(files_of(store, 1)) == 24  # the inputs and the compacted file, the same rows twice on disk
    assert view_rows(store) == before
    with Store.open(store.root, read_only=True) as reader:
        assert view_rows(reader) == before

    store.compact(TABLE, {"slice": 1})  # run again after the restart
    with Store.open(tmp_path / "clean") as clean:
        write_stream(clean)
        clean.compact(TABLE, {"slice": 1})
        assert raw_rows(files_of(store, 1)) == raw_rows(files_of(clean, 1))
    assert view_rows(store) == before

    remove_inputs(plan)  # a removal interrupted and repeated finds nothing left to remove
    assert view_rows(store) == before


def test_chunks_written_again_after_compaction_are_read_once_and_compacted_again(store: Store) -> None:
    write_stream(store)
    store.compact(TABLE, {"slice": 1})
    store.write(TABLE, chunk(1, 40))  # re-reads after a crash that came after the compaction
    store.write(TABLE, chunk(1, 43))  # p0-000000000043 comes before p0-000000000050: e50..e52 move to it
    expected = first_rows(store)
    assert len(expected) == 260 and {r["chunk"] for r in expected if r["event_id"] == "e51"} == {"p0-000000000043"}
    assert view_rows(store) == expected
    assert store.compact(TABLE, {"slice": 1}).files_removed == 2
    assert len(files_of(store, 1)) == 1
    assert view_rows(store) == expected == first_rows(store)


@pytest.mark.parametrize(
    ("order", "given_up", "taken"),
    [
        ((1, 2, 3), {1: 0, 2: 1, 3: 2}, {1: 0, 2: 0, 3: 0}),  # the stream's order: later slices give keys up
        ((3, 2, 1), {3: 0, 2: 0, 1: 0}, {3: 0, 2: 2, 1: 1}),  # an earlier slice compacted late takes them back
    ],
)
def test_an_event_resent_in_a_later_slice_is_kept_once_in_its_first_slice(
    store: Store, order: tuple[int, ...], given_up: dict[int, int], taken: dict[int, int]
) -> None:
    store.write(TABLE, chunk(1, 0))
    store.write(TABLE, chunk(2, 10, ids=["e3", *[f"e{o}" for o in range(11, 20)]]))  # e3 re-sent after the mark
    store.write(TABLE, chunk(3, 20, ids=["e3", "e12", *[f"e{o}" for o in range(22, 30)]]))
    before = view_rows(store)
    assert before == first_rows(store)
    assert [(r["slice"], r["offset"]) for r in before if r["event_id"] in ("e12", "e3")] == [(2, 12), (1, 3)]

    for slice_index in order:
        result = store.compact(TABLE, {"slice": slice_index})
        assert (result.keys_given_up, result.keys_taken) == (given_up[slice_index], taken[slice_index])
        assert view_rows(store) == before
    compacted = raw_rows([f for s in (1, 2, 3) for f in files_of(store, s)])
    assert len(compacted) == len({r["event_id"] for r in compacted}) == len(before) == 27


def test_compacted_rows_are_read_without_a_window(store: Store) -> None:
    """The view trusts compaction: it deduplicates only keys that an uncompacted file holds."""
    store.write(TABLE, chunk(1, 0))
    store.compact(TABLE, {"slice": 1})
    (compacted,) = files_of(store, 1)
    twice = pq.read_table(compacted)
    pq.write_table(pa.concat_tables([twice, twice.slice(0, 1)]), compacted)  # breaks the invariant by hand
    assert len(view_rows(store)) == CHUNK_ROWS + 1
    store.write(TABLE, chunk(1, 0, 1))  # an uncompacted file holding that key: now it is deduplicated
    assert len(view_rows(store)) == CHUNK_ROWS


def test_a_reader_opened_before_compaction_reads_the_same_rows_after(store: Store) -> None:
    write_stream(store)
    with Store.open(store.root, read_only=True) as reader:
        before = view_rows(reader)
        store.compact(TABLE, {"slice": 1})
        store.compact(TABLE, {"slice": 2})
        assert view_rows(reader) == before


class VanishingFiles:
    """A connection whose first ``failures`` queries find a file gone, as a reader racing a compaction does."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, failures: int):
        self.connection, self.failures = connection, failures

    def sql(self, query: str, params: object = None) -> Any:
        if self.failures:
            self.failures -= 1
            raise duckdb.IOException("No files found that match the pattern")
        return self.connection.sql(query, params=params)

    def close(self) -> None:
        self.connection.close()


def test_a_query_that_finds_a_file_gone_is_run_again(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write(TABLE, chunk(1, 0))
    monkeypatch.setattr(store, "_con", VanishingFiles(store._connection(), failures=VANISHED_FILE_RETRIES))
    assert len(view_rows(store)) == CHUNK_ROWS
    monkeypatch.setattr(store, "_con", VanishingFiles(store._connection(), failures=VANISHED_FILE_RETRIES + 1))
    with pytest.raises(StoreError, match="No files found"):
        view_rows(store)


def test_only_deduplicated_tables_and_partial_keys_can_be_compacted(store: Store) -> None:
    with pytest.raises(StoreError, match="dedupe_by"):
        store.compact("experiment_results", {"run_id": "r"})
    with pytest.raises(StoreError, match="first of them but not all"):
        store.compact(TABLE, {"chunk": "p0-000000000000"})
    with pytest.raises(StoreError, match="first of them but not all"):
        store.compact(TABLE, {"slice": 1, "chunk": "p0-000000000000"})
    assert store.compact(TABLE, {"slice": 9}) == NOTHING_DONE


# The ingress's rows: one chunk per partition and commit; the editor compacts closed slices.


def interaction(offset: int) -> Any:
    from schemas import Interaction

    return Interaction(f"p-{offset}", "u", f"i{offset}", 1_700_000_000_000 + offset, "t", 4.0)


def test_closed_slices_are_compacted_and_late_chunks_folded_in_later(store: Store) -> None:
    from streams.interaction_rows import InteractionRows, compact_closed, write_rows

    def rows(partition: int, slice_index: int, offsets: range) -> InteractionRows:
        part = InteractionRows(partition)
        for offset in offsets:
            part.add(interaction(offset + 1000 * partition), slice_index, offset)
        return part

    assert write_rows(store.root, [rows(0, 0, range(0, 3)), rows(1, 0, range(0, 2))]) == 5
    write_rows(store.root, [rows(0, 0, range(3, 5)), rows(0, 1, range(6, 8))])
    assert len(files_of(store, 0)) == 3
    assert compact_closed(store, 1) == 1  # slice 0 closed; slice 1 still open keeps its chunk
    assert [f.name for f in files_of(store, 0)] == [COMPACTED_FILE]
    assert len(files_of(store, 1)) == 1
    write_rows(store.root, [rows(0, 0, range(3, 5))])  # a re-read of slice 0 after it was compacted
    assert compact_closed(store, 1) == 1
    assert [f.name for f in files_of(store, 0)] == [COMPACTED_FILE]
    assert compact_closed(store, 1) == 0  # nothing new: nothing done
    assert store.query("SELECT slice, count(*) AS n FROM interactions GROUP BY slice ORDER BY slice").to_pylist() == [
        {"slice": 0, "n": 7},
        {"slice": 1, "n": 2},
    ]
