"""What an executor is while it runs: a `Session` opened on a plan, and the `claim` it asks before
each cell. Apart from the executors' settings (`executors/__init__`), because it needs the plan."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from longctx_eval.executors import EXECUTORS, Finished
from longctx_eval.registry import import_object

if TYPE_CHECKING:
    from longctx_eval.backends import Backend
    from longctx_eval.plan import Cell, Plan
    from longctx_eval.progress import Progress


Claim = Callable[["Cell"], bool]


def always(cell: Cell) -> bool:
    return True


class Session(Protocol):
    """An executor at work for one run: `run(cells, claim)` yields each cell as it finishes, and
    may be called again (a length search's rounds) with its workers and models still loaded.
    `claim(cell)` is asked right before a cell starts: False means another process sharing the
    results directory has it, so skip it."""

    def run(self, cells: Sequence[Cell], claim: Claim = ...) -> Iterator[Finished]: ...

    def close(self) -> None: ...


class OpenSession(Protocol):
    def __call__(self, plan: Plan, config: Any, progress: Progress, backend: Backend | None) -> Session: ...


def session_opener(kind: str) -> OpenSession:
    """The executor's Session class, imported only when a sweep runs on it."""
    cls: OpenSession = import_object(EXECUTORS.get(kind).session)
    return cls
