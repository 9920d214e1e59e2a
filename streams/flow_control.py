"""Faust's flow control, minus a resume that drops fetched messages.

faust-streaming 0.15.3 resumes flow twice when a worker starts: once before
it reads the changelogs, and again after it has resumed and seeked the
stream partitions. ``FlowControlEvent.resume`` clears every stream queue, so
the second call throws away messages fetched in between; their offsets are
already read, Faust's gap bookkeeping then counts them as acked, and they
are never processed (the kill -9 test lost one event per partition this way).

Clearing is only needed when flow was suspended (a rebalance: the queues may
hold messages of revoked partitions, which Faust clears on revoke as well).
A resume while flow is running changes nothing here.
"""

from __future__ import annotations

from functools import cached_property

import faust
from mode.utils.queues import FlowControlEvent


class ResumeKeepsFlowingQueues(FlowControlEvent):
    def resume(self) -> None:
        if self.is_active():
            return  # already flowing: every queued message was fetched after the last seek
        super().resume()


class LosslessApp(faust.App):
    """A Faust app whose streams never lose fetched messages to a second resume."""

    @cached_property
    def flow_control(self) -> FlowControlEvent:
        return ResumeKeepsFlowingQueues(loop=self.loop)
