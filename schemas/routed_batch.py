"""RoutedBatch v1: the windows of one ingress batch and partition, topic ``routed-windows``.

One Kafka record per batch instead of one JSON RoutedWindow per window: 64 floats
as JSON cost ~76 µs per window to encode and ~140 µs to decode, while here
embeddings travel as raw float32 and both ends are vectorised. The wire form is an
Arrow IPC *stream* (schemas/README.md lists its columns and metadata). Decoding
never unpickles, and validates the whole stream before reading a value from it.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from schemas.errors import SchemaError
from schemas.routed_window import window_id
from schemas.slice_mark import KIND_HEADER

ROUTED_BATCH_KIND = "routed_batch"
"""The ``schema`` value in the Arrow stream's metadata."""

ROUTED_BATCH_VERSION = 1
"""The ``version`` value in the metadata; a reader refuses any other."""

KIND_ROUTED_BATCH = b"routed-batch"
"""Value of :data:`schemas.slice_mark.KIND_HEADER` on a batch: tells it from a slice mark in ``routed-windows``."""

NO_REGION = -1
"""``region_id`` of a row that was not embedded, once decoded (the wire holds a null)."""

METADATA_KEYS = ("schema", "version", "partition", "produced_ms", "bank_version", "dim")
"""Schema metadata of the stream, all decimal text; ``bank_version`` is empty for None, ``dim`` is 0 for none."""

MAX_DIM = 2**31 - 1
"""Arrow's limit on a fixed-size list; a larger ``dim`` in the metadata is corrupt, not big."""

_STRINGS = ("user_id", "target", "event_id")
_COUNTS: dict[str, type[np.generic]] = {"slice": np.int32, "position": np.int32, "ts_ms": np.int64}
_COUNTS |= {"offset": np.int64, "published_ms": np.int64, "read_ms": np.int64}
"""The non-negative integer columns and their dtypes."""
_ROUTES: dict[str, type[np.generic]] = {"region_id": np.int32, "p1": np.float32, "p2": np.float32}
"""Per-row route columns besides the embedding: null on the wire where a row was not embedded."""
_FILLS: dict[str, float] = {"region_id": NO_REGION, "p1": np.nan, "p2": np.nan}
"""What a decoded row that was not embedded holds: never a plausible route."""
_ARROW = {np.int32: pa.int32(), np.int64: pa.int64(), np.float32: pa.float32()}


def arrow_schema(dim: int) -> pa.Schema:
    """The columns, without metadata, of a batch whose embeddings have ``dim`` coordinates (0: none)."""
    fields = [pa.field(name, pa.string(), nullable=False) for name in _STRINGS]
    fields += [pa.field(name, _ARROW[dtype], nullable=False) for name, dtype in _COUNTS.items()]
    fields.append(pa.field("context", pa.list_(pa.string()), nullable=False))
    fields.append(pa.field("embedding", pa.list_(pa.float32(), dim)))
    fields += [pa.field(name, _ARROW[dtype]) for name, dtype in _ROUTES.items()]
    return pa.schema(fields)


