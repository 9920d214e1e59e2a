"""Names and shapes of every Kafka topic the stream uses: the one place they are spelled.

Contract of ``interactions``: key = user_id (UTF-8), value = Interaction v1 JSON,
so one user's events stay ordered on one partition. Slice marks travel inside
the same topic, one per partition, sent to each partition explicitly, with key
None and the header ``(KIND_HEADER, SLICE_MARK_KIND)``: a consumer of a
partition then sees a slice's mark after every event of that slice on that
partition, which a separate topic could not promise.
"""

from __future__ import annotations

from dataclasses import dataclass

# The header is part of the SliceMark wire contract, so schemas/ spells it;
# re-exported here so that streaming code finds every topic-level name in one place.
from schemas.slice_mark import KIND_HEADER as KIND_HEADER
from schemas.slice_mark import KIND_SLICE_MARK

INTERACTIONS = "interactions"
DEAD_LETTERS = "interactions.dlq"
ITEMS = "items"
ROUTED_WINDOWS = "routed-windows"
"""Suffix of a pipeline's internal topic ``<app id>-routed-windows`` (:func:`pipeline_topics`)."""
INGRESS_STATE = "ingress-state"
"""Suffix of a pipeline's internal topic ``<app id>-ingress-state``: the ingress's state deltas."""
REGION_EDITS = "region-edits"
TRAIN_JOBS = "train-jobs"
ADAPTERS = "adapters"

SLICE_MARK_KIND = KIND_SLICE_MARK
"""``KIND_HEADER`` value of a SliceMark; messages without the header are interactions."""

DAY_MS = 24 * 60 * 60 * 1000
WEEK_MS = 7 * DAY_MS
"""Long enough to replay, debug and re-consume a run; short enough for a laptop's disk."""
MONTH_MS = 30 * DAY_MS
"""For low-volume topics whose history is what a person inspects after the fact."""
DEAD_LETTER_MAX_BYTES = 2 * 1024 * 1024
"""A dead letter carries its original base64-encoded (4/3 the size) plus a few
fields, so the largest record ``interactions`` takes (1 MiB) must fit as one."""


@dataclass(frozen=True)
class TopicSpec:
    """How ``streams.admin.ensure_topics`` creates a topic."""

    name: str
    partitions: int
    compacted: bool = False
    """Keep the latest value per key forever instead of deleting by age."""
    retention_ms: int | None = None
    """Delete segments older than this; None leaves the broker's default."""
    max_message_bytes: int | None = None
    """Largest record the topic takes; None leaves the broker's default (1 MiB)."""


TOPICS: tuple[TopicSpec, ...] = (
    # Several partitions so that stream workers can share the load by user;
    # a week covers a replay plus the runs that consume it.
    TopicSpec(INTERACTIONS, partitions=3, retention_ms=WEEK_MS),
    # The catalogue is state, not history: compaction keeps each item's latest
    # record for as long as the topic lives, so a late consumer still sees all items.
    TopicSpec(ITEMS, partitions=1, compacted=True),
    # Rejected events wait here for a person to look at them; a month gives time to.
    TopicSpec(DEAD_LETTERS, partitions=1, retention_ms=MONTH_MS, max_message_bytes=DEAD_LETTER_MAX_BYTES),
    # Small audit trails of what the stream decided and trained; one partition
    # keeps their global order, a month keeps them around for the report.
    TopicSpec(REGION_EDITS, partitions=1, retention_ms=MONTH_MS),
    TopicSpec(TRAIN_JOBS, partitions=1, retention_ms=MONTH_MS),
    TopicSpec(ADAPTERS, partitions=1, retention_ms=MONTH_MS),
)


def routed_windows_topic(app_id: str) -> str:
    return f"{app_id}-{ROUTED_WINDOWS}"


def ingress_state_topic(app_id: str) -> str:
    return f"{app_id}-{INGRESS_STATE}"


ROUTED_WINDOWS_RETENTION_MS = WEEK_MS
"""An open slice's windows wait un-acked on ``routed-windows`` until the slice
closes, so a slice may not last longer than this (``raie worker`` refuses a
longer ``--slice-days``)."""


def pipeline_topics(app_id: str, interaction_partitions: int) -> tuple[TopicSpec, ...]:
    """The internal topics of the pipeline run by consumer group ``app_id``.

    Prefixed by the group, as Kafka Streams names its internal topics: they are
    derived from ``interactions`` by that group alone, so a second pipeline (a
    benchmark's fresh group, a test on a shared broker) starts from empty ones
    instead of reading another run's windows or state.
    """
    return (
        # One partition: the bank has a single writer, which reads it.
        TopicSpec(routed_windows_topic(app_id), partitions=1, retention_ms=ROUTED_WINDOWS_RETENTION_MS),
        # One partition per input partition: a worker restoring input partition p reads only p's deltas.
        # Snapshots in the store bound what a restore reads; a week covers a stopped worker's weekend.
        TopicSpec(ingress_state_topic(app_id), partitions=interaction_partitions, retention_ms=WEEK_MS),
    )
