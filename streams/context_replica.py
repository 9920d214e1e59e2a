"""The serving process's copy of the ingress's user contexts, and of who owns each user.

The worker's ingress owns the user table (streams/ingress_states.py); the
serving process (streams/serving_process.py) answers requests from a replica of
it that the worker keeps current with the messages below, sent after every
ingress batch. A message only ever replaces values, so the replica is what the
ingress held after the batch the message describes.

Ownership follows the consumer group: ``interactions`` is keyed by user id, so
a user's partition is Kafka's default partitioner (murmur2 of the key) applied
to the id, and the group's assignment says which member's endpoint owns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka.partitioner.default import murmur2

Context = tuple[str, ...]
"""A user's latest positives, oldest first (the ingress's ``UserState.recent``)."""


@dataclass(frozen=True)
class Owners:
    """After each rebalance: every ``interactions`` partition's owner, by endpoint URL."""

    partitions: int
    urls: dict[int, str]


@dataclass(frozen=True)
class Contexts:
    """Users' contexts in one partition: the whole partition (``whole``, a restore) or those a batch changed."""

    partition: int
    recent: dict[str, Context]
    whole: bool = False


@dataclass(frozen=True)
class Revoked:
    """The group moved these partitions to another worker: their users are no longer answered here."""

    partitions: frozenset[int]


@dataclass(frozen=True)
class SliceClosed:
    """This worker closed a slice: load it now rather than at the next poll of the store."""


ReplicaMessage = Owners | Contexts | Revoked | SliceClosed


def partition_of(user_id: str, partitions: int) -> int:
    """The ``interactions`` partition of ``user_id``: what Kafka's default partitioner gives its key."""
    return int(murmur2(user_id.encode()) & 0x7FFFFFFF) % partitions


@dataclass
class ContextReplica:
    own_url: str
    """This worker's endpoint, as the group knows it (its canonical URL)."""
    partitions: int = 0
    owners: dict[int, str] = field(default_factory=dict)
    contexts: dict[int, dict[str, Context]] = field(default_factory=dict)

    def apply(self, message: ReplicaMessage) -> None:
        if isinstance(message, Owners):
            self.partitions, self.owners = message.partitions, dict(message.urls)
        elif isinstance(message, Contexts):
            if message.whole:
                self.contexts[message.partition] = dict(message.recent)
            else:
                self.contexts.setdefault(message.partition, {}).update(message.recent)
        elif isinstance(message, Revoked):
            for partition in message.partitions:
                self.contexts.pop(partition, None)

    @property
    def synced(self) -> bool:
        """Whether the worker has sent the group's assignment; users are answered only from then on.
        A replacement process gets every context the worker holds before it; after a rebalance,
        the contexts of newly assigned partitions follow as they are restored (seconds)."""
        return self.partitions > 0

    def owner(self, user_id: str) -> str | None:
        """The URL of the worker that owns ``user_id``; None when it is this one, or when no
        assignment is known yet (then this worker answers with what it has)."""
        if not self.partitions:
            return None
        url = self.owners.get(partition_of(user_id, self.partitions))
        return None if url is None or url == self.own_url else url

    def recent(self, user_id: str) -> Context | None:
        """The user's context, None when no partition held here has the user."""
        if self.partitions:
            return self.contexts.get(partition_of(user_id, self.partitions), {}).get(user_id)
        for users in self.contexts.values():
            if user_id in users:
                return users[user_id]
        return None
