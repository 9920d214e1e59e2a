"""RoutedBatch: the binary batch of routed windows round-trips exactly and refuses anything wrong by name."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from schemas import RoutedBatch, RoutedWindow, SchemaError, SliceMark
from schemas.routed_batch import KIND_ROUTED_BATCH, METADATA_KEYS, NO_REGION, arrow_schema
from schemas.routed_window import window_id
from schemas.slice_mark import KIND_HEADER
from tests.unit.schema_samples import TS_MS

pytestmark = pytest.mark.unit

N, H = 5, 4
ROUTED = (1, 3, 4)
"""Rows of the sample batch that carry an embedding and a route; rows 0 and 2 do not (slice 0)."""

SPECIAL_FLOATS = np.array([-0.0, 1e-45, -3.4028235e38, 0.1], dtype=np.float32)
"""A negative zero, a denormal, the most negative float32 and an inexact decimal: all must survive bit for bit."""

BIT_FLIPS = 2000
"""Random corruptions of a valid payload; each must decode or raise SchemaError, never anything else."""


def sample(**changes: Any) -> RoutedBatch:
    """A valid batch of N windows, three of them routed; keyword arguments replace build's."""
    rng = np.random.default_rng(7)
    arguments: dict[str, Any] = {
        "partition": 2,
        "produced_ms": TS_MS + 50,
        "bank_version": 3,
        "user_id": ["u-1", "ユーザー", "u-1", "u 3", "u/4"],
        "slice": [0, 1, 0, 1, 1],
        "position": [4, 0, 5, 2, 9],
        "context": [("i-1",), ("a", "b", "c"), ("i-1", "i-2"), ("café ☕",), tuple(f"i-{k}" for k in range(50))],
        "target": ["i-2", "d", "i-3", "x", "y"],
        "ts_ms": [TS_MS + k for k in range(N)],
        "event_id": [f"e-{k}" for k in range(N)],
        "offset": [100, 101, 102, 103, 2**40],
        "published_ms": [TS_MS + 10] * N,
        "read_ms": [TS_MS + 20] * N,
        "routed_rows": ROUTED,
        "embedding": np.vstack([SPECIAL_FLOATS, rng.standard_normal((2, H))]).astype(np.float32),
        "region_id": [5, 0, 2**31 - 1],
        "p1": [0.9, 0.5, 1.0],
        "p2": [0.05, 0.5, 0.0],
    }
    return RoutedBatch.build(**{**arguments, **changes})


def unrouted() -> RoutedBatch:
    return sample(routed_rows=(), embedding=None, region_id=None, p1=None, p2=None, bank_version=None)


def refused(make: Callable[[], object]) -> SchemaError:
    with pytest.raises(SchemaError) as caught:
        make()
    assert caught.value.reason
    return caught.value


def table_of(batch: RoutedBatch) -> pa.Table:
    return pa.ipc.open_stream(batch.to_bytes()).read_all()


