"""The Yelp Open Dataset layout that every synthetic scenario writes.

``yelp_academic_dataset_review.json`` and ``yelp_academic_dataset_business.json``,
one compact JSON object per line, with every field of the official files
(nested ``attributes`` and ``hours``, nulls where real data has them), so that
the real loader (:mod:`raie.data.yelp`) is what reads a synthetic data set.
A scenario decides who reviews what and when; this module only writes it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

ID_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
"""Yelp ids are 22 url-safe base64 characters."""

CITIES = (
    ("Philadelphia", "PA", 39.95, -75.16),
    ("Tampa", "FL", 27.95, -82.46),
    ("Nashville", "TN", 36.16, -86.78),
    ("Tucson", "AZ", 32.22, -110.97),
)
_TEXTS = (
    "Would not come back.",
    "Not great, not terrible.",
    "Pretty good.",
    "Really good, I'll be back!",
    'Loved it \u2014 "best in town".',
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Reviews:
    """Generated reviews as parallel arrays: user index, business index, stars, epoch seconds."""

    user: IntArray
    item: IntArray
    stars: IntArray
    ts: IntArray

    @staticmethod
    def concat(parts: Sequence[Reviews], order: IntArray) -> Reviews:
        """All ``parts`` laid end to end, then rows taken in ``order``."""
        fields = ("user", "item", "stars", "ts")
        return Reviews(*(np.concatenate([getattr(p, f) for p in parts])[order] for f in fields))


@dataclass(frozen=True)
class BusinessNulls:
    """How often business fields are null, as in real data."""

    attributes: float
    """Share of businesses whose ``attributes`` (and ``hours``) are null."""
    categories: float
    """Share of businesses whose ``categories`` is null."""


def yelp_ids(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct 22-character Yelp-style ids."""
    alphabet = np.frombuffer(ID_ALPHABET, dtype="S1")
    while True:
        ids = [bytes(row).decode() for row in alphabet[rng.integers(0, 64, (n, 22))]]
        if len(set(ids)) == n:  # a collision of 132-bit ids is astronomically rare
            return ids


def write_businesses(
    path: Path,
    rng: np.random.Generator,
    ids: list[str],
    categories: Sequence[tuple[str, ...]],
    nulls: BusinessNulls,
    reviews: Reviews,
) -> None:
    """One line per business; ``categories[i]`` are business i's categories, last one names it."""
    counts = np.bincount(reviews.item, minlength=len(ids))
    totals = np.bincount(reviews.item, weights=reviews.stars, minlength=len(ids))
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for i, business_id in enumerate(ids):
            cats = categories[i]
            city, state, lat, lon = CITIES[int(rng.integers(len(CITIES)))]
            no_extras = rng.random() < nulls.attributes
            mean = totals[i] / counts[i] if counts[i] else 3.0
            record = {
                "business_id": business_id,
                "name": f"{cats[-1]} Place {i}",
                "address": f"{int(rng.integers(1, 9999))} Main St",
                "city": city,
                "state": state,
                "postal_code": f"{int(rng.integers(10000, 99999))}",
                "latitude": round(lat + float(rng.normal(0, 0.05)), 7),
                "longitude": round(lon + float(rng.normal(0, 0.05)), 7),
                "stars": round(mean * 2) / 2,  # Yelp rounds business stars to halves
                "review_count": int(counts[i]),
                "is_open": int(rng.random() < 0.8),
                "attributes": None if no_extras else _attributes(rng),
                "categories": None if rng.random() < nulls.categories else ", ".join(cats),
                "hours": None if no_extras else {d: "8:0-22:0" for d in _DAYS[: 5 + i % 3]},
            }
            handle.write(json_line(record))


def _attributes(rng: np.random.Generator) -> dict[str, str]:
    """Real Yelp attribute values are strings, some holding Python-literal dicts."""
    parking = {k: bool(rng.random() < 0.5) for k in ("garage", "street", "validated", "lot")}
    return {
        "BusinessAcceptsCreditCards": str(bool(rng.random() < 0.9)),
        "RestaurantsPriceRange2": str(int(rng.integers(1, 5))),
        "WiFi": "u'free'" if rng.random() < 0.5 else "u'no'",
        "BusinessParking": repr(parking),
    }


def write_reviews(
    path: Path,
    rng: np.random.Generator,
    user_ids: list[str],
    business_ids: list[str],
    reviews: Reviews,
) -> None:
    """One line per review, in the order of ``reviews``."""
    n = len(reviews.user)
    review_ids = yelp_ids(rng, n)
    votes = rng.poisson(0.7, (n, 3))
    dates = np.datetime_as_string(reviews.ts.astype("datetime64[s]"), unit="s")
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for i in range(n):
            s = int(reviews.stars[i])
            record = {
                "review_id": review_ids[i],
                "user_id": user_ids[reviews.user[i]],
                "business_id": business_ids[reviews.item[i]],
                "stars": float(s),
                "useful": int(votes[i, 0]),
                "funny": int(votes[i, 1]),
                "cool": int(votes[i, 2]),
                "text": _TEXTS[s - 1],
                "date": str(dates[i]).replace("T", " "),
            }
            handle.write(json_line(record))


def json_line(record: dict[str, object]) -> str:
    # Yelp's files are compact JSON with raw UTF-8; matching that keeps byte sizes realistic.
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
