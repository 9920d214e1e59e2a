"""MovieLens loader: the three layouts, the real ml-latest-small, and precise errors."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from raie.data.dataset import load_dataset
from raie.data.movielens import ML100K_GENRES, load_movielens
from raie.data.schema import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
from raie.errors import DataError
from tests.paths import ML_LATEST_SMALL

pytestmark = pytest.mark.unit


RATINGS_CSV = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,50,3.5,964982931\n2,999,5,0\n"
MOVIES_CSV = (
    "movieId,title,genres\n"
    "1,Toy Story (1995),Adventure|Animation|Children\n"
    '11,"American President, The (1995)",Comedy|Drama\n'
    '50,"Cité des enfants perdus, La (1995)",(no genres listed)\n'
)


def _write(folder: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        data = content.encode("utf-8") if isinstance(content, str) else content
        (folder / name).write_bytes(data)
    return folder


def _csv_folder(tmp_path: Path, **overrides: str | bytes) -> Path:
    files: dict[str, str | bytes] = {"ratings.csv": RATINGS_CSV, "movies.csv": MOVIES_CSV}
    files.update({k.replace("_", "."): v for k, v in overrides.items()})
    return _write(tmp_path, files)


def test_csv_layout(tmp_path: Path) -> None:
    data = load_movielens(_csv_folder(tmp_path))
    assert data.interactions.schema.equals(INTERACTIONS_SCHEMA)
    assert data.items.schema.equals(ITEMS_SCHEMA)
    rows = data.interactions.to_pylist()
    assert rows[0] == {
        "user_id": "1",
        "item_id": "1",
        "rating": 4.0,
        "ts": datetime.fromtimestamp(964982703, UTC),
    }
    assert rows[2]["item_id"] == "999"  # not in movies.csv, kept anyway
    assert rows[1]["rating"] == pytest.approx(3.5)
    items = {r["item_id"]: r for r in data.items.to_pylist()}
    assert items["1"]["categories"] == ["Adventure", "Animation", "Children"]
    assert items["11"]["title"] == "American President, The (1995)"
    assert items["50"]["title"] == "Cité des enfants perdus, La (1995)"
    assert items["50"]["categories"] == []


def test_dat_layout_latin1(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "ratings.dat": "1::1193::5::978300760\n1::661::3::978302109\n",
            "movies.dat": b"1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
            + "661::Café: Noir (1996)::Animation|Children's|Musical\n".encode("latin-1"),
        },
    )
    data = load_movielens(tmp_path)
    assert data.interactions.column("item_id").to_pylist() == ["1193", "661"]
    assert data.interactions.column("rating").to_pylist() == [5.0, 3.0]
    items = {r["item_id"]: r for r in data.items.to_pylist()}
    assert items["661"]["title"] == "Café: Noir (1996)"
    assert items["661"]["categories"] == ["Animation", "Children's", "Musical"]


def _u_item_line(item: int, title: str, flags: list[int]) -> str:
    return f"{item}|{title}|01-Jan-1995||http://x|" + "|".join(map(str, flags)) + "\n"


@pytest.mark.parametrize("with_genre_file", [True, False])
def test_100k_layout(tmp_path: Path, with_genre_file: bool) -> None:
    flags = [0] * 19
    flags[1] = flags[5] = 1  # Action, Comedy
    files: dict[str, str | bytes] = {
        "u.data": "196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
        "u.item": (_u_item_line(242, "Kolya (1996)", [0] * 19) + _u_item_line(302, "Été (1997)", flags)).encode(
            "latin-1"
        ),
    }
    if with_genre_file:
        names = list(ML100K_GENRES)
        names[1] = "Action!"  # proves the names come from u.genre
        files["u.genre"] = "".join(f"{n}|{i}\n" for i, n in enumerate(names)) + "\n"
    data = load_movielens(_write(tmp_path, files))
    assert data.interactions.column("user_id").to_pylist() == ["196", "186"]
    items = {r["item_id"]: r for r in data.items.to_pylist()}
    assert items["302"]["title"] == "Été (1997)"
    first = "Action!" if with_genre_file else "Action"
    assert items["302"]["categories"] == [first, "Comedy"]
    assert items["242"]["categories"] == []


def test_real_ml_latest_small() -> None:
    data = load_dataset("movielens", ML_LATEST_SMALL)
    assert data.interactions.num_rows == 100836
    assert data.items.num_rows == 9742
    assert len(data.interactions.column("user_id").unique()) == 610


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"ratings_csv": RATINGS_CSV.replace("1,50,3.5", "1,50,abc")},
            "ratings.csv, line 3, field 'rating': 'abc' is not a number",
        ),
        (
            {"ratings_csv": RATINGS_CSV.replace("2,999,5,0", ",999,5,0")},
            "ratings.csv, line 4, field 'userId': value is missing",
        ),
        (
            {"ratings_csv": RATINGS_CSV.replace("2,999,5,0", "2,999,5,0,7")},
            "ratings.csv, line 4: expected 4 fields",
        ),
        (
            {"ratings_csv": RATINGS_CSV.replace("1,50,3.5", "1,5x,3.5")},
            "ratings.csv, line 3, field 'movieId': '5x' is not an integer",
        ),
        (
            {"ratings_csv": RATINGS_CSV.replace("userId", "user")},
            "ratings.csv, line 1: header is 'user,movieId,rating,timestamp'",
        ),
        (
            {"movies_csv": MOVIES_CSV.encode() + b"7,Bad \xff title,Drama\n"},
            "movies.csv, line 5, field 'title'",
        ),
        (
            {"movies_csv": MOVIES_CSV + "8,,Drama\n"},
            "movies.csv, line 5, field 'title': value is missing",
        ),
    ],
)
def test_csv_errors_name_file_line_field(tmp_path: Path, files: dict[str, str | bytes], expected: str) -> None:
    with pytest.raises(DataError) as caught:
        load_movielens(_csv_folder(tmp_path, **files))
    assert expected in str(caught.value)


def test_dat_error_names_line_and_field(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "ratings.dat": "1::1::5::978300760\n\n1::2::5::soon\n",
            "movies.dat": "1::A (1990)::Drama\n",
        },
    )
    with pytest.raises(DataError, match=r"ratings\.dat, line 3, field 'Timestamp': 'soon'"):
        load_movielens(tmp_path)


def test_100k_errors_name_line_and_field(tmp_path: Path) -> None:
    flags = [0] * 19
    flags[3] = 2
    _write(tmp_path, {"u.data": "1\t2\t3\t4\n", "u.item": _u_item_line(2, "A", flags)})
    with pytest.raises(DataError, match=r"u\.item, line 1, field 'Animation': '2' is not 0 or 1"):
        load_movielens(tmp_path)
    _write(tmp_path, {"u.data": "1\t2\t3\t4\n1\tx\t3\t4\n"})
    with pytest.raises(DataError, match=r"u\.data, line 2, field 'item_id': 'x' is not an integer"):
        load_movielens(tmp_path)


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no MovieLens ratings file found"):
        load_movielens(tmp_path)
    _write(tmp_path, {"ratings.dat": "1::1::5::978300760\n"})
    with pytest.raises(DataError, match=r"movies\.dat: file not found"):
        load_movielens(tmp_path)


def test_quoted_csv_header_is_accepted(tmp_path: Path) -> None:
    quoted = RATINGS_CSV.replace("userId,movieId,rating,timestamp", '"userId","movieId","rating","timestamp"')
    assert load_movielens(_csv_folder(tmp_path, ratings_csv=quoted)).interactions.num_rows == 3
