"""Without a broker: input detection and line parsing of ``raie publish``, and the replay timeline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from raie.config import ExperimentConfig, PreprocessConfig
from raie.data.dataset import load_dataset
from raie.errors import ConfigError, DataError
from raie.protocol.preprocess import preprocess
from raie.protocol.split import block_of, boundaries
from schemas import Interaction, SchemaError
from streams.interaction_file import InputFormat, detect_format, parse_lines
from streams.replay import MAX_SLEEP_SECONDS, pause_seconds
from streams.replay_timeline import Timeline, event_id, replay_timeline
from tests.paths import ML_LATEST_SMALL

pytestmark = pytest.mark.unit

TS_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z


def _event(**fields: object) -> bytes:
    record: dict[str, object] = {
        "event_id": "e1",
        "user_id": "u1",
        "item_id": "i1",
        "rating": 4.5,
        "ts": TS_MS,
        "source": "web",
    }
    record.update(fields)
    return json.dumps(record).encode() + b"\n"


def _parsed(text: bytes) -> list[tuple[int, Interaction | SchemaError]]:
    return list(parse_lines(text.splitlines(keepends=True)))


# --- format detection -------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (b'{"event_id": "e1"}\n', InputFormat.JSON_LINES),
        (b'   {"event_id": "e1"}', InputFormat.JSON_LINES),
        (b"event_id,user_id,item_id,rating,ts,source\n", InputFormat.CSV),
        (b"[1, 2]", InputFormat.CSV),
    ],
)
def test_detect_format(first: bytes, expected: InputFormat) -> None:
    assert detect_format(first) is expected


# --- JSON lines --------------------------------------------------------------


def test_json_lines_valid_and_invalid_keep_line_numbers() -> None:
    text = b"\n" + _event() + b"  \n" + _event(event_id="e2", ts="2024-05-01T12:00:00Z", rating=None) + b"not json\n"
    text += _event(event_id="e3", ts=1_714_564_800)  # epoch seconds: refused, with the fix named
    parsed = _parsed(text)
    assert [line for line, _ in parsed] == [2, 4, 5, 6]
    first, second = parsed[0][1], parsed[1][1]
    assert first == Interaction("e1", "u1", "i1", TS_MS, "web", 4.5)
    assert isinstance(second, Interaction) and second.ts_ms == TS_MS and second.rating is None
    assert isinstance(parsed[2][1], SchemaError) and "not valid JSON" in parsed[2][1].reason
    error = parsed[3][1]
    assert isinstance(error, SchemaError) and error.field == "ts" and "seconds" in error.reason


def test_json_lines_missing_field_names_it() -> None:
    record = json.loads(_event())
    del record["user_id"]
    [(line, error)] = _parsed(json.dumps(record).encode())
    assert line == 1 and isinstance(error, SchemaError) and error.field == "user_id"


def test_json_lines_with_bom_and_crlf() -> None:
    text = b"\xef\xbb\xbf" + _event().replace(b"\n", b"\r\n") + _event(event_id="e2").replace(b"\n", b"\r\n")
    assert [type(record) for _, record in _parsed(text)] == [Interaction, Interaction]


def test_empty_input_yields_nothing() -> None:
    assert _parsed(b"") == [] and _parsed(b"\n  \n") == []


# --- CSV ----------------------------------------------------------------------

HEADER = b"event_id,user_id,item_id,rating,ts,source\n"


def test_csv_converts_rating_and_ts() -> None:
    text = HEADER + b"e1,u1,i1,4.5,1714564800000,web\ne2,u2,i2,,2024-05-01T12:00:00+00:00,app\n"
    parsed = _parsed(b"\n" + text)  # a leading blank line shifts every number
    assert [line for line, _ in parsed] == [3, 4]
    assert parsed[0][1] == Interaction("e1", "u1", "i1", TS_MS, "web", 4.5)
    assert parsed[1][1] == Interaction("e2", "u2", "i2", TS_MS, "app", None)


def test_csv_errors_carry_line_and_field() -> None:
    rows = [
        b"e1,u1,i1,great,1714564800000,web",  # rating not a number
        b"e2,u2,i2,4,2024-05-01 12:00:00,web",  # no zone
        b"e3,u3,i3,4",  # short row: ts missing
        b"e4,u4,i4,4,1714564800000,web,extra",  # more fields than the header
        b"e5,,i5,4,1714564800000,web",  # empty user_id
        b"\xff\xfe,u6,i6,4,1714564800000,web",  # not UTF-8
        b"e7,u7,i7,5,1714564800000,web",  # fine
    ]
    parsed = _parsed(HEADER + b"\n".join(rows) + b"\n")
    assert [line for line, _ in parsed] == [2, 3, 4, 5, 6, 7, 8]
    errors = [record for _, record in parsed[:-1]]
    assert all(isinstance(error, SchemaError) for error in errors)
    fields = [error.field for error in errors if isinstance(error, SchemaError)]
    assert fields == ["rating", "ts", "ts", None, "user_id", None]
    assert "zone" in str(errors[1]) and "UTF-8" in str(errors[5])
    assert isinstance(parsed[-1][1], Interaction)


def test_csv_without_rating_column_is_fine() -> None:
    [(_, record)] = _parsed(b"event_id,user_id,item_id,ts,source\ne1,u1,i1,1714564800000,web\n")
    assert record == Interaction("e1", "u1", "i1", TS_MS, "web", None)


def test_csv_header_missing_columns_is_a_file_error() -> None:
    with pytest.raises(DataError, match=r"lacks column\(s\) \['ts', 'source'\]"):
        _parsed(b"event_id,user_id,item_id\ne1,u1,i1\n")


# --- pacing -------------------------------------------------------------------


def test_pause_is_scaled_and_capped() -> None:
    assert pause_seconds(None, TS_MS, 10.0) == 0.0
    assert pause_seconds(TS_MS, TS_MS + 5000, None) == 0.0
    assert pause_seconds(TS_MS, TS_MS + 500, 1.0) == pytest.approx(0.5)
    assert pause_seconds(TS_MS, TS_MS + 5000, 10.0) == pytest.approx(0.5)
    assert pause_seconds(TS_MS, TS_MS + 86_400_000, 1.0) == MAX_SLEEP_SECONDS


# --- replay timeline ------------------------------------------------------------


def _check_timeline(timeline: Timeline, name: str, data_dir: Path, config: ExperimentConfig) -> None:
    data = load_dataset(name, data_dir)
    positives = preprocess(data.interactions, config.preprocess)
    events = list(timeline.events())
    assert len(events) == len(timeline) == len(positives)
    keys = [(e.ts_ms, e.user_id, e.item_id) for e in events]
    assert keys == sorted(keys)
    assert all(e.event_id == event_id(name, e.user_id, e.item_id, e.ts_ms // 1000) for e in events)
    assert len({e.event_id for e in events}) == len(events)  # dedupe on: one event per (user, item)
    assert {e.source for e in events} == {f"replay:{name}"}
    # The same (user, item, ts) triples as the protocol's positives.
    expected = sorted(
        (int(ts) * 1000, positives.user_ids[u], positives.item_ids[i - 1])
        for u, i, ts in zip(positives.user, positives.item, positives.ts, strict=True)
    )
    assert keys == expected
    assert timeline.boundaries == tuple(int(b) for b in boundaries(positives.ts, (0.5, 0.8)))
    assert [item.item_id for item in timeline.items] == positives.item_ids
    # Ratings come from the raw table and pass the positive threshold.
    assert config.preprocess.min_rating is not None
    assert all(e.rating is not None and e.rating >= config.preprocess.min_rating for e in events)


def test_timeline_movielens_matches_preprocessed_positives() -> None:
    config = ExperimentConfig(dataset="movielens", preprocess=PreprocessConfig(min_rating=4.0, k_core=5))
    timeline = replay_timeline("movielens", ML_LATEST_SMALL, config)
    _check_timeline(timeline, "movielens", ML_LATEST_SMALL, config)
    toy_story = next(item for item in timeline.items if item.item_id == "1")
    assert toy_story.title == "Toy Story (1995)" and toy_story.categories is not None
    assert "Animation" in toy_story.categories
    # Ratings carried as in ratings.csv: user 1 rated movie 1 4.0 at 964982703.
    first = next(e for e in timeline.events() if e.user_id == "1" and e.item_id == "1")
    assert (first.rating, first.ts_ms) == (4.0, 964_982_703_000)


def test_timeline_yelp_with_k_core(synthetic_yelp_dir: Path, fast_config: ExperimentConfig) -> None:
    timeline = replay_timeline("yelp", synthetic_yelp_dir, fast_config)
    _check_timeline(timeline, "yelp", synthetic_yelp_dir, fast_config)
    assert all(item.title for item in timeline.items)
    # Boundaries cut the timeline where the protocol does: every slice non-empty.
    counts = np.bincount(block_of(timeline.table["ts"].to_numpy(), timeline.boundaries), minlength=3)
    assert timeline.n_slices == 3 and (counts > 0).all()


def test_timeline_is_deterministic(synthetic_yelp_dir: Path, fast_config: ExperimentConfig) -> None:
    first = replay_timeline("yelp", synthetic_yelp_dir, fast_config, (0.5,))
    second = replay_timeline("yelp", synthetic_yelp_dir, fast_config, (0.5,))
    assert list(first.events()) == list(second.events()) and first.boundaries == second.boundaries
    assert first.n_slices == 2


@pytest.mark.parametrize("slices", [(), (0.8, 0.5), (0.0, 0.5), (0.5, 1.0)])
def test_timeline_refuses_bad_slices(slices: tuple[float, ...], fast_config: ExperimentConfig) -> None:
    with pytest.raises(ConfigError, match="--slices"):
        replay_timeline("movielens", ML_LATEST_SMALL, fast_config, slices)
