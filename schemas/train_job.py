"""TrainJob v2: one step in the life of an adapter training job, topic ``train-jobs``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Self, cast

from schemas.codec import JsonObject
from schemas.errors import SchemaError
from schemas.model import WireModel

JobStatus = Literal["queued", "started", "retrying", "finished", "failed"]


def job_id(slice_index: int, adapter: str) -> str:
    """The id a job must carry: ``<slice>/<adapter>``."""
    return f"{slice_index}/{adapter}"


@dataclass(frozen=True)
class TrainJob(WireModel):
    """Job ``<slice>/<adapter>`` reached ``status`` at ``at_ms``; the result fields come with ``finished``."""

    SCHEMA: ClassVar[tuple[str, int]] = ("train_job", 2)

    job_id: str
    slice: int
    adapter: str
    region_id: int | None
    status: JobStatus
    attempt: int
    at_ms: int
    error: str | None = None
    version: int | None = None
    new_windows: int | None = None
    old_windows: int | None = None
    valid_recall: float | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        # Readers recognise a re-sent step by its job id, so it must be derived.
        expected = job_id(self.slice, self.adapter)
        if self.job_id != expected:
            raise SchemaError(f"must be '<slice>/<adapter>', here {expected!r}", "job_id")

    def to_json(self) -> JsonObject:
        return {
            "job_id": self.job_id,
            "slice": self.slice,
            "adapter": self.adapter,
            "region_id": self.region_id,
            "status": self.status,
            "attempt": self.attempt,
            "at_ms": self.at_ms,
            "error": self.error,
            "version": self.version,
            "new_windows": self.new_windows,
            "old_windows": self.old_windows,
            "valid_recall": self.valid_recall,
            "seconds": self.seconds,
        }

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        def optional_int(name: str) -> int | None:
            return None if value.get(name) is None else int(value[name])

        def optional_float(name: str) -> float | None:
            return None if value.get(name) is None else float(value[name])

        return cls(
            job_id=value["job_id"],
            slice=int(value["slice"]),
            adapter=value["adapter"],
            region_id=optional_int("region_id"),
            status=cast(JobStatus, value["status"]),
            attempt=int(value["attempt"]),
            at_ms=int(value["at_ms"]),
            error=value.get("error"),
            version=optional_int("version"),
            new_windows=optional_int("new_windows"),
            old_windows=optional_int("old_windows"),
            valid_recall=optional_float("valid_recall"),
            seconds=optional_float("seconds"),
        )
