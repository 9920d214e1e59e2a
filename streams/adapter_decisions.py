"""The ``adapters`` topic's AdapterDecision messages: a slice's guard decisions, and rollbacks.

A slice's decisions come from its step (raie/online/promotion.py); a rollback
is an operator's (``raie adapters rollback``), which the worker running the
region editor notices when the committed live versions change without a new
slice, and announces once.
"""

from __future__ import annotations

import math

from raie.online.slice_training import ROLLED_BACK, PromotionDecision
from raie.regions.router import FALLBACK
from schemas import AdapterDecision
from streams.events import now_ms

ROLLBACK_REASON = "made live by raie adapters rollback"


def decision_message(decision: PromotionDecision) -> AdapterDecision:
    return AdapterDecision(
        adapter=decision.adapter,
        region_id=None if decision.region_id == FALLBACK else decision.region_id,
        slice=decision.slice,
        decision=decision.decision,
        version=decision.candidate_version,
        previous_version=decision.previous_version,
        candidate_recall=_recall(decision.candidate_recall),
        previous_recall=_recall(decision.previous_recall),
        reason=decision.reason,
        decided_at_ms=decision.at_ms,
    )


def rollback_messages(before: dict[str, int], after: dict[str, int], last_slice: int) -> list[AdapterDecision]:
    """One ``rolled_back`` message per adapter whose committed live version changed within a slice."""
    messages = []
    for adapter in sorted(set(before) | set(after)):
        if before.get(adapter) == after.get(adapter) or adapter not in after:
            continue
        region = adapter.removeprefix("region_")
        messages.append(
            AdapterDecision(
                adapter=adapter,
                region_id=int(region) if region.isdigit() else None,
                slice=last_slice,
                decision=ROLLED_BACK,
                version=after[adapter],
                previous_version=before.get(adapter),
                candidate_recall=None,
                previous_recall=None,
                reason=ROLLBACK_REASON,
                decided_at_ms=now_ms(),
            )
        )
    return messages


def _recall(value: float | None) -> float | None:
    """NaN (nothing to score) is not JSON: it goes out as null."""
    return None if value is None or math.isnan(value) else value
