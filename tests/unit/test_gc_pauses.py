"""Freezing long-lived objects, thawing them, and the log of long collections."""

from __future__ import annotations

import gc
import logging
import weakref

import pytest

from streams.gc_pauses import GcPauseLog, freeze_survivors, thaw

pytestmark = pytest.mark.unit


def test_a_collection_longer_than_the_limit_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    quiet, loud = GcPauseLog(warn_ms=60_000.0), GcPauseLog(warn_ms=0.0)
    caplog.set_level(logging.WARNING, logger="streams.gc_pauses")
    quiet.install()
    loud.install()
    loud.install()  # once only
    try:
        assert gc.callbacks.count(loud) == 1
        gc.collect(2)
    finally:
        gc.callbacks.remove(quiet)
        gc.callbacks.remove(loud)
    assert len(caplog.records) == 1
    assert "garbage collection of generation 2 paused the worker" in caplog.records[0].getMessage()


def test_survivors_are_frozen_until_a_thaw_frees_their_cycles() -> None:
    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    try:
        freeze_survivors()
        assert gc.get_freeze_count() > 0
        del a, b  # a cycle: only the collector can free it, and it is frozen
        gc.collect()
        assert gone() is not None
        thaw()
        assert gc.get_freeze_count() == 0
        assert gone() is None
    finally:
        gc.unfreeze()
