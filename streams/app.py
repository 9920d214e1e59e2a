"""The Faust app: topics and the agents, wired from :class:`WorkerSettings`.

- ``ingress`` (interactions, batched, manual acks): validate -> dead letters, dedupe,
  window, embed, route -> ``<app id>-routed-windows`` as one binary batch per
  partition; accepted events -> the store's ``interactions``; one state delta per
  partition and commit -> ``<app id>-ingress-state``. Slice marks are forwarded in order.
- ``region-editor`` (routed-windows, 1 partition, manual acks): the bank's single writer;
  in a group of workers, the one that owns that partition.
- a 1 s timer reloads the serving state when another process closed a slice or rolled
  an adapter back.
- with ``web_port``: the recommendation endpoint, in a serving process of its own
  (streams/serving_process.py) that the ingress keeps fed with its users' contexts.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import pyarrow as pa
import torch
from faust.assignor.partition_assignor import PartitionAssignor
from kafka import KafkaConsumer, TopicPartition

from raie.device import default_device
from raie.online.artifacts import Artifacts
from raie.online.session import SliceOutcome, SliceSession
from raie.online.trainer import AdapterTrainer, InProcessTrainer
from schemas import Item, RoutedBatch, SliceMark
from streams.adapter_decisions import rollback_messages
from streams.context_replica import Contexts, Owners, Revoked, SliceClosed
from streams.editor import RegionEditorAgent
from streams.flow_control import LosslessApp
from streams.gc_pauses import FREEZE_EVERY_S, freeze_survivors, thaw
from streams.ingress import Ingress
from streams.ingress_states import IngressStates, snapshot_root
from streams.serving import SERVING_REFRESH_S, ServingState
from streams.serving_process import ServingProcess, ServingProcessConfig
from streams.settings import WorkerSettings
from streams.store_access import StoreAccess
from streams.topic_names import (
    ADAPTERS,
    DEAD_LETTER_MAX_BYTES,
    DEAD_LETTERS,
    INTERACTIONS,
    ITEMS,
    TOPICS,
    ingress_state_topic,
    routed_windows_topic,
)
from streams.trace import Trace
from workers.ray_trainer import RayTrainer

log = logging.getLogger(__name__)

FAUST_DATADIR = ".faust"
"""Faust's data directory inside the store (its default is ``<app id>-data`` in the current directory)."""

SESSION_TIMEOUT_S = 10.0
"""Broker session timeout: a restarted worker rejoins in seconds, not half a minute."""

CATALOGUE_POLL_MS = 2_000

PRODUCER_BATCH_BYTES = 1024 * 1024
"""One routed batch of 1,024 windows is about 400 KB; the default 16 KB would split it."""


@dataclass
class StreamApp:
    app: faust.App
    ingress: Ingress
    editor: RegionEditorAgent
    store: StoreAccess
    closed: list[SliceOutcome]
    endpoint: ServingProcess | None


def endpoint_url(settings: WorkerSettings) -> str:
    return f"http://{settings.web_host}:{settings.web_port}"


def web_settings(settings: WorkerSettings) -> dict[str, Any]:
    """Faust's own web server stays off: the endpoint is the serving process's. With a port, the
    group still learns each member's endpoint (its canonical URL), where requests are forwarded."""
    if settings.web_port is None:
        return {"web_enabled": False}
    return {"web_enabled": False, "canonical_url": endpoint_url(settings)}


def start_endpoint(settings: WorkerSettings, store_root: Path) -> ServingProcess | None:
    if settings.web_port is None:
        return None
    endpoint = ServingProcess(
        ServingProcessConfig(
            store_root,
            settings.backbone,
            settings.config,
            bind=settings.web_bind or settings.web_host,
            port=settings.web_port,
            own_url=endpoint_url(settings),
            torch_threads=settings.torch_threads,
        )
    )
    endpoint.start()
    if settings.stream_niceness:
        # Linux: this thread and the threads it starts from now on (the event loop's executors, Faust's,
        # torch's); the serving process already runs, at the priority the worker had.
        os.nice(settings.stream_niceness)
    return endpoint


def interaction_owners(app: faust.App, partitions: int) -> Owners:
    """Each ``interactions`` partition's owner, by endpoint URL, from the group's last assignment."""
    assignor = app.assignor
    assert isinstance(assignor, PartitionAssignor), "the default assignor: it shares members' URLs"
    urls = {
        partition: url
        for url, topics in assignor.external_topic_distribution.items()
        for partition in topics.get(INTERACTIONS, ())
    }
    return Owners(partitions, urls)