def stream(table: pa.Table, batches: int = 1) -> bytes:
    """``table`` as an Arrow IPC stream of ``batches`` record batches (whatever its schema)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=max(1, -(-table.num_rows // batches)))
    return bytes(sink.getvalue().to_pybytes())


def with_column(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


def with_metadata(table: pa.Table, **changes: str) -> pa.Table:
    metadata = {key.decode(): value.decode() for key, value in (table.schema.metadata or {}).items()}
    return table.replace_schema_metadata({**metadata, **changes})


def test_round_trip_is_exact() -> None:
    batch = sample()
    decoded = RoutedBatch.from_bytes(batch.to_bytes())
    assert decoded == batch and len(decoded) == N
    assert decoded.embedding is not None and batch.embedding is not None and decoded.embedded is not None
    assert decoded.embedding.dtype == np.float32 and decoded.embedding.shape == (N, H)
    assert decoded.embedding[1].tobytes() == SPECIAL_FLOATS.tobytes()  # bit for bit, -0.0 included
    assert decoded.embedding[decoded.embedded].tobytes() == batch.embedding[list(ROUTED)].tobytes()
    for name in ("p1", "p2", "region_id", "slice", "position", "ts_ms", "offset", "published_ms", "read_ms"):
        assert getattr(decoded, name).dtype == getattr(batch, name).dtype, name
    assert decoded.context == batch.context and decoded.user_id[1] == "ユーザー"
    assert RoutedBatch.from_bytes(decoded.to_bytes()).to_bytes() == batch.to_bytes()  # deterministic bytes


def test_rows_that_were_not_routed_decode_to_no_route() -> None:
    decoded = RoutedBatch.from_bytes(sample().to_bytes())
    assert decoded.embedded is not None and decoded.region_id is not None and decoded.p1 is not None
    assert decoded.embedding is not None
    assert decoded.embedded.tolist() == [False, True, False, True, True]
    assert decoded.region_id.tolist() == [NO_REGION, 5, NO_REGION, 0, 2**31 - 1]
    assert np.isnan(decoded.p1[[0, 2]]).all() and not np.isnan(decoded.p1[list(ROUTED)]).any()
    assert not decoded.embedding[[0, 2]].any()
    assert not decoded.embedding.flags.writeable  # a read-only view of the message


def test_a_batch_with_nothing_routed() -> None:
    batch = unrouted()
    raw = batch.to_bytes()
    decoded = RoutedBatch.from_bytes(raw)
    assert decoded == batch
    assert (decoded.embedding, decoded.embedded, decoded.region_id, decoded.p1, decoded.p2) == (None,) * 5
    assert decoded.bank_version is None
    metadata = pa.ipc.open_stream(raw).schema.metadata
    assert metadata[b"dim"] == b"0" and metadata[b"bank_version"] == b""


def test_every_row_routed() -> None:
    rng = np.random.default_rng(1)
    batch = sample(
        routed_rows=range(N), embedding=rng.standard_normal((N, H)), region_id=[1] * N, p1=[1] * N, p2=[0] * N
    )
    assert RoutedBatch.from_bytes(batch.to_bytes()) == batch


def test_wire_schema_and_metadata() -> None:
    batch = sample()
    schema = pa.ipc.open_stream(batch.to_bytes()).schema
    assert schema.remove_metadata().equals(arrow_schema(H))
    metadata = {key.decode(): value.decode() for key, value in schema.metadata.items()}
    assert list(metadata) == list(METADATA_KEYS)
    expected = ("routed_batch", "1", "2", str(TS_MS + 50), "3", str(H))
    assert metadata == dict(zip(METADATA_KEYS, expected, strict=True))
    assert str(schema.field("embedding").type) == f"fixed_size_list<item: float>[{H}]"


def test_window_ids_and_headers() -> None:
    batch = sample()
    assert [batch.window_id(row) for row in range(N)] == [
        window_id(user, int(s), int(p)) for user, s, p in zip(batch.user_id, batch.slice, batch.position, strict=True)
    ]
    assert batch.window_id(1) == "ユーザー/1/0"
    assert RoutedBatch.HEADERS == ((KIND_HEADER, KIND_ROUTED_BATCH),)
    assert isinstance(RoutedBatch.HEADERS[0][1], type(SliceMark.HEADERS[0][1]))  # bytes, like a slice mark's
    assert RoutedBatch.is_batch(list(RoutedBatch.HEADERS))
    assert not RoutedBatch.is_batch(list(SliceMark.HEADERS)) and not SliceMark.is_mark(list(RoutedBatch.HEADERS))
    assert not RoutedBatch.is_batch(None)


def test_bytes_per_window_are_well_under_json() -> None:
    # The realistic shape: 64 coordinates, 50 context items, every row routed.
    rng = np.random.default_rng(3)
    windows, dim = 200, 64
    contexts = [tuple(f"tt{rng.integers(10**7):07d}" for _ in range(50)) for _ in range(windows)]
    batch = RoutedBatch.build(
        partition=0,
        produced_ms=TS_MS,
        bank_version=1,
        user_id=[f"user-{k % 17}" for k in range(windows)],
        slice=[1] * windows,
        position=range(windows),
        context=contexts,
        target=[f"tt{k:07d}" for k in range(windows)],
        ts_ms=[TS_MS] * windows,
        event_id=[f"web-{k:08x}" for k in range(windows)],
        offset=range(windows),
        published_ms=[TS_MS] * windows,
        read_ms=[TS_MS] * windows,
        routed_rows=range(windows),
        embedding=rng.standard_normal((windows, dim)),
        region_id=rng.integers(0, 30, windows),
        p1=rng.random(windows),
        p2=rng.random(windows),
    )
    binary = len(batch.to_bytes()) / windows
    as_json = np.mean([len(_window(batch, row).to_bytes()) for row in range(windows)])
    assert binary < 0.6 * as_json, (binary, as_json)


def _window(batch: RoutedBatch, row: int) -> RoutedWindow:
    """One routed row as the JSON message it replaces."""
    assert batch.embedding is not None
    routes: dict[str, Any] = {name: getattr(batch, name)[row].item() for name in ("region_id", "p1", "p2")}
    counts: dict[str, Any] = {name: int(getattr(batch, name)[row]) for name in ("slice", "position", "ts_ms", "offset")}
    strings: dict[str, Any] = {name: getattr(batch, name)[row] for name in ("user_id", "context", "target", "event_id")}
    return RoutedWindow(
        window_id=batch.window_id(row),
        embedding=tuple(batch.embedding[row].tolist()),
        bank_version=batch.bank_version,
        partition=batch.partition,
        ingested_at_ms=int(batch.read_ms[row]),
        **counts,
        **routes,
        **strings,
    )


def replaced(**changes: Any) -> Callable[[], RoutedBatch]:
    return lambda: dataclasses.replace(sample(), **changes)


def float_rows(row: int, value: float) -> np.ndarray:
    embedding = sample().embedding
    assert embedding is not None
    changed = embedding.copy()
    changed[row, 0] = value
    return changed


CONSTRUCTOR_CASES: list[tuple[str, Callable[[], object], str | None, str]] = [
    ("no windows", lambda: RoutedBatch.build(**{**_columns_of(unrouted(), 0)}), None, "at least one window"),
    ("short column", replaced(target=("a",) * (N - 1)), "target", "has 4 rows, user_id has 5"),
    ("empty user", replaced(user_id=("u", "u", "", "u", "u")), "user_id[2]", "must not be empty"),
    ("empty target", replaced(target=("t",) * (N - 1) + ("",)), "target[4]", "must not be empty"),
    ("empty event id", replaced(event_id=("",) * N), "event_id[0]", "must not be empty"),
    ("empty context", replaced(context=(("a",), ()) + (("a",),) * 3), "context[1]", "at least one item id"),
    ("empty item", replaced(context=(("a", ""),) * N), "context[0]", "empty item id"),
    ("negative slice", replaced(slice=np.array([0, 1, -1, 1, 1], np.int32)), "slice[2]", "must be >= 0"),
    ("negative position", replaced(position=np.array([0, 0, 0, -3, 0], np.int32)), "position[3]", "(got -3)"),
    ("negative offset", replaced(offset=np.full(N, -1, np.int64)), "offset[0]", "must be >= 0"),
    ("wide slice", replaced(slice=np.zeros(N, np.int64)), "slice", "numpy int32 array of shape (5,), not int64"),
    ("slice list", replaced(slice=[0] * N), "slice", "not list"),
    ("nan embedding", replaced(embedding=float_rows(3, np.nan)), "embedding[3]", "must be finite"),
    ("inf embedding", replaced(embedding=float_rows(4, np.inf)), "embedding[4]", "must be finite"),
    ("1-D embedding", replaced(embedding=np.zeros(N, np.float32)), "embedding", "[N, H] with H >= 1"),
    ("no coordinates", replaced(embedding=np.zeros((N, 0), np.float32)), "embedding", "[N, H] with H >= 1"),
    ("too few rows", replaced(embedding=np.zeros((N - 1, H), np.float32)), "embedding", "shape (5, 4)"),
    ("float64", replaced(embedding=np.zeros((N, H))), "embedding", "float32"),
    ("no embedded mask", replaced(embedded=None), "embedded", "numpy bool array"),
    ("nothing embedded", replaced(embedded=np.zeros(N, bool)), "embedded", "pass embedding=None"),
    ("negative region", replaced(region_id=np.array([0, -2, 0, 0, 0], np.int32)), "region_id[1]", ">= 0"),
    ("nan p1", replaced(p1=np.array([0, 0, 0, np.nan, 0], np.float32)), "p1[3]", "must be finite"),
    ("inf p2", replaced(p2=np.array([0, np.inf, 0, 0, 0], np.float32)), "p2[1]", "must be finite"),
    ("no bank", replaced(bank_version=None), "bank_version", "is required when rows were routed"),
    ("bank, no routes", lambda: dataclasses.replace(unrouted(), bank_version=1), "bank_version", "must be None"),
    ("route, no embedding", replaced(embedding=None), "embedded", "must be None when no row was routed"),
    ("negative partition", replaced(partition=-1), "partition", "non-negative integer"),
    ("boolean partition", replaced(partition=True), "partition", "non-negative integer"),
    ("negative produced", replaced(produced_ms=-5), "produced_ms", "non-negative integer"),
    ("float ids", lambda: sample(position=[0.5] * N), "position", "must hold integers, not float64"),
    ("wrapping id", lambda: sample(slice=[2**31] * N), "slice", "outside int32"),
    ("routed row outside", lambda: sample(routed_rows=(1, 3, N)), "routed_rows", "must index the 5 windows"),
    ("embedding, no rows", lambda: sample(routed_rows=()), "embedding", "one row of (4,) per routed row"),
    ("missing route", lambda: sample(p2=None), "routed_rows", "need embedding, region_id, p1 and p2"),
    ("route count", lambda: sample(region_id=[1, 2]), "region_id", "one row of () per routed row"),
]
"""(case, what raises, field, part of the reason)."""


def _columns_of(batch: RoutedBatch, rows: int) -> dict[str, Any]:
    """build's arguments for the first ``rows`` windows of an unrouted batch."""
    names = (
        "user_id",
        "slice",
        "position",
        "context",
        "target",
        "ts_ms",
        "event_id",
        "offset",
        "published_ms",
        "read_ms",
    )
    columns = {name: getattr(batch, name)[:rows] for name in names}
    return {**columns, "partition": batch.partition, "produced_ms": batch.produced_ms, "bank_version": None}


