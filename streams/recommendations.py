"""The worker's recommendation service: micro-batched scoring off the event loop, adapters swapped without a pause.

One batch scores at a time, on the scoring thread. A request that finds it
idle waits ``BATCH_WAIT_S`` for company; requests that arrive while a batch
scores are all taken by the next one as soon as it ends, so under load the
batches grow instead of queueing one pass per request (a batch of 32 costs
about five single ones). Each request reads its user's context when its batch
starts, from the serving process's replica of the ingress's user table
(streams/context_replica.py), so an event the ingress has taken is in the
next answer.

A new slice (or a rollback) is served without stopping requests: the new
versions are loaded (each checked against its manifest's hash) and merged into
a new serving model in another thread, while the current model keeps
answering; new batches then go to the new one. A built model never changes
(raie/serving/stacks.py), so nothing is locked while it scores.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import duckdb
import torch

from raie.adapters.live import LiveAdapters
from raie.config import ExperimentConfig
from raie.online.artifacts import Artifacts, SessionState
from raie.serving import Recommendation, ServingModel, UserContext
from raie.serving.history import read_popular
from raie.serving.model import item_titles, prepare_adapters
from raie.store import StoreError

log = logging.getLogger(__name__)

BATCH_WAIT_S = 0.002
"""How long the first request of a batch waits for others: 2 ms of latency buys one forward
pass for every request of a burst instead of one each (the pass costs about the same)."""

MAX_BATCH = 128
"""Most requests scored in one pass; more start the next batch at once."""

POPULAR_REFRESH_S = 30.0
"""How often the popularity fallback is re-read from the store, besides at each new slice: the
query scans every ``interactions`` chunk (about 0.2 s of CPU on a 2-core box for ml-latest-small),
and what is popular within a slice moves slowly."""

UserContexts = Callable[[str], tuple[str, ...] | None]
"""user id -> the user's latest positives, as the ingress holds them (None: no context held here)."""


class NotReady(Exception):
    """No Set-up slice has closed yet: there is no model to answer with."""


@dataclass
class _Pending:
    user_id: str
    k: int
    answer: asyncio.Future[Recommendation]


@dataclass
class RecommendationService:
    artifacts: Artifacts
    config: ExperimentConfig
    device: torch.device
    contexts: UserContexts
    store_root: Path
    popular: list[tuple[str, float]] = field(default_factory=list)
    model: ServingModel | None = None
    """What answers now; replaced whole by :meth:`serve`."""
    _loader: LiveAdapters | None = None
    """Loads each new state's versions in place; only :meth:`serve` touches it, one call at a time."""
    _titles: dict[str, str] | None = None
    _queue: list[_Pending] = field(default_factory=list)
    _flush: asyncio.TimerHandle | None = None
    _scoring_batch: bool = False
    _scoring: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "recommend"))
    _tasks: set[asyncio.Future[None]] = field(default_factory=set)
    _swapping: asyncio.Lock = field(default_factory=asyncio.Lock)
    swaps: int = 0

    async def serve(self, state: SessionState | None) -> None:
        """Serve ``state`` from the next batch on, if it is not what serves now (new slice, or new live versions)."""
        async with self._swapping:
            current = self.model
            # The same slice and versions, whether the editor's objects or loaded from the store.
            if state is None or (
                current is not None
                and current.state.closed_slices == state.closed_slices
                and current.state.live == state.live
            ):
                return
            started = time.perf_counter()
            self.model = await asyncio.to_thread(self._load, state)
            self.swaps += 1
            log.info(
                "serving slice %d's state (live %s) after %.0f ms of loading",
                state.closed_slices,
                state.live,
                (time.perf_counter() - started) * 1000,
            )

    def _load(self, state: SessionState) -> ServingModel:
        self._loader = prepare_adapters(self._loader, state, self.artifacts, self.config, self.device)
        if self._titles is None:
            self._titles = item_titles(self.artifacts)
        return ServingModel.build(state, self._loader, self.config, self._titles)

    async def refresh_popular(self) -> None:
        """Re-read the popularity fallback; on a failed read the previous list keeps serving."""
        try:
            self.popular = await asyncio.to_thread(read_popular, self.store_root, self.config.preprocess.min_rating)
        except (duckdb.Error, OSError, StoreError) as error:  # e.g. a chunk replaced while it was read
            log.warning("popularity fallback not refreshed: %s", error)

    async def recommend(self, user_id: str, k: int) -> Recommendation:
        """``user_id``'s top ``k`` (1..MAX_K, checked by the caller); NotReady before the Set-up slice closed."""
        if self.model is None:
            raise NotReady()
        loop = asyncio.get_running_loop()
        pending = _Pending(user_id, k, loop.create_future())
        self._queue.append(pending)
        if not self._scoring_batch and self._flush is None:
            self._flush = loop.call_later(BATCH_WAIT_S, self._score_queue)
        return await pending.answer

    def _score_queue(self) -> None:
        """Start the next batch: the oldest ``MAX_BATCH`` waiting requests."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        if batch:
            self._scoring_batch = True
            task = asyncio.ensure_future(self._score(batch))
            self._tasks.add(task)  # held until done: the loop keeps only weak references to tasks
            task.add_done_callback(self._batch_done)

    def _batch_done(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        self._scoring_batch = False
        if self._queue:
            self._score_queue()  # they waited a whole batch already

    async def _score(self, batch: list[_Pending]) -> None:
        model = self.model
        assert model is not None  # recommend() refuses requests before the first state
        users = [UserContext(p.user_id, self.contexts(p.user_id) or ()) for p in batch]
        k = max(p.k for p in batch)
        loop = asyncio.get_running_loop()
        try:
            answers = await loop.run_in_executor(self._scoring, model.recommend, users, k, self.popular)
        except Exception as error:  # handed to every waiting request: none hangs, each fails with it
            log.exception("scoring a batch of %d requests failed", len(batch))
            for p in batch:
                if not p.answer.done():
                    p.answer.set_exception(error)
            return
        for p, answer in zip(batch, answers, strict=True):
            if not p.answer.done():  # the client may have gone away
                p.answer.set_result(_first(answer, p.k))

    def close(self) -> None:
        self._scoring.shutdown(wait=False, cancel_futures=True)


def _first(answer: Recommendation, k: int) -> Recommendation:
    """The answer cut to ``k`` items (a batch is scored for its largest ``k``)."""
    if len(answer.items) <= k:
        return answer
    return replace(answer, items=answer.items[:k])