@dataclass(frozen=True, eq=False)  # own __eq__: arrays compare by value, un-embedded rows do not; unhashable
class RoutedBatch:
    """The windows one ingress batch produced from one partition, in offset order.

    Arrays are columns of N rows; decoded ones are read-only views of the message.
    ``embedding``, ``embedded``, ``region_id``, ``p1``, ``p2`` are all None when no
    row was embedded (slice 0 has no Set-up model yet); otherwise ``embedded`` says
    which rows carry a route, and the other rows' route values mean nothing.
    :meth:`build` constructs one from plain sequences.
    """

    HEADERS: ClassVar[tuple[tuple[str, bytes], ...]] = ((KIND_HEADER, KIND_ROUTED_BATCH),)
    """Headers to send a batch with (kafka-python's ``headers=list(RoutedBatch.HEADERS)``)."""

    partition: int
    produced_ms: int  # wall clock when the ingress sent it
    bank_version: int | None  # the bank the routing was computed with; None when nothing was routed
    user_id: tuple[str, ...]
    slice: np.ndarray  # int32 [N]
    position: np.ndarray  # int32 [N]
    context: tuple[tuple[str, ...], ...]  # item ids, oldest first (may be shorter than L, never empty)
    target: tuple[str, ...]
    ts_ms: np.ndarray  # int64 [N] event time of the target
    event_id: tuple[str, ...]
    offset: np.ndarray  # int64 [N] offset of the target's event in `interactions`
    published_ms: np.ndarray  # int64 [N] Kafka record timestamp of that event
    read_ms: np.ndarray  # int64 [N] when the ingress read it
    embedding: np.ndarray | None  # float32 [N, H]; None when no row was embedded
    embedded: np.ndarray | None  # bool [N]: which rows have an embedding and a route
    region_id: np.ndarray | None  # int32 [N] (meaningful where embedded)
    p1: np.ndarray | None  # float32 [N]
    p2: np.ndarray | None  # float32 [N]

    def __post_init__(self) -> None:
        for name in ("partition", "produced_ms", "bank_version"):
            _check_count(getattr(self, name), name, nullable=name == "bank_version")
        n = len(self.user_id)
        if n == 0:
            raise SchemaError("a batch holds at least one window; send nothing instead")
        for name in (*_STRINGS, "context"):
            if len(getattr(self, name)) != n:
                raise SchemaError(f"has {len(getattr(self, name))} rows, user_id has {n}; give every column N", name)
        for name in _STRINGS:
            if "" in getattr(self, name):  # one C-level scan
                raise SchemaError("must not be empty", f"{name}[{getattr(self, name).index('')}]")
        lengths = np.fromiter(map(len, self.context), dtype=np.int64, count=n)
        if lengths.min() == 0:
            raise SchemaError("must hold at least one item id", f"context[{lengths.argmin()}]")
        holes = list(map(operator.contains, self.context, itertools.repeat("")))
        if any(holes):
            raise SchemaError("must not hold an empty item id", f"context[{holes.index(True)}]")
        for name, dtype in _COUNTS.items():
            values = _check_column(getattr(self, name), dtype, (n,), name)
            _check_rows(values >= 0, values, name, "must be >= 0")
        self._check_routes(n)

    def _check_routes(self, n: int) -> None:
        if self.embedding is None:
            given = [name for name in ("embedded", *_ROUTES, "bank_version") if getattr(self, name) is not None]
            if given:
                raise SchemaError("must be None when no row was routed (embedding is None)", given[0])
            return
        if self.bank_version is None:
            raise SchemaError("is required when rows were routed: the bank version of the routes", "bank_version")
        shape = np.shape(self.embedding)
        if len(shape) != 2 or shape[1] < 1:
            raise SchemaError(f"must be a float32 array [N, H] with H >= 1, not shape {shape}", "embedding")
        embedding = _check_column(self.embedding, np.float32, (n, shape[1]), "embedding")
        embedded = _check_column(self.embedded, np.bool_, (n,), "embedded")
        if not embedded.any():
            raise SchemaError("has no True row; pass embedding=None when nothing was embedded", "embedded")
        _check_rows(~embedded | np.isfinite(embedding).all(axis=1), embedding, "embedding", "must be finite")
        for name, dtype in _ROUTES.items():
            values = _check_column(getattr(self, name), dtype, (n,), name)
            ok, rule = (values >= 0, "must be >= 0") if name == "region_id" else (np.isfinite(values), "must be finite")
            _check_rows(~embedded | ok, values, name, rule)

    def __len__(self) -> int:
        return len(self.user_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RoutedBatch):
            return NotImplemented
        plain = ("partition", "produced_ms", "bank_version", *_STRINGS, "context")
        if any(getattr(self, name) != getattr(other, name) for name in plain):
            return False
        if not all(np.array_equal(getattr(self, name), getattr(other, name)) for name in _COUNTS):
            return False
        if self.embedded is None or other.embedded is None:
            return self.embedded is other.embedded
        rows = self.embedded
        return np.array_equal(rows, other.embedded) and all(
            np.array_equal(getattr(self, name)[rows], getattr(other, name)[rows]) for name in ("embedding", *_ROUTES)
        )

    def window_id(self, row: int) -> str:
        return window_id(self.user_id[row], int(self.slice[row]), int(self.position[row]))

    @staticmethod
    def is_batch(headers: Iterable[tuple[str, bytes | None]] | None) -> bool:
        """Whether a consumed ``routed-windows`` message with these headers is a batch."""
        return any(name == KIND_HEADER and value == KIND_ROUTED_BATCH for name, value in headers or ())

    @classmethod
    def build(
        cls,
        *,
        partition: int,
        produced_ms: int,
        bank_version: int | None,
        user_id: Sequence[str],
        slice: Sequence[int] | np.ndarray,
        position: Sequence[int] | np.ndarray,
        context: Sequence[Sequence[str]],
        target: Sequence[str],
        ts_ms: Sequence[int] | np.ndarray,
        event_id: Sequence[str],
        offset: Sequence[int] | np.ndarray,
        published_ms: Sequence[int] | np.ndarray,
        read_ms: Sequence[int] | np.ndarray,
        routed_rows: Sequence[int] | np.ndarray = (),
        embedding: np.ndarray | None = None,
        region_id: Sequence[int] | np.ndarray | None = None,
        p1: Sequence[float] | np.ndarray | None = None,
        p2: Sequence[float] | np.ndarray | None = None,
    ) -> RoutedBatch:
        """A batch from plain sequences, converted exactly (an out-of-range id is an error,
        never wrapped). ``embedding``, ``region_id``, ``p1``, ``p2`` hold only the routed
        rows, in the order of ``routed_rows``: what one embedding pass over the routable
        windows returns. Nothing routed: leave them None, and ``bank_version`` too."""
        n = len(user_id)
        given = {"slice": slice, "position": position, "ts_ms": ts_ms, "offset": offset}
        given |= {"published_ms": published_ms, "read_ms": read_ms}
        columns: dict[str, Any] = {name: _exact(values, _COUNTS[name], name) for name, values in given.items()}
        columns |= dict.fromkeys(("embedding", "embedded", *_ROUTES))
        rows = _exact(routed_rows, np.int64, "routed_rows")
        if len(rows) or embedding is not None:  # an embedding without routed rows is a caller's bug: refused below
            if embedding is None or region_id is None or p1 is None or p2 is None:
                raise SchemaError("need embedding, region_id, p1 and p2 for every routed row", "routed_rows")
            if ((rows < 0) | (rows >= n)).any():
                raise SchemaError(f"must index the {n} windows", "routed_rows")
            routed = _exact(embedding, np.float32, "embedding")
            columns["embedded"] = _scatter(np.zeros(n, dtype=np.bool_), rows, np.True_, "embedded")
            columns["embedding"] = _scatter(np.zeros((n, routed.shape[-1]), np.float32), rows, routed, "embedding")
            for name, values in (("region_id", region_id), ("p1", p1), ("p2", p2)):
                empty = np.full(n, _FILLS[name], dtype=_ROUTES[name])
                columns[name] = _scatter(empty, rows, _exact(values, _ROUTES[name], name), name)
        columns |= {"user_id": tuple(user_id), "target": tuple(target), "event_id": tuple(event_id)}
        columns |= {"partition": partition, "produced_ms": produced_ms, "bank_version": bank_version}
        return cls(context=tuple(map(tuple, context)), **columns)

    def to_bytes(self) -> bytes:
        dim = 0 if self.embedding is None else self.embedding.shape[1]
        bank = "" if self.bank_version is None else str(self.bank_version)
        values = (ROUTED_BATCH_KIND, ROUTED_BATCH_VERSION, self.partition, self.produced_ms, bank, dim)
        schema = arrow_schema(dim).with_metadata({key: str(v) for key, v in zip(METADATA_KEYS, values, strict=True)})
        columns = [self._arrow_column(field) for field in schema]
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, schema) as writer:
            writer.write_batch(pa.RecordBatch.from_arrays(columns, schema=schema))
        encoded: bytes = sink.getvalue().to_pybytes()
        return encoded

    def _arrow_column(self, field: pa.Field) -> pa.Array:
        name, n = field.name, len(self)
        if name in _STRINGS:
            return _strings(getattr(self, name), name)
        if name in _COUNTS:
            return pa.array(getattr(self, name))
        if name == "context":
            offsets = np.zeros(n + 1, dtype=np.int32)
            np.cumsum(np.fromiter(map(len, self.context), dtype=np.int32, count=n), out=offsets[1:])
            return pa.ListArray.from_arrays(pa.array(offsets), _strings(list(itertools.chain(*self.context)), name))
        if self.embedded is None or self.embedding is None:
            return pa.nulls(n, field.type)
        absent = ~self.embedded
        if name != "embedding":
            return pa.array(getattr(self, name), mask=absent)
        # Zeros under the null rows, not whatever the caller left there: the bytes stay deterministic.
        values = np.where(self.embedded[:, None], self.embedding, np.float32(0)).reshape(-1)
        return pa.FixedSizeListArray.from_arrays(pa.array(values), self.embedding.shape[1], mask=pa.array(absent))

    @classmethod
    def from_bytes(cls, raw: bytes) -> RoutedBatch:
        """Decode and validate; :class:`SchemaError` naming the field (or None for the payload) on anything wrong."""
        table = _read(raw)
        partition, produced_ms, bank_version, dim = _metadata(table.schema)
        columns = _columns(table, dim)
        fields: dict[str, Any] = {name: tuple(columns[name].to_pylist()) for name in _STRINGS}
        fields |= {name: columns[name].to_numpy() for name in _COUNTS}  # zero-copy, read-only
        fields |= _routes(columns, table.num_rows, dim)
        context = _contexts(columns["context"])
        return cls(partition=partition, produced_ms=produced_ms, bank_version=bank_version, context=context, **fields)