@pytest.mark.parametrize(("case", "make", "field", "reason"), CONSTRUCTOR_CASES, ids=[c[0] for c in CONSTRUCTOR_CASES])
def test_bad_batches_are_refused_with_the_field(
    case: str, make: Callable[[], object], field: str | None, reason: str
) -> None:
    error = refused(make)
    assert (error.field, reason in error.reason) == (field, True), (case, str(error))


def test_nan_where_not_embedded_is_not_checked() -> None:
    # Rows 0 and 2 carry no route: whatever the arrays hold there means nothing.
    batch = dataclasses.replace(sample(), embedding=float_rows(0, np.nan))
    assert RoutedBatch.from_bytes(batch.to_bytes()) == batch


def test_to_bytes_refuses_a_string_that_is_not_one() -> None:
    batch = sample()
    target: Any = (None, *batch.target[1:])  # what mypy stops in real code
    bad = dataclasses.replace(batch, target=target)
    assert refused(bad.to_bytes).field == "target"


WIRE_CASES: list[tuple[str, Callable[[pa.Table], pa.Table], str | None, str]] = [
    ("schema name", lambda t: with_metadata(t, schema="routed_window"), "schema", "not 'routed_batch'"),
    ("version", lambda t: with_metadata(t, version="2"), "version", "'2' is unknown; this reader knows 1"),
    ("no metadata", lambda t: t.replace_schema_metadata(None), "schema", "missing from the stream's"),
    ("no dim", lambda t: t.replace_schema_metadata({k: v for k, v in t.schema.metadata.items() if k != b"dim"}),
     "dim", "missing"),
    ("signed partition", lambda t: with_metadata(t, partition="-1"), "partition", "non-negative decimal"),
    ("spaced produced", lambda t: with_metadata(t, produced_ms=" 5"), "produced_ms", "non-negative decimal"),
    ("bank text", lambda t: with_metadata(t, bank_version="three"), "bank_version", "non-negative decimal"),
    ("dim mismatch", lambda t: with_metadata(t, dim="8"), "embedding", "fixed_size_list<item: float>[8]"),
    ("huge dim", lambda t: with_metadata(t, dim=str(2**40)), "dim", "beyond"),
    ("missing column", lambda t: t.drop_columns(["p2"]), "p2", "column is missing"),
    ("extra column", lambda t: t.append_column("zz", pa.array([1] * N)), "zz", "not a column of routed_batch"),
    ("duplicate column", lambda t: t.append_column("p1", t.column("p1")), "p1", "duplicate column"),
    ("wide slice", lambda t: with_column(t, "slice", pa.array([1] * N, pa.int64())), "slice", "must be int32"),
    ("binary ids", lambda t: with_column(t, "user_id", pa.array([b"u"] * N)), "user_id", "must be string"),
    ("null target", lambda t: with_column(t, "target", pa.array(["t", None, "t", "t", "t"])), "target", "1 null"),
    ("null item", lambda t: with_column(t, "context", pa.array([["a", None]] * N)), "context", "null item id"),
    ("empty context", lambda t: with_column(t, "context", pa.array([["a"], [], ["a"], ["a"], ["a"]])),
     "context[1]", "at least one item id"),
    ("negative position", lambda t: with_column(t, "position", pa.array([0, 0, 0, 0, -1], pa.int32())),
     "position[4]", "must be >= 0"),
    ("empty user", lambda t: with_column(t, "user_id", pa.array(["u", "", "u", "u", "u"])), "user_id[1]", "empty"),
    ("routes disagree", lambda t: with_column(t, "p1", pa.array([0.5] * N, pa.float32())), "p1",
     "null exactly where embedding is null"),
    ("nan on the wire", lambda t: with_column(t, "embedding", pa.FixedSizeListArray.from_arrays(
        pa.array(np.full(N * H, np.nan, np.float32)), H, mask=pa.array([True, False, True, False, False]))),
     "embedding[1]", "must be finite"),
    ("hole in an embedding", lambda t: with_column(t, "embedding", pa.FixedSizeListArray.from_arrays(
        pa.array([1.0, None] * (N * H // 2), pa.float32()), H, mask=pa.array([True, False, True, False, False]))),
     "embedding", "null coordinate"),
    ("routes, no dim", lambda t: with_column(
        with_metadata(t, dim="0"), "embedding", pa.nulls(N, pa.list_(pa.float32(), 0))), "region_id",
     "null exactly where"),
]  # fmt: skip
"""(case, how a valid stream's table is spoiled, field, part of the reason)."""


@pytest.mark.parametrize(("case", "spoil", "field", "reason"), WIRE_CASES, ids=[c[0] for c in WIRE_CASES])
def test_bad_streams_are_refused_with_the_field(
    case: str, spoil: Callable[[pa.Table], pa.Table], field: str | None, reason: str
) -> None:
    error = refused(lambda: RoutedBatch.from_bytes(stream(spoil(table_of(sample())))))
    assert (error.field, reason in error.reason) == (field, True), (case, str(error))


@pytest.mark.parametrize(
    "payload",
    [b"", b"not arrow at all", b"\xff" * 64, b'{"window_id":"u/1/0","user_id":"u"}'],
    ids=["empty", "text", "ones", "json"],
)
def test_garbage_is_refused_as_a_whole(payload: bytes) -> None:
    error = refused(lambda: RoutedBatch.from_bytes(payload))
    assert error.field is None and "not a valid Arrow IPC stream" in error.reason


def test_arrow_file_format_and_empty_streams_are_refused() -> None:
    table = table_of(sample())
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:  # the random-access file format, not a stream
        writer.write_table(table)
    assert refused(lambda: RoutedBatch.from_bytes(sink.getvalue().to_pybytes())).field is None
    empty = stream(table.slice(0, 0))
    assert "at least one window" in refused(lambda: RoutedBatch.from_bytes(empty)).reason


def test_a_stream_of_several_record_batches_is_one_batch() -> None:
    batch = sample()
    assert RoutedBatch.from_bytes(stream(table_of(batch), batches=3)) == batch


END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"
"""Arrow's end-of-stream marker; a reader may also take the end of the bytes as the end."""


def test_every_truncation_is_refused() -> None:
    batch = sample()
    raw = batch.to_bytes()
    assert raw.endswith(END_OF_STREAM)
    for length in range(len(raw)):
        if length == len(raw) - len(END_OF_STREAM):  # every message complete: the same batch
            assert RoutedBatch.from_bytes(raw[:length]) == batch
            continue
        with pytest.raises(SchemaError):
            RoutedBatch.from_bytes(raw[:length])


def test_corrupt_bytes_decode_or_raise_schema_error_only() -> None:
    # Arrow has no checksum (Kafka's CRC guards the wire): a flipped value may decode,
    # but a flipped length or offset must be caught by full validation, never read.
    raw, rng, decoded = sample().to_bytes(), random.Random(11), 0
    for _ in range(BIT_FLIPS):
        corrupt = bytearray(raw)
        for _ in range(rng.randint(1, 3)):
            corrupt[rng.randrange(len(raw))] = rng.randrange(256)
        try:
            RoutedBatch.from_bytes(bytes(corrupt))
            decoded += 1
        except SchemaError:
            continue
    assert decoded < BIT_FLIPS
