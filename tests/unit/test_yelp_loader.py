"""Yelp loader: the official JSON-lines layout, nested fields, and precise errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from raie.data.dataset import load_dataset
from raie.data.schema import INTERACTIONS_SCHEMA, ITEMS_SCHEMA
from raie.data.yelp import BUSINESS_FILE, REVIEW_FILE, load_yelp
from raie.errors import DataError

pytestmark = pytest.mark.unit


def _review(**fields: Any) -> dict[str, Any]:
    review: dict[str, Any] = {
        "review_id": "KU_O5udG6zpxOg-VcAEodg",
        "user_id": "mh_-eMZ6K5RLWhZyISBhwA",
        "business_id": "XQfwVwDr-v0ZS3_CbbE5Xw",
        "stars": 3.0,
        "useful": 0,
        "funny": 0,
        "cool": 0,
        "text": 'Decent, "fine", café \u2014 ok.\nSecond paragraph.',
        "date": "2018-07-07 22:09:11",
    }
    review.update(fields)
    return review


BUSINESSES: list[dict[str, Any]] = [
    {
        "business_id": "XQfwVwDr-v0ZS3_CbbE5Xw",
        "name": "Turning Point of North Wales",
        "address": "1460 Bethlehem Pike",
        "city": "North Wales",
        "state": "PA",
        "postal_code": "19454",
        "latitude": 40.2101961875,
        "longitude": -75.2236385919,
        "stars": 3.0,
        "review_count": 169,
        "is_open": 1,
        "attributes": {
            "BusinessParking": "{'garage': False, 'street': False, 'lot': True}",
            "Deeper": {"levels": {"of": [1, {"nesting": None}]}},
        },
        "categories": "Restaurants, Breakfast & Brunch ,Food,, Juice Bars & Smoothies",
        "hours": {"Monday": "7:30-15:0", "Tuesday": "7:30-15:0"},
    },
    {
        "business_id": "tUFrWirKiKi_TAnsVWINQQ",
        "name": "Target",
        "address": "",
        "city": "Tucson",
        "state": "AZ",
        "postal_code": "85711",
        "latitude": 32.223236,
        "longitude": -110.880452,
        "stars": 3.5,
        "review_count": 22,
        "is_open": 0,
        "attributes": None,
        "categories": None,
        "hours": None,
    },
]


def _lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _folder(tmp_path: Path, reviews: str, businesses: str | None = None) -> Path:
    (tmp_path / REVIEW_FILE).write_text(reviews, encoding="utf-8")
    (tmp_path / BUSINESS_FILE).write_text(businesses or _lines(BUSINESSES), encoding="utf-8")
    return tmp_path


def test_official_layout(tmp_path: Path) -> None:
    second = _review(user_id="u2", business_id="tUFrWirKiKi_TAnsVWINQQ", stars=5, date="2019-01-01 00:00:00")
    data = load_dataset("yelp", _folder(tmp_path, _lines([_review(), second])))
    assert data.interactions.schema.equals(INTERACTIONS_SCHEMA)
    assert data.items.schema.equals(ITEMS_SCHEMA)
    assert data.interactions.to_pylist() == [
        {
            "user_id": "mh_-eMZ6K5RLWhZyISBhwA",
            "item_id": "XQfwVwDr-v0ZS3_CbbE5Xw",
            "rating": 3.0,
            "ts": datetime(2018, 7, 7, 22, 9, 11, tzinfo=UTC),
        },
        {
            "user_id": "u2",
            "item_id": "tUFrWirKiKi_TAnsVWINQQ",
            "rating": 5.0,
            "ts": datetime(2019, 1, 1, tzinfo=UTC),
        },
    ]
    items = data.items.to_pylist()
    assert items[0]["title"] == "Turning Point of North Wales"
    assert items[0]["categories"] == [
        "Restaurants",
        "Breakfast & Brunch",
        "Food",
        "Juice Bars & Smoothies",
    ]
    assert items[1]["categories"] == []  # null categories


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        ('{"user_id": "u", "business_id": "b", "stars": 4,', "line 3: not valid JSON"),
        ("[1, 2]", "line 3: not a JSON object"),
        (json.dumps(_review(user_id=None)), "line 3, field 'user_id': value is missing or null"),
        (
            json.dumps({"business_id": "b", "stars": 1, "date": "2018-01-01 00:00:00"}),
            "line 3, field 'user_id'",
        ),
        (json.dumps(_review(business_id=None)), "line 3, field 'business_id'"),
        (json.dumps(_review(stars="abc")), "line 3, field 'stars': 'abc' is not a number"),
        (json.dumps(_review(stars=None)), "line 3, field 'stars': value is missing or null"),
        (json.dumps(_review(date="2018-13-45 99:00:00")), "line 3, field 'date': '2018-13-45"),
    ],
)
def test_review_errors_name_file_line_field(tmp_path: Path, bad_line: str, expected: str) -> None:
    # line 2 is blank on purpose: line numbers count every physical line
    reviews = _lines([_review()]) + "\n" + bad_line + "\n" + _lines([_review(user_id=None)])
    with pytest.raises(DataError) as caught:
        load_yelp(_folder(tmp_path, reviews))
    assert f"{REVIEW_FILE}, {expected}" in str(caught.value)


def test_business_error_names_line_and_field(tmp_path: Path) -> None:
    broken = dict(BUSINESSES[1], business_id=None)
    businesses = _lines([BUSINESSES[0], broken])
    with pytest.raises(DataError, match=rf"{BUSINESS_FILE}, line 2, field 'business_id'"):
        load_yelp(_folder(tmp_path, _lines([_review()]), businesses))


def test_missing_file_says_where_to_get_it(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"yelp_academic_dataset_review\.json: file not found.*yelp\.com/dataset"):
        load_yelp(tmp_path)
    (tmp_path / REVIEW_FILE).write_text(_lines([_review()]), encoding="utf-8")
    with pytest.raises(DataError, match=r"yelp_academic_dataset_business\.json: file not found"):
        load_yelp(tmp_path)
