"""AdapterDecision v1: an adapter version was promoted, rejected or rolled back, topic ``adapters``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from schemas.codec import JsonObject
from schemas.model import WireModel


@dataclass(frozen=True)
class AdapterDecision(WireModel):
    """What serves after a guard's decision or an operator's rollback, and why."""

    SCHEMA: ClassVar[tuple[str, int]] = ("adapter_decision", 1)

    adapter: str
    region_id: int | None
    slice: int
    decision: str
    version: int
    previous_version: int | None
    candidate_recall: float | None
    previous_recall: float | None
    reason: str
    decided_at_ms: int

    def to_json(self) -> JsonObject:
        return {
            "adapter": self.adapter,
            "region_id": self.region_id,
            "slice": self.slice,
            "decision": self.decision,
            "version": self.version,
            "previous_version": self.previous_version,
            "candidate_recall": self.candidate_recall,
            "previous_recall": self.previous_recall,
            "reason": self.reason,
            "decided_at_ms": self.decided_at_ms,
        }

    @classmethod
    def _from_valid(cls, value: JsonObject) -> Self:
        return cls(
            adapter=value["adapter"],
            region_id=_optional_int(value["region_id"]),
            slice=int(value["slice"]),
            decision=value["decision"],
            version=int(value["version"]),
            previous_version=_optional_int(value["previous_version"]),
            candidate_recall=_optional_float(value["candidate_recall"]),
            previous_recall=_optional_float(value["previous_recall"]),
            reason=value["reason"],
            decided_at_ms=int(value["decided_at_ms"]),
        )


def _optional_int(value: object) -> int | None:
    return None if value is None else int(str(value))


def _optional_float(value: object) -> float | None:
    return None if value is None else float(str(value))
