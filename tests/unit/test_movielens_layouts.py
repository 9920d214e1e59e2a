"""The three MovieLens layouts load the same real ratings identically.

ml-latest-small is rewritten in the ml-1m (``::``) and ml-100k (tab / pipe,
latin-1, genre flags) layouts; each must give the same canonical tables.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from raie.data.dataset import Dataset, load_dataset
from raie.data.movielens import ML100K_GENRES
from tests.paths import ML_LATEST_SMALL

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def csv_layout() -> Dataset:
    return load_dataset("movielens", ML_LATEST_SMALL)


def read_csv_rows(name: str) -> list[list[str]]:
    with (ML_LATEST_SMALL / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))[1:]


def test_dat_layout_matches_csv(csv_layout: Dataset, tmp_path: Path) -> None:
    (tmp_path / "ratings.dat").write_text("".join("::".join(r) + "\n" for r in read_csv_rows("ratings.csv")))
    (tmp_path / "movies.dat").write_text(
        "".join("::".join(r) + "\n" for r in read_csv_rows("movies.csv")), encoding="utf-8"
    )
    dat = load_dataset("movielens", tmp_path)
    assert dat.interactions.equals(csv_layout.interactions)
    assert dat.items.equals(csv_layout.items)


def test_100k_layout_matches_csv_interactions(csv_layout: Dataset, tmp_path: Path) -> None:
    (tmp_path / "u.data").write_text(
        "".join(f"{u}\t{i}\t{int(float(r))}\t{t}\n" for u, i, r, t in read_csv_rows("ratings.csv"))
    )
    lines = []
    for movie_id, title, genres in read_csv_rows("movies.csv"):
        flags = ["1" if g in genres.split("|") else "0" for g in ML100K_GENRES]
        lines.append("|".join([movie_id, title, "01-Jan-1995", "", "http://example.invalid", *flags]) + "\n")
    (tmp_path / "u.item").write_text("".join(lines), encoding="latin-1", errors="replace")
    ml100k = load_dataset("movielens", tmp_path)
    expected = csv_layout.interactions
    assert ml100k.interactions.num_rows == expected.num_rows
    assert ml100k.interactions.column("user_id").equals(expected.column("user_id"))
    assert ml100k.interactions.column("ts").equals(expected.column("ts"))
    assert ml100k.items.num_rows == csv_layout.items.num_rows
