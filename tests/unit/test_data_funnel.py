"""The data funnel: what each preprocessing step and block keeps, warnings, and data that filters away."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from raie.cli.main import main
from raie.config import PreprocessConfig, ProtocolConfig
from raie.data.dataset import load_dataset
from raie.data.schema import INTERACTIONS_SCHEMA
from raie.data.yelp import BUSINESS_FILE, REVIEW_FILE
from raie.errors import ConfigError, DataError
from raie.protocol.blocks import build_protocol
from raie.protocol.funnel import (
    MIN_KEPT_FRACTION,
    MIN_SCORED_WINDOWS,
    BlockCount,
    Funnel,
    data_funnel,
    funnel_warnings,
    require_usable,
)
from raie.protocol.preprocess import StepCount, preprocess
from raie.protocol.stats import funnel_report

pytestmark = pytest.mark.unit

Row = tuple[str, str, float | None, int]

START = datetime(2020, 1, 1, tzinfo=UTC)


def table(rows: list[Row]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"user_id": u, "item_id": i, "rating": r, "ts": START + timedelta(days=t)} for u, i, r, t in rows],
        schema=INTERACTIONS_SCHEMA,
    )


def counts(steps: tuple[StepCount, ...]) -> list[tuple[str, str | None, int, int, int]]:
    return [(s.step, s.knob, s.interactions, s.users, s.items) for s in steps]


# Users x, y like a and b twice over; z likes c once; w only rated badly; (x, a) is repeated.
HAND_MADE: list[Row] = [
    ("x", "a", 5.0, 1),
    ("x", "a", 4.0, 2),
    ("x", "b", 5.0, 3),
    ("y", "a", 4.5, 4),
    ("y", "b", 4.0, 5),
    ("z", "c", 5.0, 6),
    ("w", "d", 2.0, 7),
    ("w", "a", None, 8),
]


def test_counts_per_step_on_a_hand_made_table() -> None:
    p = preprocess(table(HAND_MADE), PreprocessConfig(min_rating=4.0, dedupe=True, k_core=2))
    assert counts(p.steps) == [
        ("loaded", None, 8, 4, 4),
        ("rating >= 4", "preprocess.min_rating", 6, 3, 3),  # w's 2.0 and missing rating go
        ("latest per (user, item)", "preprocess.dedupe", 5, 3, 3),  # (x, a) kept once
        ("2-core", "preprocess.k_core", 4, 2, 2),  # z and c go
    ]
    assert len(p) == p.steps[-1].interactions and p.user_ids == ["x", "y"]


def test_disabled_steps_are_not_counted() -> None:
    p = preprocess(table(HAND_MADE), PreprocessConfig(min_rating=None, dedupe=False, k_core=0))
    assert counts(p.steps) == [("loaded", None, 8, 4, 4)]


@pytest.mark.parametrize(
    ("config", "knob", "fix"),
    [
        (PreprocessConfig(k_core=3), "preprocess.k_core", "--set preprocess.k_core=0"),
        (PreprocessConfig(k_core=10), "preprocess.k_core", "--set preprocess.k_core=5"),
        (PreprocessConfig(min_rating=5.5), "preprocess.min_rating", "--set preprocess.min_rating=4.5"),
    ],
)
def test_a_step_that_leaves_nothing_names_its_knob(config: PreprocessConfig, knob: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        preprocess(table(HAND_MADE), config)
    assert caught.value.field == knob and fix in caught.value.fix


def funnel_of(steps: list[int], scored: tuple[int, int]) -> Funnel:
    """A funnel whose steps keep the given interaction counts and whose S held-out and T eval are ``scored``."""
    names = [
        ("loaded", None, None),
        ("rating >= 4", "preprocess.min_rating", "lower it"),
        ("10-core", "preprocess.k_core", "lower it, e.g. --set preprocess.k_core=5"),
    ]
    step_counts = tuple(
        StepCount(name, knob, interactions=n, users=n, items=n, fix=fix)
        for (name, knob, fix), n in zip(names, steps, strict=False)
    )
    users = {"targets": 400, "window_users": 50, "train_users": 50}
    s = BlockCount("S", 500, 50, 50, train=400, valid=50, holdout=scored[0], eval=100, **users)
    f = BlockCount("F", 300, 50, 50, train=200, valid=50, holdout=50, eval=60, **users)
    t = BlockCount("T", 200, 50, 50, train=100, valid=50, holdout=50, eval=scored[1], **users)
    return Funnel(step_counts, (s, f, t), step_counts[-1], ProtocolConfig())


def test_a_step_keeping_under_the_threshold_warns_with_its_knob_and_override() -> None:
    kept_just_enough = int(1000 * MIN_KEPT_FRACTION)
    assert funnel_warnings(funnel_of([1000, 1000, kept_just_enough], (500, 500))) == []
    warnings = funnel_warnings(funnel_of([1000, 1000, kept_just_enough - 1], (500, 500)))
    assert [w.knob for w in warnings] == ["preprocess.k_core"]
    assert "'10-core'" in warnings[0].message and "--set preprocess.k_core=5" in warnings[0].message
    # Each step is judged against its own input: here the 10-core keeps all that the rating step left.
    assert [w.knob for w in funnel_warnings(funnel_of([1000, 100, 100], (500, 500)))] == ["preprocess.min_rating"]


def test_too_few_scored_windows_warn_per_block() -> None:
    enough = MIN_SCORED_WINDOWS
    assert funnel_warnings(funnel_of([1000, 900, 800], (enough, enough))) == []
    few = funnel_warnings(funnel_of([1000, 900, 800], (enough - 1, 81)))
    assert [w.knob for w in few] == ["protocol.holdout_targets", "protocol.eval_stride"]
    held_out, evaluation = (w.message for w in few)
    assert "block S" in held_out and "--set protocol.holdout_targets=2" in held_out
    assert "block T has only 81 evaluation windows" in evaluation
    assert "--set protocol.eval_stride=1" in evaluation and "--set protocol.cutoffs=[0.5,0.7]" in evaluation
    assert "--set preprocess.k_core=5" in evaluation  # the k-core ran, so lowering it is advised too


def test_report_shows_every_step_and_block() -> None:
    p = preprocess(table(HAND_MADE), PreprocessConfig(k_core=2))
    data = build_protocol(p, ProtocolConfig(cutoffs=(0.5,), context_len=1, holdout_targets=1))
    text = funnel_report(data_funnel(data))
    for cell in ("loaded", "rating >= 4", "preprocess.dedupe", "2-core", "preprocess.k_core", "75.0%", "slice0", "all"):
        assert cell in text


def test_block_counts_show_what_each_context_setting_keeps() -> None:
    # Users u0..u5 have 1..6 positives, all in one block (a second block gets a single late one).
    rows: list[Row] = [(f"u{u}", f"i{k}", 5.0, k) for u in range(6) for k in range(u + 1)]
    rows.append(("u5", "i9", 5.0, 99))
    p = preprocess(table(rows), PreprocessConfig(dedupe=False))
    base = ProtocolConfig(cutoffs=(0.99,), context_len=3, holdout_targets=1)

    def first_block(config: ProtocolConfig) -> BlockCount:
        return data_funnel(build_protocol(p, config)).blocks[0]

    full = first_block(base)  # users with 4, 5, 6 positives: 1 + 2 + 3 targets
    assert (full.interactions, full.users, full.window_users, full.targets) == (21, 6, 3, 6)
    assert full.train_users == 1  # 3 context, 1 trained, 1 validating, 1 held out: only u5 has 6
    short = first_block(ProtocolConfig(cutoffs=(0.99,), context_len=3, min_context_len=1, holdout_targets=1))
    assert (short.window_users, short.targets, short.train_users) == (5, 21 - 6, 3)  # all but the first; 4+ trains
    late = data_funnel(build_protocol(p, replace(base, context_across_blocks=True))).blocks[1]
    assert (late.interactions, late.window_users, late.targets) == (1, 1, 1)  # u5's late positive reads block 0
    text = funnel_report(data_funnel(build_protocol(p, replace(base, min_context_len=1))))
    assert "contexts of 1 to 3 items, left-padded, inside the block" in text
    for header in ("win users", "train users", "targets", "kept", "71.4%"):  # 15 of 21 positives are targets
        assert header in text
    assert "reaching into earlier blocks" in funnel_report(
        data_funnel(build_protocol(p, replace(base, context_across_blocks=True)))
    )


def long_sequences(users: int, length: int, same_time: bool = False) -> list[Row]:
    return [(f"u{u}", f"i{(u + t) % 30}", 5.0, 0 if same_time else t) for u in range(users) for t in range(length)]


def test_blocks_without_interactions_or_windows_stop_with_the_knob() -> None:
    config = PreprocessConfig(dedupe=False)
    # Every positive at the same instant: the quantile cutoffs put them all in the last block.
    same_time = build_protocol(preprocess(table(long_sequences(5, 20, same_time=True)), config), ProtocolConfig())
    with pytest.raises(ConfigError) as caught:
        require_usable(data_funnel(same_time))
    assert caught.value.field == "protocol.cutoffs" and "block S has no interaction" in str(caught.value)
    # Sequences of 20 split 10/6/4: no S window has 30 items of context.
    long_context = build_protocol(preprocess(table(long_sequences(5, 20)), config), ProtocolConfig(context_len=30))
    with pytest.raises(ConfigError) as caught:
        require_usable(data_funnel(long_context))
    assert caught.value.field == "protocol.context_len" and "no training window" in str(caught.value)
    fine = build_protocol(preprocess(table(long_sequences(5, 40)), config), ProtocolConfig(context_len=3))
    require_usable(data_funnel(fine))


# --- the command line, on a tiny Yelp-layout file that the preset's 10-core filter empties


def write_tiny_yelp(folder: Path, users: int = 6, per_user: int = 6) -> Path:
    """A few dozen reviews: every user and business has fewer than 10 positives."""
    reviews, businesses = [], []
    for b in range(per_user + 1):
        businesses.append({"business_id": f"b{b}", "name": f"Place {b}", "categories": "Food, Cafes"})
    for u in range(users):
        for k in range(per_user):
            stars = 2.0 if k == 0 else 5.0  # one negative each, so the rating step removes something
            date = (START + timedelta(days=u + 7 * k)).strftime("%Y-%m-%d %H:%M:%S")
            reviews.append(
                {"user_id": f"u{u}", "business_id": f"b{(u + k) % (per_user + 1)}", "stars": stars, "date": date}
            )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / REVIEW_FILE).write_text("".join(json.dumps(r) + "\n" for r in reviews))
    (folder / BUSINESS_FILE).write_text("".join(json.dumps(b) + "\n" for b in businesses))
    return folder


def assert_stopped_on(err: str, knob: str) -> None:
    assert f"config field '{knob}'" in err
    assert "Traceback" not in err


def test_data_stats_on_data_that_filters_away_exits_2_naming_k_core(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_tiny_yelp(tmp_path / "yelp")
    assert main(["data", "stats", "--dataset", "yelp", "--data-dir", str(folder)]) == 2
    captured = capsys.readouterr()
    assert_stopped_on(captured.err, "preprocess.k_core")
    assert "'10-core' step keeps none of the 30 interactions" in captured.err
    assert "--set preprocess.k_core=5" in captured.err
    assert "36 raw interactions" in captured.out


def test_experiment_on_data_that_filters_away_exits_2_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, store = write_tiny_yelp(tmp_path / "yelp"), tmp_path / "store"
    argv = ["experiment", "--dataset", "yelp", "--data-dir", str(folder), "--methods", "base", "--store", str(store)]
    assert main(argv) == 2
    assert_stopped_on(capsys.readouterr().err, "preprocess.k_core")
    assert not store.exists()  # stopped before the store was opened, so nothing trained


def test_cli_stops_on_a_block_without_windows_after_printing_the_funnel(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_tiny_yelp(tmp_path / "yelp")
    config = tmp_path / "loose.yaml"
    config.write_text(yaml.safe_dump({"dataset": "yelp", "preprocess": {"k_core": 0}, "protocol": {"context_len": 8}}))
    assert main(["data", "stats", "--dataset", "yelp", "--data-dir", str(folder), "--config", str(config)]) == 2
    captured = capsys.readouterr()
    assert_stopped_on(captured.err, "protocol.context_len")
    assert "latest per (user, item)" in captured.out and "held-out win" in captured.out


def test_cli_warns_on_stderr_when_blocks_are_small(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tiny_yelp(tmp_path / "yelp", users=12, per_user=12)
    config = tmp_path / "loose.yaml"
    config.write_text(yaml.safe_dump({"dataset": "yelp", "preprocess": {"k_core": 0}, "protocol": {"context_len": 1}}))
    assert main(["data", "stats", "--dataset", "yelp", "--data-dir", str(folder), "--config", str(config)]) == 0
    captured = capsys.readouterr()
    assert "raie data: warning: block S has only" in captured.err and "protocol.holdout_targets" in captured.err
    assert "raie data: warning: block T has only" in captured.err


def test_an_empty_review_file_is_a_data_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_tiny_yelp(tmp_path / "yelp")
    (folder / REVIEW_FILE).write_text("")
    assert main(["data", "stats", "--dataset", "yelp", "--data-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "no interactions" in err and "Traceback" not in err
    with pytest.raises(DataError, match="no interactions"):
        load_dataset("yelp", folder)
