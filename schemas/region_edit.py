"""RegionEdit v1: what one slice did to one region, topic ``region-edits``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Self

from schemas.codec import JsonObject
from schemas.model import WireModel

EditOp = Literal["update", "expand", "add", "create"]
"""The ops of :class:`raie.regions.editor.Op`, spelled the same."""


@dataclass(frozen=True)
class RegionEdit(WireModel):
    """``count`` samples of slice ``slice`` got op ``op`` on region ``region_id``.

    One message per (region, op) of ``raie.regions.editor.SliceEdits.counts``;
    'add' samples have no region yet and carry region_id -1.
    """

    SCHEMA: ClassVar[tuple[str, int]] = ("region_edit", 1)

    slice: int
    region_id: int
    op: EditOp
    count: int
    bank_version: int

    def to_json(self) -> JsonObject:
        return {
            "slice": self.slice,
            "region_id": self.region_id,
            "op": self.op,
            "count": self.count,
            "bank_version": self.bank_version,
        }

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        return cls(
            slice=int(value["slice"]),
            region_id=int(value["region_id"]),
            op=value["op"],
            count=int(value["count"]),
            bank_version=int(value["bank_version"]),
        )
