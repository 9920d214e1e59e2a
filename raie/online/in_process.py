"""A protocol timeline fed through a slice session in this process, as the stream would feed it.

Events go in time order; each makes a window (per user, as the ingress does),
windows are embedded in batches with the frozen Set-up model, and a slice is
closed and committed at each block boundary. Tests use it to compare the
stream's session with the offline runner; benchmarks use it to time slice
closes without a broker in the way.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pyarrow as pa
import torch

from raie.online.candidates import Candidate, encode_contexts
from raie.online.session import SliceOutcome, SliceSession
from raie.online.user_state import UserState, next_window
from raie.protocol.blocks import ProtocolData
from raie.regions.router import represent


@dataclass(frozen=True)
class ClosedSlice:
    outcome: SliceOutcome
    live_after_s: float  # from the slice's close to its commit: every adapter it trained is live


def feed_session(data: ProtocolData, session: SliceSession, embed_batch: int) -> list[ClosedSlice]:
    p = data.positives
    order = sorted(range(len(p)), key=lambda r: (int(p.ts[r]), p.user_ids[p.user[r]], p.item_ids[p.item[r] - 1]))
    catalogue = pa.table({"item_id": p.item_ids, "title": p.item_ids, "categories": [None] * p.n_items})
    protocol = session.config.protocol
    context_len = protocol.context_len
    users: dict[str, UserState] = {}
    closed: list[ClosedSlice] = []
    waiting: list[Candidate] = []

    def flush() -> None:
        for start in range(0, len(waiting), embed_batch):
            batch = waiting[start : start + embed_batch]
            assert session.state is not None
            context = encode_contexts([c.context for c in batch], session.state.vocabulary, context_len)
            reps = represent(session.state.setup_model, torch.from_numpy(context))  # moved to the model's device
            for candidate, rep in zip(batch, reps, strict=True):
                session.add(Candidate(**{**candidate.__dict__, "embedding": rep}))
        waiting.clear()

    async def close_and_commit(slice_index: int) -> ClosedSlice:
        started = time.perf_counter()
        outcome = await session.close(slice_index, catalogue)
        await session.commit(outcome)
        return ClosedSlice(outcome, time.perf_counter() - started)

    def close_through(slice_index: int) -> None:
        flush()
        for ready in session.mark(slice_index, partition=0):
            closed.append(asyncio.run(close_and_commit(ready)))

    current = 0
    for row in order:
        slice_index = int(data.block_of_row[row])
        while current < slice_index:
            close_through(current)
            current += 1
        user = p.user_ids[p.user[row]]
        users[user], candidate = next_window(
            users.get(user),
            user,
            p.item_ids[p.item[row] - 1],
            int(p.ts[row]) * 1000,
            slice_index,
            context_len,
            shortest=protocol.shortest_context,
            across_slices=protocol.context_across_blocks,
        )
        if candidate is not None and session.state is None:
            session.add(candidate)  # slice 0 has no Set-up model to embed with yet
        elif candidate is not None:
            waiting.append(candidate)
    close_through(current)
    return closed