def _read(raw: bytes) -> pa.Table:
    try:
        table = pa.ipc.open_stream(pa.py_buffer(raw)).read_all()
        table.validate(full=True)  # offsets, lengths and UTF-8, before any value is read from the buffers
    except (pa.ArrowException, OSError, UnicodeDecodeError) as error:  # OSError: a truncated stream; Unicode: a name
        reason = f"payload is not a valid Arrow IPC stream ({str(error)[:80]}); send RoutedBatch.to_bytes() output"
        raise SchemaError(reason) from None
    return table


def _metadata(schema: pa.Schema) -> tuple[int, int, int | None, int]:
    """(partition, produced_ms, bank_version, dim) from the stream's schema metadata."""
    meta = schema.metadata or {}
    found = {key.decode("utf-8", "replace"): value.decode("utf-8", "replace") for key, value in meta.items()}
    for key in METADATA_KEYS:
        if key not in found:
            raise SchemaError("is missing from the stream's schema metadata; write with RoutedBatch.to_bytes", key)
    if found["schema"] != ROUTED_BATCH_KIND:
        raise SchemaError(f"is {found['schema'][:40]!r}, not {ROUTED_BATCH_KIND!r}: not a routed batch", "schema")
    if found["version"] != str(ROUTED_BATCH_VERSION):
        raise SchemaError(f"{found['version'][:40]!r} is unknown; this reader knows {ROUTED_BATCH_VERSION}", "version")
    partition, produced_ms, dim = (_decimal(found[key], key) for key in ("partition", "produced_ms", "dim"))
    bank_version = None if found["bank_version"] == "" else _decimal(found["bank_version"], "bank_version")
    return partition, produced_ms, bank_version, dim


