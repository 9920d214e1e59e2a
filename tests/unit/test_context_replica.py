"""The serving process's replica of the ingress's contexts, and who owns a user."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streams.context_replica import ContextReplica, Contexts, Owners, Revoked, partition_of

pytestmark = pytest.mark.unit

ME, OTHER = "http://127.0.0.1:6066", "http://127.0.0.1:7077"
PARTITIONS = 4


def test_a_users_partition_is_the_one_the_workers_kafka_client_gives_its_key() -> None:
    """Faust routes by aiokafka's partitioner and producers key by user id: the replica must agree."""
    everything = list(range(PARTITIONS))
    for user in ("1", "42", "user-7", "é-ü", "a" * 300):
        assert partition_of(user, PARTITIONS) == DefaultPartitioner()(user.encode(), everything, everything)


def users_by_partition(count: int = 40) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for n in range(count):
        grouped.setdefault(partition_of(str(n), PARTITIONS), []).append(str(n))
    return grouped


def test_users_of_partitions_another_worker_owns_are_forwarded_to_it() -> None:
    grouped = users_by_partition()
    replica = ContextReplica(ME)
    assert replica.owner(grouped[0][0]) is None, "no assignment known yet: answered here"
    replica.apply(Owners(PARTITIONS, {0: ME, 1: OTHER, 2: ME, 3: OTHER}))
    assert replica.owner(grouped[0][0]) is None
    assert replica.owner(grouped[1][0]) == OTHER
    replica.apply(Owners(PARTITIONS, {0: OTHER, 1: ME}))  # a rebalance; 2 and 3 unknown for now
    assert replica.owner(grouped[0][0]) == OTHER
    assert replica.owner(grouped[1][0]) is None
    assert replica.owner(grouped[2][0]) is None


def test_contexts_follow_restores_batches_and_revokes() -> None:
    grouped = users_by_partition()
    a, b = grouped[0][:2]
    replica = ContextReplica(ME)
    replica.apply(Owners(PARTITIONS, {p: ME for p in range(PARTITIONS)}))
    replica.apply(Contexts(0, {a: ("i1",), b: ("i2",)}, whole=True))
    replica.apply(Contexts(0, {a: ("i1", "i3")}))  # a batch changed only a
    assert replica.recent(a) == ("i1", "i3")
    assert replica.recent(b) == ("i2",)
    replica.apply(Contexts(0, {a: ("i9",)}, whole=True))  # a restore replaces the partition
    assert replica.recent(a) == ("i9",) and replica.recent(b) is None
    replica.apply(Revoked(frozenset({0})))
    assert replica.recent(a) is None


def test_before_any_assignment_a_context_is_found_in_whatever_partition_holds_it() -> None:
    replica = ContextReplica(ME)
    replica.apply(Contexts(3, {"u": ("i1",)}, whole=True))
    assert replica.recent("u") == ("i1",)
    assert replica.recent("nobody") is None
