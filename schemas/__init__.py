"""The wire contract of RAIE Stream: JSON Schema files and the models that obey them.

Every message kind has a file ``schemas/json/<name>.v<version>.json`` (the
contract, readable from any language) and a frozen dataclass here with
``from_bytes``/``from_json`` (validate, then build) and ``to_bytes``/``to_json``.
The one binary message, :class:`RoutedBatch` (an Arrow IPC stream of routed
windows), has no JSON Schema file. See schemas/README.md for topics, keys and partitions.
"""

from __future__ import annotations

from schemas.adapter_decision import AdapterDecision
from schemas.adapter_published import AdapterPublished
from schemas.codec import MAX_EVENT_BYTES
from schemas.dead_letter import MAX_DEAD_LETTER_BYTES, DeadLetter
from schemas.errors import SchemaError
from schemas.interaction import Interaction
from schemas.item import Item
from schemas.model import WireModel
from schemas.region_edit import RegionEdit
from schemas.routed_batch import RoutedBatch
from schemas.routed_window import RoutedWindow
from schemas.slice_mark import SliceMark
from schemas.train_job import TrainJob

MODELS: tuple[type[WireModel], ...] = (
    Interaction,
    Item,
    SliceMark,
    RoutedWindow,
    RegionEdit,
    TrainJob,
    AdapterPublished,
    AdapterDecision,
    DeadLetter,
)
"""Every message model, one per schema file. RoutedBatch is not one: it is Arrow IPC, not JSON (schemas/README.md)."""

__all__ = [
    "MAX_DEAD_LETTER_BYTES",
    "MAX_EVENT_BYTES",
    "MODELS",
    "AdapterDecision",
    "AdapterPublished",
    "DeadLetter",
    "Interaction",
    "Item",
    "RegionEdit",
    "RoutedBatch",
    "RoutedWindow",
    "SchemaError",
    "SliceMark",
    "TrainJob",
    "WireModel",
]
