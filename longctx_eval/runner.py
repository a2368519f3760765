"""Run a plan: skip finished cells, hand the rest to the executor, write each as it finishes.

The runner is the only writer of the results directory, whichever executor computes the cells.
A SIGINT/SIGTERM stops the sweep between writes (see `signals`); failures inside cells are
records, not exceptions.
"""

from __future__ import annotations

import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longctx_eval import __version__
from longctx_eval.backends import Backend
from longctx_eval.executors import EXECUTORS
from longctx_eval.manifest import git_sha, hardware, now, versions
from longctx_eval.plan import Plan
from longctx_eval.progress import Progress
from longctx_eval.shard import Shard, shard_cells
from longctx_eval.signals import GracefulStop, StopRequested
from longctx_eval.store import ResultStore

RESULTS_FORMAT = "longctx-eval/results/v1"


@dataclass
class RunSummary:
    out_dir: Path
    total: int
    already_done: int
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0, "skipped": 0})
    stopped_by: int | None = None  # the signal that stopped the run

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None

    @property
    def left(self) -> int:
        return self.total - self.already_done - sum(self.counts.values())

    def stop_message(self) -> str:
        name = signal.Signals(self.stopped_by).name if self.stopped_by else "a signal"
        return (
            f"stopped by {name}: {self.total - self.left} of {self.total} cells finished, {self.left} left; "
            f"run the same command again to resume ({self.out_dir})"
        )


def run_plan(
    plan: Plan, out_dir: Path, progress: Progress, backend: Backend | None = None, shard: Shard | None = None
) -> RunSummary:
    store = ResultStore(out_dir)
    cells = shard_cells(plan.cells, shard) if shard else plan.cells
    done = store.finished_ids()
    todo = [c for c in cells if c.cell_id not in done]
    summary = RunSummary(Path(out_dir), len(cells), len(cells) - len(todo))
    store.write_manifest(_run_entry(len(todo), shard), _manifest_base(plan))
    title = plan.config.name + (f" (shard {shard})" if shard else "")
    progress.start(len(cells), summary.already_done, title)
    execute = EXECUTORS.get(plan.config.executor.kind).load()
    with GracefulStop() as stop:
        try:
            if todo:
                for record, samples in execute(plan, todo, plan.config.executor, progress, backend):
                    with stop.critical():
                        store.write_cell(record, samples)
                        summary.counts[record["status"]] += 1
                    progress.cell_finished(record)
        except StopRequested as exc:
            summary.stopped_by = exc.signum
        finally:
            progress.finish()
    return summary


def _manifest_base(plan: Plan) -> dict[str, Any]:
    return {
        "format": RESULTS_FORMAT,
        "sweep": plan.config.name,
        "config": plan.config.model_dump(mode="json"),
        "models": [
            {
                "name": m.entry.name,
                "path": m.path,
                "fingerprint": m.fingerprint,
                "original_context": m.base.original_context,
            }
            for m in plan.models
        ],
        "cells": len(plan.cells),
        "longctx_eval": __version__,
        "git_sha": git_sha(),
        "versions": versions(),
        "hardware": hardware(),
    }


def _run_entry(todo: int, shard: Shard | None) -> dict[str, Any]:
    return {
        "started_at": now(),
        "host": socket.gethostname(),
        "cells_to_run": todo,
        "shard": str(shard) if shard else None,
    }
