"""A named registry: one per extension point (methods, tasks, backends).

Duplicate names are refused and an unknown name is answered with the list of valid ones, so a
typo in a sweep YAML gets a useful one-line error instead of a KeyError.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A name that no registered object answers to; the message lists the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} {name!r} (valid: {', '.join(valid) or 'none registered'})")

    def __str__(self) -> str:
        return str(self.args[0])


class Registry(Generic[T]):
    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def add(self, name: str, item: T) -> T:
        existing = self._items.get(name)
        if existing is not None and existing is not item:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return list(self._items)  # registration order: the order a reader expects (none, pi, ntk, …)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def import_object(path: str) -> Any:
    """`"package.module:name"` → the object, imported only now (registries name heavy code lazily)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
