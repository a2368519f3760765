"""A named registry: one per extension point (methods, tasks, backends).

Duplicate names are refused and an unknown name is answered with the list of valid ones, so a
typo in a sweep YAML gets a useful one-line error instead of a KeyError.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
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
    def __init__(self, kind: str, discover: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        # Called once, at the first lookup: finds installed plugins (entry points), so that every
        # place that names a method sees them without loading them itself.
        self._discover = discover

    def add(self, name: str, item: T) -> T:
        existing = self._items.get(name)
        if existing is not None and existing is not item:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = item
        return item

    def _discovered(self) -> None:
        if self._discover is not None:
            discover, self._discover = self._discover, None
            discover()

    def get(self, name: str) -> T:
        self._discovered()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        self._discovered()
        return list(self._items)  # registration order: the order a reader expects (none, pi, ntk, …)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def import_object(path: str) -> Any:
    """`"package.module:name"` → the object, imported only now (registries name heavy code lazily)."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def plugin_files(path: Path, what: str) -> list[Path]:
    """The .py files a plugin path names: the file itself, or a directory's (not `_`-prefixed)."""
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
    raise FileNotFoundError(f"{what} {str(path)!r} is neither a .py file nor a directory")


def import_plugin_file(file: Path, what: str) -> None:
    """Import a plugin file once per process (it registers itself); a failure names the file.

    One module per file whatever named it: a file holding both tasks and methods, named by
    `tasks_path` and `methods_path`, registers once."""
    resolved = file.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"longctx_eval_user_plugins.{resolved.stem}_{digest}"
    if module_name in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {what} {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        first = str(exc).strip().splitlines()
        raise ImportError(
            f"{what} {file} failed to load: {type(exc).__name__}: {first[0] if first else ''}"
        ) from exc