def _decimal(text: str, key: str) -> int:
    # isdigit, not int(): int() also takes " 7", "+7" and "7_0", which no writer of this format sends.
    if not (text.isascii() and text.isdigit()):
        raise SchemaError(f"must be a non-negative decimal integer, not {text[:40]!r}", key)
    if key == "dim" and int(text) > MAX_DIM:
        raise SchemaError(f"{text[:40]} is beyond {MAX_DIM}, the longest fixed-size list Arrow has", key)
    return int(text)


def _columns(table: pa.Table, dim: int) -> dict[str, pa.Array]:
    expected, names = arrow_schema(dim), table.schema.names
    for name in names:
        if names.count(name) > 1 or name not in expected.names:
            raise SchemaError(
                f"is {'a duplicate' if name in expected.names else 'not a'} column of routed_batch v1", name
            )
    columns: dict[str, pa.Array] = {}
    for field in expected:
        if field.name not in names:
            raise SchemaError("column is missing", field.name)
        actual = table.schema.field(field.name).type
        if not _same_type(actual, field.type):
            raise SchemaError(f"must be {field.type}, not {actual}", field.name)
        column = table.column(field.name).combine_chunks()
        if not field.nullable and column.null_count:
            raise SchemaError(f"has {column.null_count} null rows; every window needs a value", field.name)
        columns[field.name] = column
    if columns["context"].flatten().null_count:
        raise SchemaError("holds a null item id", "context")
    return columns


