"""The region editor: the single writer of the bank, on the 1-partition ``routed-windows`` topic.

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

import numpy as np
import pyarrow as pa

from raie.online.artifacts import ARTIFACTS_DIR, directory_digest
from raie.online.candidates import Candidate
from raie.online.session import SliceOutcome, SliceSession
from raie.online.trainer import JobEvent
from raie.store import Store
from raie.strategies import RAIE
from schemas import AdapterPublished, RegionEdit, RoutedWindow, SliceMark, TrainJob
from schemas.region_edit import EditOp
from streams.events import is_mark, now_ms
from streams.topic_names import ADAPTERS, REGION_EDITS, TRAIN_JOBS

log = logging.getLogger(__name__)


@dataclass
class RegionEditorAgent:
    session: SliceSession
    store: Store
    store_lock: asyncio.Lock
    run_id: str
    read_catalogue: Callable[[], pa.Table | None]  # blocking: reads the items topic to its end
    send: Any  # async (topic name, bytes) -> delivery future
    on_closed: Callable[[SliceOutcome], None]
    held: dict[int, list[Any]] = field(default_factory=lambda: defaultdict(list))

    def __post_init__(self) -> None:
        self.session.on_job_event = self._send_job_event

    async def on_event(self, event: Any, stream: Any) -> None:
        if is_mark(event):
            mark = SliceMark.from_bytes(event.value)
            self.held[mark.slice].append(event)
            for ready in self.session.mark(mark.slice, mark.partition if mark.partition is not None else 0):
                await self._close(ready, stream)
            return
        window = RoutedWindow.from_bytes(event.value)
        embedding = None if window.embedding is None else np.asarray(window.embedding, dtype=np.float32)
        candidate = Candidate(
            window.user_id, window.slice, window.position, window.context, window.target, window.ts_ms, embedding
        )
        if self.session.add(candidate):
            self.held[window.slice].append(event)
        else:
            await stream.ack(event)  # a window of a closed slice, re-read after a restart

    async def _close(self, slice_index: int, stream: Any) -> None:
        catalogue = await asyncio.to_thread(self.read_catalogue) if slice_index == 0 else None
        outcome = await self.session.close(slice_index, catalogue)
        async with self.store_lock:
            await asyncio.to_thread(outcome.store, self.store, self.run_id, self.session.seed)
        await self._send_all(self._audit_messages(outcome))  # at least once: a re-close sends them again
        # Commit only once the rows are stored: a crash before this re-closes the slice.
        await self.session.commit(outcome)
        published = await asyncio.to_thread(self._published, outcome)  # hashes the slice's files: off the loop
        await self._send_all([(ADAPTERS, m.to_bytes()) for m in published])
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
                continue  # the region guard kept the version before: this one never serves
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
