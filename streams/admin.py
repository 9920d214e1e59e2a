"""Create the stream's topics on a broker; safe to run any number of times."""

from __future__ import annotations

import logging
from typing import Any

import kafka.errors as kafka_errors
from kafka.admin import KafkaAdminClient

from raie.errors import RuntimeFailure
from streams.connect import BOOTSTRAP_TIMEOUT_MS, reaching
from streams.topic_names import INTERACTIONS, TOPICS, TopicSpec, pipeline_topics

log = logging.getLogger(__name__)

REPLICATION_FACTOR = 1
"""The local broker is a single node; a higher factor could not be placed."""

TOPIC_READY_TIMEOUT_MS = 30_000
"""KRaft elects partition leaders a moment after CreateTopics returns; producing
before that fails, so creation waits until every partition has a leader."""

ADMIN_CLIENT_ID = "raie-admin"


class TopicSetupError(RuntimeFailure):
    """The broker refused to create a topic for a reason other than it existing.

    A runtime failure (exit 1): the broker's state or policy is at fault, not the command's input."""


def ensure_topics(
    bootstrap: str, partitions_override: dict[str, int] | None = None, specs: tuple[TopicSpec, ...] = TOPICS
) -> None:
    """Create every topic of ``specs`` (default: the public ``TOPICS``) that the broker lacks.

    ``partitions_override`` maps a topic name to another partition count (tests
    use it). A topic that already exists is left alone, even when its partition
    count differs from the spec: changing it would move keys between partitions
    under running consumers, so a warning says so instead.
    """
    overrides = partitions_override or {}
    unknown = set(overrides) - {spec.name for spec in specs}
    if unknown:
        raise ValueError(f"partitions_override names unknown topics {sorted(unknown)}")
    with reaching(bootstrap):
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id=ADMIN_CLIENT_ID, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS
        )
    try:
        with reaching(bootstrap):
            _create_missing(admin, overrides, specs)
    finally:
        admin.close()


def ensure_pipeline_topics(bootstrap: str, app_id: str) -> None:
    """Create the internal topics of consumer group ``app_id``, partitioned like ``interactions`` (which must exist)."""
    with reaching(bootstrap):
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap, client_id=ADMIN_CLIENT_ID, bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS
        )
    try:
        with reaching(bootstrap):
            partitions = _partition_counts(admin).get(INTERACTIONS)
            if partitions is None:
                raise TopicSetupError(f"topic {INTERACTIONS} does not exist; create it first (ensure_topics)")
            _create_missing(admin, {}, pipeline_topics(app_id, partitions))
    finally:
        admin.close()


def _create_missing(admin: KafkaAdminClient, overrides: dict[str, int], specs: tuple[TopicSpec, ...]) -> None:
    existing = _partition_counts(admin)
    missing: dict[str, dict[str, Any]] = {}
    for spec in specs:
        wanted = overrides.get(spec.name, spec.partitions)
        have = existing.get(spec.name)
        if have is None:
            missing[spec.name] = _creation_request(spec, wanted)
        elif have != wanted:
            log.warning("topic %s has %d partitions, not %d; leaving it as it is", spec.name, have, wanted)
    if not missing:
        return
    # raise_errors=False: another process may create the same topic between the
    # listing above and this request, and TopicAlreadyExists is then success.
    result = admin.create_topics(missing, raise_errors=False)
    for topic in result["topics"]:
        error = kafka_errors.for_code(topic["error_code"])
        if error is kafka_errors.NoError or error is kafka_errors.TopicAlreadyExistsError:
            continue
        message = topic.get("error_message") or error.__name__
        raise TopicSetupError(f"could not create topic {topic['name']}: {message}")
    admin.wait_for_topics(list(missing), timeout_ms=TOPIC_READY_TIMEOUT_MS)
    log.info("created topics %s", sorted(missing))


def _partition_counts(admin: KafkaAdminClient) -> dict[str, int]:
    """Partition count of every topic the broker has."""
    return {
        topic["name"]: len(topic["partitions"]) for topic in admin.describe_topics() if topic.get("error_code", 0) == 0
    }


def _creation_request(spec: TopicSpec, partitions: int) -> dict[str, Any]:
    """kafka-python's dict form of a CreateTopics entry (NewTopic is deprecated in 3.x)."""
    configs = {"cleanup.policy": "compact" if spec.compacted else "delete"}
    if spec.retention_ms is not None:
        configs["retention.ms"] = str(spec.retention_ms)
    if spec.max_message_bytes is not None:
        configs["max.message.bytes"] = str(spec.max_message_bytes)
    return {"num_partitions": partitions, "replication_factor": REPLICATION_FACTOR, "configs": configs}
