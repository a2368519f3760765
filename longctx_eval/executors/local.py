"""The local executor: one Worker in this process, cells in plan order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from longctx_eval.backends import Backend
from longctx_eval.executors import Claim, Finished, always
from longctx_eval.plan import Cell, Plan
from longctx_eval.progress import Progress
from longctx_eval.worker import Worker


def cell_title(cell: Cell) -> str:
    return f"{cell.model.entry.name} {cell.spec.label()} {cell.task.label} {cell.length}"


def run_local(
    plan: Plan,
    cells: Sequence[Cell],
    config: Any,
    progress: Progress,
    backend: Backend | None = None,
    claim: Claim = always,
) -> Iterator[Finished]:
    worker = Worker(plan, backend)
    worker.on_model_load = lambda m: progress.note(f"loading model {m.entry.name} ({m.path})")
    try:
        for cell in cells:
            if not claim(cell):
                continue
            progress.cell_started(cell_title(cell))
            yield worker.run(cell)
    finally:
        worker.close()
