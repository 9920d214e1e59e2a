"""TrainJob v1: train one adapter after a slice, topic ``train-jobs``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from schemas.codec import JsonObject
from schemas.errors import SchemaError
from schemas.model import WireModel


def job_id(slice_index: int, adapter: str) -> str:
    """The id a job must carry: ``<slice>/<adapter>``."""
    return f"{slice_index}/{adapter}"


@dataclass(frozen=True)
class TrainJob(WireModel):
    """Train ``adapter`` on ``new_windows`` of slice ``slice`` plus ``old_windows`` replayed."""

    SCHEMA: ClassVar[tuple[str, int]] = ("train_job", 1)
    TOPIC: ClassVar[str] = "train-jobs"

    job_id: str
    slice: int
    adapter: str
    region_id: int | None
    bank_version: int
    new_windows: int
    old_windows: int
    submitted_at_ms: int

    def __post_init__(self) -> None:
        # Workers skip a job id they have already run, so it must be derived.
        expected = job_id(self.slice, self.adapter)
        if self.job_id != expected:
            raise SchemaError(f"must be '<slice>/<adapter>', here {expected!r}", "job_id")

    def to_json(self) -> JsonObject:
        return {
            "job_id": self.job_id,
            "slice": self.slice,
            "adapter": self.adapter,
            "region_id": self.region_id,
            "bank_version": self.bank_version,
            "new_windows": self.new_windows,
            "old_windows": self.old_windows,
            "submitted_at_ms": self.submitted_at_ms,
        }

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        region_id = value["region_id"]
        return cls(
            job_id=value["job_id"],
            slice=int(value["slice"]),
            adapter=value["adapter"],
            region_id=None if region_id is None else int(region_id),
            bank_version=int(value["bank_version"]),
            new_windows=int(value["new_windows"]),
            old_windows=int(value["old_windows"]),
            submitted_at_ms=int(value["submitted_at_ms"]),
        )
