"""The stream's flow control keeps fetched messages when flow resumes while already running."""

from __future__ import annotations

import asyncio

import pytest
from mode.utils.queues import FlowControlQueue

from streams.flow_control import ResumeKeepsFlowingQueues

pytestmark = pytest.mark.unit


def test_a_resume_while_flowing_keeps_queued_messages() -> None:
    async def scenario() -> tuple[int, int]:
        flow = ResumeKeepsFlowingQueues()
        queue: FlowControlQueue[int] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
        flow.resume()  # started: flowing from here on
        await queue.put(96)
        flow.resume()  # Faust's second resume at start-up
        kept = queue.qsize()
        flow.suspend()  # a rebalance: what is queued may belong to revoked partitions
        flow.resume()
        return kept, queue.qsize()

    kept, after_rebalance = asyncio.run(scenario())
    assert kept == 1
    assert after_rebalance == 0
