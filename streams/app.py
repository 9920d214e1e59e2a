"""The Faust app: topics, tables and the four agents, wired from :class:`WorkerSettings`.

- ``ingress`` (interactions, batched): validate -> dead letters, dedupe, window,
  embed, route -> ``routed-windows``; slice marks are forwarded in order.
- ``store-sink`` (interactions, batched): accepted events -> store ``interactions``.
- ``region-editor`` (routed-windows, 1 partition, manual acks): the bank's single writer.
- ``published`` (adapters): reloads the serving state when a slice closes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import pyarrow as pa
from kafka import KafkaConsumer, TopicPartition

from raie.device import default_device
from raie.online.artifacts import Artifacts
from raie.online.session import SliceOutcome, SliceSession
from raie.online.trainer import AdapterTrainer, InProcessTrainer
from raie.store import Store
from schemas import Item, SliceMark
from streams.editor import RegionEditorAgent
from streams.flow_control import LosslessApp
from streams.ingress import Ingress
from streams.serving import ServingState
from streams.settings import WorkerSettings
from streams.sink import InteractionSink
from streams.topic_names import (
    ADAPTERS,
    DEAD_LETTER_MAX_BYTES,
    DEAD_LETTERS,
    INTERACTIONS,
    ITEMS,
    ROUTED_WINDOWS,
    TOPICS,
)
from workers.ray_trainer import RayTrainer

log = logging.getLogger(__name__)

FAUST_DATADIR = ".faust"
"""Faust's data directory inside the store (its default is ``<app id>-data`` in the current directory)."""

SESSION_TIMEOUT_S = 10.0
"""Broker session timeout: a restarted worker rejoins in seconds, not half a minute."""

CATALOGUE_POLL_MS = 2_000


@dataclass
class StreamApp:
    app: faust.App
    ingress: Ingress
    sink: InteractionSink
    editor: RegionEditorAgent
    store: Store
    closed: list[SliceOutcome]


def build_app(settings: WorkerSettings, partitions: int) -> StreamApp:
    store = Store.open(settings.store)  # first: it refuses a non-empty directory that is not yet a store
    app = LosslessApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",  # tables live in memory and are rebuilt from their changelog topics
        # Faust still makes an (empty) table directory; keep it in the store, not the current directory.
        datadir=str(Path(settings.store).resolve() / FAUST_DATADIR),
        topic_partitions=partitions,
        topic_replication_factor=1,
        broker_session_timeout=SESSION_TIMEOUT_S,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,  # the editor holds un-acked windows by design; do not wait for them
        web_enabled=False,
        producer_acks=-1,
        producer_max_request_size=DEAD_LETTER_MAX_BYTES,  # the default 1 MB would refuse the largest dead letters
    )
    topics = {spec.name: app.topic(spec.name, key_serializer="raw", value_serializer="raw") for spec in TOPICS}
    users = app.Table("ingress-users", default=None, partitions=partitions)
    seen = app.Table("ingress-seen", default=None, partitions=partitions)
    clocks = app.Table("ingress-clocks", default=None, partitions=partitions)
    sink_clocks = app.Table("sink-clocks", default=None, partitions=partitions)

    store_lock = asyncio.Lock()
    artifacts = Artifacts.in_store(store.root)
    # One device per process: the Set-up model, the serving adapters and in-process jobs all use it.
    device = default_device()
    serving = ServingState(artifacts, settings.backbone, settings.config, device)
    serving.refresh()
    trainer: AdapterTrainer = InProcessTrainer(device)
    if settings.trainer == "ray":
        trainer = RayTrainer.start(settings.pool, artifacts, settings.backbone, settings.config, device)
    removed = artifacts.registry.clean_staging()  # before any job runs: only killed writers leave these
    if removed:
        log.warning("removed %d half-written adapter versions left by a killed job", removed)
    session = SliceSession.resume(
        settings.config,
        settings.backbone,
        settings.seed,
        partitions,
        trainer,
        artifacts,
        device,
        settings.score_methods,
    )
    closed: list[SliceOutcome] = []

    async def send_window(value: bytes, mark: bool) -> Any:
        headers = dict(SliceMark.HEADERS) if mark else None
        return await topics[ROUTED_WINDOWS].send(value=value, headers=headers)

    async def send_dead_letter(value: bytes) -> Any:
        return await topics[DEAD_LETTERS].send(value=value)

    async def send(topic: str, value: bytes) -> Any:
        return await topics[topic].send(value=value)

    def on_closed(outcome: SliceOutcome) -> None:
        closed.append(outcome)
        serving.state = session.state  # this process's ingress: the editor's state, not a reload

    ingress = Ingress(settings, serving, users, seen, clocks, send_window, send_dead_letter)
    sink = InteractionSink(settings, store, store_lock, sink_clocks)
    editor = RegionEditorAgent(
        session,
        store,
        store_lock,
        f"stream-{settings.app_id}",
        lambda: read_catalogue(settings.bootstrap),
        send,
        on_closed,
    )

    @app.agent(topics[INTERACTIONS], name="ingress")
    async def ingress_agent(stream: Any) -> None:
        async for events in stream.take_events(settings.ingress_batch, within=settings.ingress_linger_s):
            await ingress.process(events)

    @app.agent(topics[INTERACTIONS], name="store-sink")
    async def sink_agent(stream: Any) -> None:
        async for events in stream.take_events(settings.sink_batch, within=settings.sink_flush_s):
            await sink.write(events)

    @app.agent(topics[ROUTED_WINDOWS], name="region-editor")
    async def editor_agent(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():
            await editor.on_event(event, manual)

    @app.agent(topics[ADAPTERS], name="published")
    async def published_agent(stream: Any) -> None:
        async for _ in stream:
            await asyncio.to_thread(serving.refresh)  # another worker's slice: loads files, off the loop

    return StreamApp(app, ingress, sink, editor, store, closed)


def read_catalogue(bootstrap: str) -> pa.Table | None:
    """Every item on the compacted ``items`` topic (latest record per item), or None if it is empty."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest", group_id=None
    )
    try:
        partitions = [TopicPartition(ITEMS, p) for p in sorted(consumer.partitions_for_topic(ITEMS) or [])]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        latest: dict[str, Item] = {}
        while any(consumer.position(tp) < end[tp] for tp in partitions):
            for records in consumer.poll(timeout_ms=CATALOGUE_POLL_MS).values():
                for record in records:
                    item = Item.from_bytes(record.value)
                    latest[item.item_id] = item
    finally:
        consumer.close()
    if not latest:
        return None
    items = list(latest.values())
    return pa.table(
        {
            "item_id": [i.item_id for i in items],
            "title": [i.title for i in items],
            "categories": [list(i.categories) if i.categories is not None else None for i in items],
        }
    )