def build_app(settings: WorkerSettings, partitions: int) -> StreamApp:
    store = StoreAccess(Path(settings.store).resolve())  # first: it refuses a directory that is not a store
    if settings.torch_threads is not None:
        torch.set_num_threads(settings.torch_threads)  # once, before any work: see WorkerSettings
    app = LosslessApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap}",
        store="memory://",  # the app has no Faust tables; the ingress keeps its own state
        # Faust still makes an (empty) table directory; keep it in the store, not the current directory.
        datadir=str(Path(settings.store).resolve() / FAUST_DATADIR),
        topic_partitions=partitions,
        topic_replication_factor=1,
        broker_session_timeout=SESSION_TIMEOUT_S,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,  # the editor holds un-acked windows by design; do not wait for them
        **web_settings(settings),
        producer_acks=-1,
        producer_max_request_size=DEAD_LETTER_MAX_BYTES,  # the default 1 MB would refuse the largest dead letters
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        producer_linger_ms=0,  # a batch record is already a batch; waiting adds only latency
    )
    topics = {spec.name: app.topic(spec.name, key_serializer="raw", value_serializer="raw") for spec in TOPICS}
    routed = app.topic(routed_windows_topic(settings.app_id), key_serializer="raw", value_serializer="raw")
    state_log = app.topic(ingress_state_topic(settings.app_id), key_serializer="raw", value_serializer="raw")

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

    def resume_session() -> SliceSession:
        return SliceSession.resume(
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
    trace = Trace(settings.trace)

    async def send_batch(value: bytes) -> Any:
        return await routed.send(value=value, headers=list(RoutedBatch.HEADERS))

    async def send_mark(value: bytes) -> Any:
        return await routed.send(value=value, headers=list(SliceMark.HEADERS))

    async def send_dead_letter(value: bytes) -> Any:
        return await topics[DEAD_LETTERS].send(value=value)

    async def send_delta(partition: int, value: bytes) -> Any:
        return await state_log.send(value=value, partition=partition)

    async def send(topic: str, value: bytes) -> Any:
        return await topics[topic].send(value=value)

    def on_closed(outcome: SliceOutcome) -> None:
        closed.append(outcome)
        serving.state = outcome.state  # this process's ingress: the editor's state, not a reload
        thaw()  # the slice's windows are released: one full collection, between slices
        if endpoint is not None:
            endpoint.send(SliceClosed())  # it loads the committed state now, not at its next poll

    states = IngressStates(
        settings.bootstrap,
        ingress_state_topic(settings.app_id),
        snapshot_root(store.root, settings.app_id),
        send_delta,
    )
    ingress_stream: list[Any] = []  # the agent's stream, for acks from the commit timer

    async def ack(event: Any) -> None:
        await ingress_stream[0].ack(event)

    ingress = Ingress(settings, serving, states, store.root, send_batch, send_mark, send_dead_letter, ack, trace)
    endpoint = start_endpoint(settings, store.root)
    restoring: set[asyncio.Future[None]] = set()  # held until done: the loop keeps weak references to tasks
    if endpoint is not None:
        feed = endpoint

        def send_whole_partition(partition: int) -> None:
            feed.send(Contexts(partition, states.contexts(partition), whole=True))

        states.on_restored = send_whole_partition
        ingress.contexts_changed = lambda partition, users: feed.send(Contexts(partition, users))

    editor = RegionEditorAgent(
        resume_session(),
        store,
        f"stream-{settings.app_id}",
        lambda: read_catalogue(settings.bootstrap),
        send,
        on_closed,
        trace,
    )

    @app.agent(topics[INTERACTIONS], name="ingress")
    async def ingress_agent(stream: Any) -> None:
        ingress_stream[:] = [stream]
        async for events in stream.noack_take(settings.ingress_batch, within=settings.ingress_linger_s):
            await ingress.process(events)

    @app.agent(routed, name="region-editor")
    async def editor_agent(stream: Any) -> None:
        manual = stream.noack()
        async for event in manual.events():
            await editor.on_event(event, manual)

    @app.timer(interval=settings.commit_interval_s)  # type: ignore[untyped-decorator]
    async def commit_idle() -> None:
        await ingress.commit_if_due()

    @app.timer(interval=FREEZE_EVERY_S)  # type: ignore[untyped-decorator]
    async def freeze_long_lived() -> None:
        freeze_survivors()  # see streams/gc_pauses.py: full collections would rescan every held window

    @app.timer(interval=SERVING_REFRESH_S)  # type: ignore[untyped-decorator]
    async def refresh_serving() -> None:
        before = serving.state
        await asyncio.to_thread(serving.refresh)  # another worker's slice: loads files, off the loop
        after = serving.state
        if editor.owner and before is not None and after is not None and after.closed_slices == before.closed_slices:
            rolled = rollback_messages(before.live, after.live, after.closed_slices - 1)  # the editor owner announces
            await asyncio.gather(*[await send(ADAPTERS, m.to_bytes()) for m in rolled])
        if endpoint is not None and endpoint.restarted():  # a replaced serving process gets the whole table
            for partition in list(states.owned):
                send_whole_partition(partition)
            endpoint.send(interaction_owners(app, partitions))  # last: it answers users only from then on

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # faust types receivers as returning None
    async def on_revoked(sender: Any, revoked: set[Any], **kwargs: Any) -> None:
        moved = {tp.partition for tp in revoked if tp.topic == INTERACTIONS}
        await ingress.revoke(moved)
        if endpoint is not None:
            endpoint.send(Revoked(frozenset(moved)))
        if any(tp.topic == routed.get_topic_name() for tp in revoked):
            editor.owner = False

    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: set[Any], **kwargs: Any) -> None:
        mine = {tp.partition for tp in assigned if tp.topic == INTERACTIONS}
        await ingress.assign(mine)
        if endpoint is not None:
            endpoint.send(interaction_owners(app, partitions))
            restoring.add(asyncio.ensure_future(ingress.restore(mine)))  # not in the rebalance: it reads the state log
            restoring.difference_update([t for t in restoring if t.done()])
        if any(tp.topic == routed.get_topic_name() for tp in assigned):
            await editor.on_assigned(resume_session)

    return StreamApp(app, ingress, editor, store, closed, endpoint)


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
