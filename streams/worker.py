"""Run the stream worker until SIGTERM or SIGINT (mode's worker stops the agents cleanly)."""

from __future__ import annotations

import logging

import faust
from kafka import KafkaConsumer

from streams.app import build_app
from streams.connect import reaching
from streams.gc_pauses import GcPauseLog
from streams.settings import WorkerSettings
from streams.topic_names import INTERACTIONS

log = logging.getLogger(__name__)


def interaction_partitions(bootstrap: str) -> int:
    with reaching(bootstrap):
        consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        return len(consumer.partitions_for_topic(INTERACTIONS) or ())
    finally:
        consumer.close()


def run_worker(settings: WorkerSettings, loglevel: str = "INFO") -> None:
    """Run until stopped; the topics exist (``raie worker`` creates them before it starts anything)."""
    partitions = interaction_partitions(settings.bootstrap)
    stream = build_app(settings, partitions)
    GcPauseLog().install()
    log.info("stream worker: %d interaction partitions, store %s", partitions, settings.store)
    faust.Worker(stream.app, loglevel=loglevel, quiet=True).execute_from_commandline()
