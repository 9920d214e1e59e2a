"""One valid message of every wire model, for the schema tests."""

from __future__ import annotations

from typing import TypeVar

from schemas import (
    AdapterDecision,
    AdapterPublished,
    DeadLetter,
    Interaction,
    Item,
    RegionEdit,
    RoutedWindow,
    SchemaError,
    SliceMark,
    TrainJob,
    WireModel,
)

TS_MS = 1_714_564_800_000
"""2024-05-01T12:00:00Z."""

INTERACTION_JSON = {
    "event_id": "e-1",
    "user_id": "u-1",
    "item_id": "i-1",
    "rating": 4.5,
    "ts": "2024-05-01T12:00:00Z",
    "source": "web",
}
"""A valid Interaction as a producer sends it (ISO time)."""

SAMPLES: dict[type[WireModel], WireModel] = {
    Interaction: Interaction(
        event_id="e-1", user_id="ユーザー", item_id="i-1", ts_ms=TS_MS, source="replay:movielens", rating=4.5
    ),
    Item: Item(item_id="i-1", title="Toy Story (1995)", categories=("Animation", "Children")),
    SliceMark: SliceMark(slice=3, end_ms=TS_MS, origin="replay", partition=2, sent_at_ms=TS_MS + 5),
    RoutedWindow: RoutedWindow(
        window_id="u/1/4",
        user_id="u",
        slice=1,
        position=4,
        context=("i-1", "i-2", "i-3"),
        target="i-4",
        ts_ms=TS_MS,
        event_id="e-9",
        embedding=(0.25, -1.5, 3.0),
        region_id=7,
        p1=0.9,
        p2=0.05,
        bank_version=2,
        partition=1,
        offset=12345,
        ingested_at_ms=TS_MS + 10,
    ),
    RegionEdit: RegionEdit(slice=2, region_id=5, op="expand", count=17, bank_version=3),
    TrainJob: TrainJob(
        job_id="2/region_5",
        slice=2,
        adapter="region_5",
        region_id=5,
        status="finished",
        attempt=2,
        at_ms=TS_MS,
        version=2,
        new_windows=400,
        old_windows=100,
        valid_recall=0.12,
        seconds=3.5,
    ),
    AdapterPublished: AdapterPublished(
        adapter="region_5",
        region_id=5,
        slice=2,
        version=1,
        path="region_5/v1/adapter.safetensors",
        sha256="0123456789abcdef" * 4,
        valid_recall=0.31,
        published_at_ms=TS_MS,
    ),
    AdapterDecision: AdapterDecision(
        adapter="region_3",
        region_id=3,
        slice=2,
        decision="rejected",
        version=2,
        previous_version=1,
        candidate_recall=0.0812,
        previous_recall=0.0901,
        reason="valid R@10 0.0812 < 0.0901 - 0.0000",
        decided_at_ms=TS_MS,
    ),
    DeadLetter: DeadLetter.of(
        SchemaError("has no time zone; add a zone such as Z or +00:00", "ts"),
        topic="interactions",
        partition=0,
        offset=42,
        key=b"u-1",
        original=b'{"ts":"2024-05-01T12:00:00"}\xff',
        failed_at_ms=TS_MS,
    ),
}
"""A valid instance of each model in schemas.MODELS, non-null fields wherever allowed."""

M = TypeVar("M", bound=WireModel)


def sample(model: type[M]) -> M:
    """The sample of ``model``, typed as that model."""
    found = SAMPLES[model]
    assert isinstance(found, model)
    return found
