"""The local executor: one Worker in this process, cells in the order given."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from longctx_eval.backends import Backend
from longctx_eval.executors import Finished
from longctx_eval.executors.session import Claim, always
from longctx_eval.plan import Cell, Plan
from longctx_eval.progress import Progress
from longctx_eval.worker import Worker


def cell_title(cell: Cell) -> str:
    return f"{cell.model.entry.name} {cell.spec.label()} {cell.task.label} {cell.length}"


class LocalSession:
    """One Worker in this process, kept between calls to `run` (its model stays loaded)."""

    def __init__(self, plan: Plan, config: Any, progress: Progress, backend: Backend | None = None) -> None:
        self.worker = Worker(plan, backend)
        self.worker.on_model_load = lambda m: progress.note(f"loading model {m.entry.name} ({m.path})")
        self.progress = progress

    def run(self, cells: Sequence[Cell], claim: Claim = always) -> Iterator[Finished]:
        for cell in cells:
            if not claim(cell):
                continue
            self.progress.cell_started(cell_title(cell))
            yield self.worker.run(cell)

    def close(self) -> None:
        self.worker.close()
