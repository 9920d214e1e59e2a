"""Ground truth of the ``local-drift`` scenario: the interest group of every user and business.

``raie data synth`` writes it beside the two Yelp files as ``groups.jsonl``, one
JSON object per line, so that region recovery can be scored against it
(:mod:`raie.regions.recovery`). The real loader ignores the file. Three kinds of
line, in this order:

- ``{"entity": "group", "group": 0, "kind": "stable", "subsets": [["Restaurants", ...]],
  "opens": null, "shifts": null}``: one per group. ``kind`` is ``stable``, ``shifting``
  or ``new``; ``subsets`` holds the categories of each of the group's business subsets
  (a shifting group has two: before and after its shift); ``opens`` is when a new
  group's businesses open, ``shifts`` the centre of a shifting group's move
  (``YYYY-MM-DD HH:MM:SS``, UTC, like Yelp's ``date``), else null.
- ``{"entity": "user", "id": "...", "group": 3, "switch": "2019-08-01 12:00:00"}``:
  one per user; ``switch`` (shifting groups only, else null) is when that user moved.
- ``{"entity": "business", "id": "...", "group": 3, "subset": 1}``: one per business;
  ``subset`` indexes the group's ``subsets``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from raie.data.synthetic_files import json_line
from raie.errors import DataError

GROUPS_FILE = "groups.jsonl"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
"""Yelp's ``date`` format, used for every moment in the file."""


class GroupKind(StrEnum):
    """How an interest group behaves over the timeline."""

    STABLE = "stable"
    """Its users keep the same businesses from start to end."""
    SHIFTING = "shifting"
    """Its users move from one business subset to another around one moment."""
    NEW = "new"
    """Its businesses and users appear part-way through; nothing of it exists before."""


@dataclass(frozen=True)
class GroupInfo:
    group: int
    kind: GroupKind
    subsets: tuple[tuple[str, ...], ...]
    """Categories of each business subset; a shifting group's second subset is where it moves to."""
    opens: datetime | None = None
    """New groups: when their businesses open (no review of them before)."""
    shifts: datetime | None = None
    """Shifting groups: the centre of the moments their users switch."""


@dataclass(frozen=True)
class GroupTruth:
    groups: tuple[GroupInfo, ...]
    user_group: Mapping[str, int]
    """user_id -> group."""
    business_group: Mapping[str, int]
    """business_id -> group."""
    business_subset: Mapping[str, int]
    """business_id -> index into its group's ``subsets``."""
    user_switch: Mapping[str, datetime]
    """Users of shifting groups -> the moment they switched subsets."""

    def kind_of(self, group: int) -> GroupKind:
        return self.groups[group].kind


def write_groups(path: Path, truth: GroupTruth) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for info in truth.groups:
            record: dict[str, object] = {
                "entity": "group",
                "group": info.group,
                "kind": info.kind.value,
                "subsets": [list(s) for s in info.subsets],
                "opens": _text(info.opens),
                "shifts": _text(info.shifts),
            }
            handle.write(json_line(record))
        for user, group in truth.user_group.items():
            record = {"entity": "user", "id": user, "group": group, "switch": _text(truth.user_switch.get(user))}
            handle.write(json_line(record))
        for business, group in truth.business_group.items():
            record = {"entity": "business", "id": business, "group": group, "subset": truth.business_subset[business]}
            handle.write(json_line(record))


def read_groups(folder: Path) -> GroupTruth:
    """The truth ``raie data synth`` wrote into ``folder``; DataError names the line when it is malformed."""
    path = Path(folder) / GROUPS_FILE
    if not path.is_file():
        raise DataError(path, "file not found", fix="generate the folder with `raie data synth` (scenario local-drift)")
    groups: list[GroupInfo] = []
    users: dict[str, int] = {}
    switch: dict[str, datetime] = {}
    businesses: dict[str, int] = {}
    subsets: dict[str, int] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
                entity = record["entity"]
                if entity == "group":
                    groups.append(_group(record))
                elif entity == "user":
                    users[record["id"]] = int(record["group"])
                    if record["switch"] is not None:
                        switch[record["id"]] = _moment(record["switch"])
                elif entity == "business":
                    businesses[record["id"]] = int(record["group"])
                    subsets[record["id"]] = int(record["subset"])
                else:
                    raise DataError(path, f"unknown entity {entity!r}", line=number, field="entity")
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
                raise DataError(path, f"not a ground-truth record: {error}", line=number) from error
    return GroupTruth(tuple(groups), users, businesses, subsets, switch)


def _group(record: dict[str, object]) -> GroupInfo:
    opens, shifts = record["opens"], record["shifts"]
    subsets = record["subsets"]
    if not isinstance(subsets, list):
        raise TypeError("subsets must be a list of category lists")
    return GroupInfo(
        group=int(str(record["group"])),
        kind=GroupKind(str(record["kind"])),
        subsets=tuple(tuple(s) for s in subsets),
        opens=None if opens is None else _moment(str(opens)),
        shifts=None if shifts is None else _moment(str(shifts)),
    )


def _text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime(DATE_FORMAT)


def _moment(text: str) -> datetime:
    return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=UTC)
