"""Where strategies put what they did (region snapshots, op counts, training jobs).

A strategy records plain rows under a store table's name; whoever ran it
decides where they go. The offline runner adds ``run_id``, ``method`` and
``seed`` and writes them to the store; tests read them from memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

Row = dict[str, Any]


class Recorder(ABC):
    @abstractmethod
    def record(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Append ``rows`` for the store table ``table``."""


class MemoryRecorder(Recorder):
    """Keeps rows per table, in the order recorded."""

    def __init__(self) -> None:
        self.tables: dict[str, list[Row]] = {}

    def record(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        self.tables.setdefault(table, []).extend(dict(row) for row in rows)
