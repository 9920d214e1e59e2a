"""AdapterPublished v1: a trained adapter is ready to serve, topic ``adapters``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from schemas.codec import JsonObject
from schemas.model import WireModel


@dataclass(frozen=True)
class AdapterPublished(WireModel):
    """Version ``version`` of ``adapter`` lies at ``path`` under the adapter store.

    Readers check ``sha256`` before loading, so a half-copied file is never served.
    """

    SCHEMA: ClassVar[tuple[str, int]] = ("adapter_published", 1)

    adapter: str
    region_id: int | None
    slice: int
    version: int
    path: str
    sha256: str
    valid_recall: float | None
    published_at_ms: int

    def to_json(self) -> JsonObject:
        return {
            "adapter": self.adapter,
            "region_id": self.region_id,
            "slice": self.slice,
            "version": self.version,
            "path": self.path,
            "sha256": self.sha256,
            "valid_recall": self.valid_recall,
            "published_at_ms": self.published_at_ms,
        }

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        region_id, recall = value["region_id"], value["valid_recall"]
        return cls(
            adapter=value["adapter"],
            region_id=None if region_id is None else int(region_id),
            slice=int(value["slice"]),
            version=int(value["version"]),
            path=value["path"],
            sha256=value["sha256"],
            valid_recall=None if recall is None else float(recall),
            published_at_ms=int(value["published_at_ms"]),
        )
