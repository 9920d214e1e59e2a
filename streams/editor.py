"""The region editor: the single writer of the bank, on the 1-partition ``<app id>-routed-windows`` topic.

Each record is a :class:`RoutedBatch` of one ingress batch (or a forwarded
slice mark); the editor keeps one window per key (user, slice, position), so
a batch re-sent after an ingress crash, whatever its cut, changes nothing.

Events are acked by hand: a slice's windows and marks are acked only after
the slice is closed and its bank, adapters and store rows are on disk. Until
then the topic itself is the slice's durable buffer, and a restarted editor
re-reads it from the first window of the first open slice.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pyarrow as pa

from raie.online.artifacts import ARTIFACTS_DIR, directory_digest
from raie.online.candidates import Candidate
from raie.online.session import SliceOutcome, SliceSession
from raie.online.trainer import JobEvent
from raie.strategies import RAIE
from schemas import AdapterPublished, DeadLetter, RegionEdit, RoutedBatch, SchemaError, SliceMark, TrainJob
from schemas.region_edit import EditOp
from streams.adapter_decisions import decision_message
from streams.events import is_mark, now_ms
from streams.interaction_rows import compact_closed
from streams.store_access import StoreAccess
from streams.topic_names import ADAPTERS, DEAD_LETTERS, REGION_EDITS, TRAIN_JOBS
from streams.trace import Trace

log = logging.getLogger(__name__)


@dataclass
class RegionEditorAgent:
    session: SliceSession
    store: StoreAccess
    run_id: str
    read_catalogue: Callable[[], pa.Table | None]  # blocking: reads the items topic to its end
    send: Any  # async (topic name, bytes) -> delivery future
    on_closed: Callable[[SliceOutcome], None]
    trace: Trace = field(default_factory=lambda: Trace(None))
    owner: bool = True
    """Whether this worker owns routed-windows; a close that outlives its ownership is not committed."""
    held: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        self.session.on_job_event = self._send_job_event

    async def on_assigned(self, resume: Callable[[], SliceSession]) -> None:
        """This worker now owns ``routed-windows``: another worker may have closed slices
        meanwhile, and what this one held from an earlier turn is re-read from the topic."""
        self.owner = True
        log.info("this worker owns routed-windows: it runs the region editor")  # tests look for "owns routed-windows"
        stale = self.session.artifacts.closed_slices() > self.session.closed_slices
        if stale or self.session.pending or self.held:
            self.session = await asyncio.to_thread(resume)
            self.session.on_job_event = self._send_job_event
            self.held.clear()
            log.info("region editor resumed after slice %d", self.session.closed_slices - 1)

    async def on_event(self, event: Any, stream: Any) -> None:
        if not self.owner:
            return  # fetched before a rebalance took routed-windows away: the new owner reads it
        if is_mark(event):
            mark = SliceMark.from_bytes(event.value)
            self.held[mark.slice].append(event)
            for ready in self.session.mark(mark.slice, mark.partition if mark.partition is not None else 0):
                await self._close(ready, stream)
            return
        try:
            batch = RoutedBatch.from_bytes(event.value)
        except SchemaError as error:
            # Only the ingress writes this topic, so this is a bug or a foreign producer: keep the
            # record for a person (the dead letters) rather than crash the bank's only writer.
            message = event.message
            letter = DeadLetter.of(error, message.topic, message.partition, message.offset, None, event.value, now_ms())
            await self._send_all([(DEAD_LETTERS, letter.to_bytes())])
            log.error(
                "routed-windows offset %d is not a routed batch (%s); sent to the dead letters", message.offset, error
            )
            await stream.ack(event)
            return
        kept = False
        for row in range(len(batch)):
            embedded = batch.embedded is not None and bool(batch.embedded[row])
            candidate = Candidate(
                batch.user_id[row],
                int(batch.slice[row]),
                int(batch.position[row]),
                batch.context[row],
                batch.target[row],
                int(batch.ts_ms[row]),
                batch.embedding[row] if embedded and batch.embedding is not None else None,
            )
            kept = self.session.add(candidate) or kept
        self.trace.applied(batch)
        if kept:
            self.held[int(batch.slice.max())].append(event)
        else:
            await stream.ack(event)  # windows of closed slices, re-read after a restart

    async def _close(self, slice_index: int, stream: Any) -> None:
        catalogue = await asyncio.to_thread(self.read_catalogue) if slice_index == 0 else None
        outcome = await self.session.close(slice_index, catalogue)
        await self.store.writing(lambda store: outcome.store(store, self.run_id, self.session.seed))
        await self._send_all(self._audit_messages(outcome))  # at least once: a re-close sends them again
        if not self.owner:
            # A rebalance gave routed-windows to another worker while this slice trained: that
            # worker re-reads the slice and closes it; committing here too would race it.
            log.warning("slice %d closed after this worker lost routed-windows; not committed", slice_index)
            return
        # Commit only once the rows are stored: a crash before this re-closes the slice.
        await self.session.commit(outcome)
        published = await asyncio.to_thread(self._published, outcome)  # hashes the slice's files: off the loop
        closed = self.session.closed_slices
        await self.store.writing(lambda store: compact_closed(store, closed))
        decisions = [] if outcome.result is None else outcome.result.training.decisions
        await self._send_all([(ADAPTERS, m.to_bytes()) for m in [*published, *map(decision_message, decisions)]])
        self.on_closed(outcome)
        for event in self.held.pop(slice_index, []):
            await stream.ack(event)
        log.info(
            "closed slice %d: %d windows (%d train), %d regions, %.1f s",
            slice_index,
            outcome.candidates,
            outcome.train_windows,
            len(outcome.bank.ids),
            outcome.seconds,
        )

    @staticmethod
    def _audit_messages(outcome: SliceOutcome) -> list[tuple[str, bytes]]:
        """The slice's edits, for the audit topic."""
        if outcome.result is None:
            return []  # Set-up builds regions; it edits none
        edits, version = outcome.result.edits, outcome.slice + 1
        # Counted by raie.regions.editor.Op value, which EditOp spells the same; to_bytes checks it against the schema.
        return [
            (REGION_EDITS, RegionEdit(edits.slice_index, region_id, cast(EditOp, op), n, version).to_bytes())
            for (region_id, op), n in sorted(edits.counts.items())
        ]

    async def _send_job_event(self, event: JobEvent) -> None:
        """A job's lifecycle step on ``train-jobs``, as it happens (the store gets them at slice close)."""
        job, result = event.job, event.result
        training = None if result is None else result.training
        message = TrainJob(
            job.job_id,
            job.slice,
            job.adapter,
            None if job.is_global else job.region_id,
            event.status,
            event.attempt,
            event.at_ms,
            event.error,
            version=None if result is None else result.published.manifest.version,
            new_windows=None if training is None else training.new_windows,
            old_windows=None if training is None else training.old_windows,
            valid_recall=None if training is None else training.valid_recall,
            seconds=None if training is None else training.seconds,
        )
        await self._send_all([(TRAIN_JOBS, message.to_bytes())])

    def _published(self, outcome: SliceOutcome) -> list[AdapterPublished]:
        """The committed slice's state, then every adapter version it published, for serving processes."""
        sent = now_ms()
        messages = [
            AdapterPublished(
                "setup" if outcome.slice == 0 else "slice",
                None,
                outcome.slice,
                outcome.slice + 1,
                f"{ARTIFACTS_DIR}/slice={outcome.slice}",
                directory_digest(self.session.artifacts.slice_dir(outcome.slice)),
                None,
                sent,
            )
        ]
        outcomes = [] if outcome.result is None else outcome.result.training.outcomes
        for job in outcomes:
            if job.result is None or job.job.method != RAIE:
                continue  # a failed job published nothing; baselines' adapters serve no routed request
            manifest = job.result.published.manifest
            if outcome.state.live.get(manifest.adapter) != manifest.version:
                continue  # the promotion guard kept the version before: this one never serves
            recall = manifest.metrics.get("valid_recall10")
            messages.append(
                AdapterPublished(
                    manifest.adapter,
                    manifest.region_id,
                    outcome.slice,
                    manifest.version,
                    manifest.store_path,
                    manifest.sha256,
                    None if recall is None else float(recall),
                    sent,
                )
            )
        return messages

    async def _send_all(self, messages: list[tuple[str, bytes]]) -> None:
        await asyncio.gather(*[await self.send(topic, value) for topic, value in messages])
