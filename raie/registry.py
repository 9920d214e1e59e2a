"""Named plugins, as peft registers its tuner types: backbones, strategies, loaders."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps a name (a CLI choice) to a factory.

    Built-in plugins are imported lazily, on first lookup, so that importing a
    registry never loads every plugin (and torch) with it.
    """

    def __init__(self, kind: str, builtin_modules: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self._builtin_modules = builtin_modules
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorate(entry: T) -> T:
            self._entries[name] = entry
            return entry

        return decorate

    def names(self) -> list[str]:
        self._load_builtins()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        self._load_builtins()
        if name not in self._entries:
            raise ValueError(f"unknown {self.kind} '{name}'; choose one of {sorted(self._entries)}")
        return self._entries[name]

    def _load_builtins(self) -> None:
        for module in self._builtin_modules:
            importlib.import_module(module)
