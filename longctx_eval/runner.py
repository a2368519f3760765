"""Run a plan: skip finished cells, load each model once, apply each method once, record every cell.

Order: model → (method@factor) group → task → length, so weights are read once per model and the
rotary module is swapped once per group. A failure inside a cell (or while loading a model or
applying a method) is recorded against the cells it hit, and the sweep goes on.
"""

from __future__ import annotations

import socket
import time
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any

from longctx_eval import __version__
from longctx_eval.backends import BACKENDS, Backend
from longctx_eval.manifest import git_sha, hardware, now, versions
from longctx_eval.plan import Cell, Plan
from longctx_eval.progress import Progress
from longctx_eval.prompts import PromptFormat
from longctx_eval.rope.analysis import frequency_record
from longctx_eval.store import ResultStore
from longctx_eval.task import TASKS, CellContext, CellOutcome

RESULTS_FORMAT = "longctx-eval/results/v1"


@dataclass
class RunSummary:
    out_dir: Path
    total: int
    already_done: int
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0, "skipped": 0})
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return self.counts["failed"]


def run_plan(plan: Plan, out_dir: Path, progress: Progress, backend: Backend | None = None) -> RunSummary:
    store = ResultStore(out_dir)
    done = store.finished_ids()
    todo = [c for c in plan.cells if c.cell_id not in done]
    summary = RunSummary(Path(out_dir), len(plan.cells), len(plan.cells) - len(todo))
    store.write_manifest(_run_entry(plan, len(todo)), _manifest_base(plan))
    progress.start(len(plan.cells), summary.already_done, plan.config.name)
    if not todo:
        progress.finish()
        return summary
    if backend is None:
        backend = BACKENDS.get(plan.config.backend.kind).create(plan.config.backend)
    try:
        for _, model_cells in groupby(todo, key=lambda c: c.model.index):
            _run_model(plan, list(model_cells), backend, store, progress, summary)
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        backend.unload()
        progress.finish()
    return summary


def _run_model(
    plan: Plan,
    cells: list[Cell],
    backend: Backend,
    store: ResultStore,
    progress: Progress,
    summary: RunSummary,
) -> None:
    model = cells[0].model
    progress.note(f"loading model {model.entry.name} ({model.path})")
    try:
        loaded = backend.load(model.entry, model.path)
        prompts = PromptFormat(loaded.tokenizer, chat_template=model.entry.chat_template == "auto")
    except Exception as exc:
        _fail_all(
            cells,
            f"loading model {model.entry.name} failed: {_short(exc)}",
            backend,
            store,
            progress,
            summary,
        )
        return
    model_caches: dict[int, dict[str, Any]] = defaultdict(dict)
    groups: dict[Any, list[Cell]] = defaultdict(list)
    for cell in cells:
        groups[cell.group].append(cell)
    for group_cells in groups.values():
        try:
            lm = backend.apply(group_cells[0].setting)
        except Exception as exc:
            msg = f"applying {group_cells[0].spec.label()} failed: {_short(exc)}"
            _fail_all(group_cells, msg, backend, store, progress, summary)
            continue
        group_caches: dict[int, dict[str, Any]] = defaultdict(dict)
        for k, cell in enumerate(group_cells):
            pending = [c.length for c in group_cells[k:] if c.task_index == cell.task_index]
            ctx = CellContext(
                length=cell.length,
                seed=cell.seed,
                lm=lm,
                prompts=prompts,
                length_dependent=cell.spec.definition.length_dependent,
                group_cache=group_caches[cell.task_index],
                group_lengths=pending,
                model_cache=model_caches[cell.task_index],
            )
            _run_cell(plan, cell, ctx, backend, store, progress, summary)


def _run_cell(
    plan: Plan,
    cell: Cell,
    ctx: CellContext,
    backend: Backend,
    store: ResultStore,
    progress: Progress,
    summary: RunSummary,
) -> None:
    progress.cell_started(f"{cell.model.entry.name} {cell.spec.label()} {cell.task.label} {cell.length}")
    t0 = time.monotonic()
    try:
        outcome = plan.tasks[cell.task_index].run(ctx)
    except KeyboardInterrupt:
        raise
    except Exception as exc:
        record = make_record(cell, backend, "failed", time.monotonic() - t0, error=_short(exc))
        record["traceback"] = traceback.format_exc(limit=8)
        _write(record, None, store, progress, summary)
        return
    record = make_record(cell, backend, outcome.status, time.monotonic() - t0, outcome=outcome)
    _write(record, outcome.samples, store, progress, summary)


def _fail_all(
    cells: list[Cell],
    error: str,
    backend: Backend,
    store: ResultStore,
    progress: Progress,
    summary: RunSummary,
) -> None:
    for cell in cells:
        _write(make_record(cell, backend, "failed", 0.0, error=error), None, store, progress, summary)


def _write(
    record: dict[str, Any],
    samples: list[dict[str, Any]] | None,
    store: ResultStore,
    progress: Progress,
    summary: RunSummary,
) -> None:
    store.write_cell(record, samples)
    summary.counts[record["status"]] += 1
    progress.cell_finished(record)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _rope_of(cell: Cell) -> dict[str, Any] | None:
    """The frequencies the cell ran with (at its length for length-dependent methods)."""
    length = cell.length if cell.spec.definition.length_dependent else 1
    m = cell.model
    key = (m.path, m.fingerprint, m.base.original_context, cell.group[1], length)
    if key not in _ROPE_CACHE:
        try:
            s = cell.setting
            _ROPE_CACHE[key] = frequency_record(
                cell.model.config, cell.model.base, s.rope_parameters, s.max_position_embeddings, length
            )
        except Exception:  # a picture for the report must never cost a result
            _ROPE_CACHE[key] = None
    return _ROPE_CACHE[key]


_ROPE_CACHE: dict[Any, dict[str, Any] | None] = {}


def make_record(
    cell: Cell,
    backend: Backend,
    status: str,
    duration: float,
    outcome: CellOutcome | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    spec = cell.spec
    return {
        "cell_id": cell.cell_id,
        "model": cell.model.entry.name,
        "model_path": cell.model.entry.path,
        "method": spec.method,
        "method_label": spec.label(),
        "factor": spec.factor,
        "factor_mode": "auto" if spec.auto else ("none" if spec.method == "none" else "fixed"),
        "rope_parameters": cell.setting.rope_parameters,
        "original_context": cell.model.base.original_context,
        "task": cell.task.label,
        "task_name": cell.task.task,
        "task_version": TASKS.get(cell.task.task).version,
        "task_params": cell.task.params.model_dump(mode="json"),
        "length": cell.length,
        "seed": cell.seed,
        "status": status,
        "metrics": outcome.metrics if outcome else {},
        "n_samples": len(outcome.samples) if outcome else 0,
        "error": error if error is not None else (outcome.reason if outcome else None),
        "duration_s": round(duration, 3),
        "backend": backend.describe(),
        "rope": _rope_of(cell),
        "finished_at": now(),
        "host": socket.gethostname(),
    }


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


def _run_entry(plan: Plan, todo: int) -> dict[str, Any]:
    return {"started_at": now(), "host": socket.gethostname(), "cells_to_run": todo}