def _same_type(actual: pa.DataType, expected: pa.DataType) -> bool:
    # The child field's name and nullability vary between Arrow writers; the value type and size do not.
    if pa.types.is_list(expected) or pa.types.is_fixed_size_list(expected):
        same_kind = actual.id == expected.id and getattr(actual, "list_size", 0) == getattr(expected, "list_size", 0)
        return bool(same_kind and actual.value_type == expected.value_type)
    return bool(actual == expected)


def _contexts(column: pa.Array) -> tuple[tuple[str, ...], ...]:
    offsets = column.offsets.to_numpy()
    items = column.flatten().to_pylist()  # one list of every item id; the rows are slices of it
    bounds = (offsets - offsets[0]).tolist()
    return tuple(tuple(items[start:end]) for start, end in itertools.pairwise(bounds))


def _routes(columns: dict[str, pa.Array], n: int, dim: int) -> dict[str, np.ndarray | None]:
    embedding = columns["embedding"]
    valid = embedding.is_valid().to_numpy(zero_copy_only=False)
    for name in _ROUTES:
        if not np.array_equal(columns[name].is_valid().to_numpy(zero_copy_only=False), valid):
            raise SchemaError("must be null exactly where embedding is null", name)
    if not valid.any():
        return dict.fromkeys(("embedding", "embedded", *_ROUTES))
    if dim == 0:
        raise SchemaError("dim is 0 but rows carry an embedding", "embedding")
    if embedding.flatten().null_count:  # flatten skips the null rows: these are holes in embedded ones
        raise SchemaError("an embedded row holds a null coordinate", "embedding")
    child = embedding.values.slice(embedding.offset * dim, n * dim)  # every row, nulls included
    vectors = (child.fill_null(0.0) if child.null_count else child).to_numpy().reshape(n, dim)
    routes: dict[str, np.ndarray | None] = {"embedding": vectors, "embedded": valid}
    for name in _ROUTES:
        routes[name] = columns[name].fill_null(_FILLS[name]).to_numpy()
    return routes


def _check_count(value: object, name: str, nullable: bool = False) -> None:
    if (value is None and nullable) or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return
    raise SchemaError(f"must be a non-negative integer, not {value!r:.40}", name)


def _check_column(value: object, dtype: type[np.generic], shape: tuple[int, ...], name: str) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype != dtype or value.shape != shape:
        got = f"{value.dtype} {value.shape}" if isinstance(value, np.ndarray) else type(value).__name__
        want = np.dtype(dtype).name
        raise SchemaError(f"must be a numpy {want} array of shape {shape}, not {got}; RoutedBatch.build converts", name)
    return value


def _check_rows(ok: np.ndarray, values: np.ndarray, name: str, rule: str) -> None:
    if not ok.all():
        row = int(np.argmin(ok))
        raise SchemaError(f"{rule} (got {values[row].tolist()!r:.60})", f"{name}[{row}]")


def _exact(values: object, dtype: type[np.generic], name: str) -> np.ndarray:
    """``values`` as ``dtype``; integers must survive unchanged (no floats, booleans or wrap-around)."""
    array, integer = np.asarray(values), np.issubdtype(dtype, np.integer)
    if array.size and array.dtype.kind not in ("iu" if integer else "fiu"):
        raise SchemaError(f"must hold {'integers' if integer else 'numbers'}, not {array.dtype}", name)
    converted = array.astype(dtype)
    if integer and not np.array_equal(converted, array):
        raise SchemaError(f"holds a value outside {converted.dtype}", name)
    return converted


def _scatter(column: np.ndarray, rows: np.ndarray, values: Any, name: str) -> np.ndarray:
    """``column`` with ``values`` written at ``rows``: one value per routed row, or one for all."""
    if np.ndim(values) and (len(values) != len(rows) or np.shape(values)[1:] != column.shape[1:]):
        raise SchemaError(f"has shape {np.shape(values)}; need one row of {column.shape[1:]} per routed row", name)
    column[rows] = values
    return column


def _strings(values: Sequence[str], name: str) -> pa.Array:
    try:
        array = pa.array(values, type=pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise SchemaError(f"must hold strings only ({str(error)[:80]})", name) from None
    if array.null_count:
        raise SchemaError("must hold strings only, not None", name)
    return array
