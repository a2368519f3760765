"""Running cells on one backend: each model loaded once, each rope setting applied once.

A `Worker` is what both executors drive — the local one in-process, the Ray one inside an actor.
It takes one cell at a time (plus the lengths still pending in the cell's group, so perplexity can
score several truncation lengths from one pass), loads a model or applies a rope setting only
when the cell needs a different one, and turns whatever happens into a record: a cell that raises
is a failed record with its error, never an exception out of the worker.
"""

from __future__ import annotations

import socket
import time
import traceback
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, cast

from pydantic import BaseModel

from longctx_eval.backends import BACKENDS, Backend
from longctx_eval.executors import Finished
from longctx_eval.lm import LanguageModel
from longctx_eval.manifest import now
from longctx_eval.plan import Cell, Plan
from longctx_eval.prompts import PromptFormat
from longctx_eval.records import CellRecord, Metrics, RopeFrequencies, Sample
from longctx_eval.rope.analysis import frequency_record
from longctx_eval.rope.base import RopeBase
from longctx_eval.rope.methods import RopeSetting, ScalingSpec
from longctx_eval.task import TASKS, CellContext, CellOutcome, Task


class Worker:
    def __init__(self, plan: Plan, backend: Backend | None = None) -> None:
        self.plan = plan
        self.backend = backend or BACKENDS.get(plan.config.backend.kind).create(plan.config.backend)
        self._model: int | None = None
        self._model_error: str | None = None
        self._prompts: PromptFormat | None = None
        self._group: Any = None
        self._group_error: str | None = None
        self._lm: LanguageModel | None = None
        self._model_caches: dict[int, dict[str, Any]] = defaultdict(dict)
        self._group_caches: dict[int, dict[str, Any]] = defaultdict(dict)
        self._rope: dict[Any, RopeFrequencies | None] = {}
        # Built once from the plan, not rescanned for every cell: (group, task) -> its lengths, and
        # group -> its cells (for the longest request a group makes).
        self._lengths: dict[tuple[Any, int], set[int]] = defaultdict(set)
        self._group_cells: dict[Any, list[Cell]] = defaultdict(list)
        for c in plan.cells:
            self._lengths[(c.group, c.task_index)].add(c.length)
            self._group_cells[c.group].append(c)
        self._longest: dict[Any, int] = {}
        self._others: dict[str, LanguageModel] = {}  # other models tasks asked for (ModelAccess.load)
        self.on_model_load: Any = None  # callback(model plan) before weights are read

    def run(self, cell: Cell) -> Finished:
        """Run one cell."""
        t0 = time.monotonic()
        reason = self.backend.unservable(cell.setting, cell.length, self._new_tokens(cell))
        if reason is not None:
            return self.finished(cell, "skipped", 0.0, error=reason)
        error = self._prepare(cell)
        if error is not None:
            return self.finished(cell, "failed", time.monotonic() - t0, error=error)
        assert self._lm is not None and self._prompts is not None
        ctx = CellContext(
            length=cell.length,
            seed=cell.seed,
            lm=self._lm,
            prompts=self._prompts,
            length_dependent=cell.setting.length_dependent,
            group_cache=self._group_caches[cell.task_index],
            group_lengths=self._group_lengths(cell),
            model_cache=self._model_caches[cell.task_index],
            original_context=cell.model.base.original_context,
        )

        def restored(lm: LanguageModel) -> None:
            self._lm = ctx.lm = lm

        ctx.models = BackendModels(
            self.backend,
            self.plan.config.backend,
            cell.model.base,
            cell.setting,
            self._group_tokens(cell),
            self._others,
            restored,
        )
        task = self.plan.tasks[cell.task_index]
        try:
            outcome = typed_outcome(task, task.run(ctx))  # a malformed payload fails its cell, not the store
        except Exception as exc:
            trace = traceback.format_exc(limit=8)
            return self.finished(cell, "failed", time.monotonic() - t0, error=short_error(exc), trace=trace)
        return self.finished(cell, outcome.status, time.monotonic() - t0, outcome=outcome)

    def _prepare(self, cell: Cell) -> str | None:
        """Load the cell's model and apply its rope setting if needed; an error message on failure."""
        model = cell.model
        if self._model != model.index:
            self._model, self._group, self._model_error = model.index, None, None
            self._model_caches.clear()
            if self.on_model_load is not None:
                self.on_model_load(model)
            try:
                loaded = self.backend.load(model.entry, model.path)
                self._prompts = PromptFormat(
                    loaded.tokenizer, chat_template=model.entry.chat_template == "auto"
                )
            except Exception as exc:
                self._model_error = f"loading model {model.entry.name} failed: {short_error(exc)}"
        if self._model_error is not None:
            return self._model_error
        if self._group != cell.group:
            self._group, self._group_error = cell.group, None
            self._group_caches.clear()
            try:
                self._lm = self.backend.apply(cell.setting, self._group_tokens(cell))
            except Exception as exc:
                self._group_error = f"applying {cell.spec.label()} failed: {short_error(exc)}"
        return self._group_error

    def _new_tokens(self, cell: Cell) -> int:
        """The generation budget of the cell's task (0 for tasks that only score)."""
        return self.plan.tasks[cell.task_index].new_tokens()

    def _group_lengths(self, cell: Cell) -> list[int]:
        """Lengths of the cell's task in its group, across the whole plan.

        The whole plan, not the cells still pending here: a one-pass perplexity then always runs
        at the same length, so a cell's numbers do not depend on the executor, the shard, the
        order or what a resumed run had already finished (slices of passes of other lengths
        differ in the last float bits).
        """
        return sorted(self._lengths[(cell.group, cell.task_index)])

    def _group_tokens(self, cell: Cell) -> int:
        """The longest servable request (prompt + generation) of the cell's group."""
        if cell.group not in self._longest:
            self._longest[cell.group] = max(
                (
                    c.length + self._new_tokens(c)
                    for c in self._group_cells[cell.group]
                    if self.backend.unservable(c.setting, c.length, self._new_tokens(c)) is None
                ),
                default=cell.length + self._new_tokens(cell),
            )
        return self._longest[cell.group]

    def close(self) -> None:
        self.backend.unload()

    def rope_of(self, cell: Cell) -> RopeFrequencies | None:
        """The frequencies the cell ran with (at its length for length-dependent methods; under the
        `served` policy at the engine's length, see backends/served.py)."""
        length = cell.length if cell.setting.length_dependent else 1
        policy = self.plan.config.backend.generation_policy(cell.setting)
        if cell.setting.length_dependent and policy == "served":
            from longctx_eval.backends.served import served_length

            length = served_length(cell.setting)
        key = (cell.group, length)
        if key not in self._rope:
            s = cell.setting
            try:
                self._rope[key] = RopeFrequencies.model_validate(
                    frequency_record(
                        cell.model.config,
                        cell.model.base,
                        s.rope_parameters,
                        s.max_position_embeddings,
                        length,
                    )
                )
            except Exception as exc:  # a picture for the report must never cost a result
                self._rope[key] = None
                warnings.warn(
                    f"{cell.spec.label()}: the frequencies to record for the report could not be "
                    f"computed ({type(exc).__name__}: {exc}); its cells are recorded without them",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self._rope[key]

    def finished(
        self,
        cell: Cell,
        status: str,
        duration: float,
        outcome: CellOutcome | None = None,
        error: str | None = None,
        trace: str | None = None,
    ) -> Finished:
        rope = self.rope_of(cell)
        length_dependent = cell.setting.length_dependent
        policy = self.plan.config.backend.generation_policy(cell.setting) if length_dependent else None
        record = make_record(cell, self.backend.describe(), status, duration, outcome, error, rope, policy)
        if trace is not None:
            record = record.model_copy(update={"traceback": trace})
        # typed_outcome made every sample an instance of the task's Sample class
        samples = cast(list[Sample], outcome.samples) if outcome else None
        return Finished(record, samples, rope)


class BackendModels:
    """`ModelAccess` on one backend: the loaded model under its own rope, or another model (on a
    backend of the same kind, loaded once and kept in `others`)."""

    def __init__(
        self,
        backend: Backend,
        config: Any,
        base: RopeBase,
        setting: RopeSetting,
        max_tokens: int,
        others: dict[str, LanguageModel] | None = None,
        restored: Callable[[LanguageModel], None] | None = None,
    ) -> None:
        self.backend, self.config, self.base, self.setting = backend, config, base, setting
        self.max_tokens = max_tokens
        self.others = {} if others is None else others
        self.restored = restored

    @contextmanager
    def native(self) -> Iterator[LanguageModel]:
        own = ScalingSpec("none").resolve(self.base)
        try:
            yield self.backend.apply(own, self.max_tokens)
        finally:
            # The cell's setting back in place; a backend may have replaced the object serving it.
            lm = self.backend.apply(self.setting, self.max_tokens)
            if self.restored is not None:
                self.restored(lm)

    def load(self, path: str) -> LanguageModel:
        if path not in self.others:
            from longctx_eval.config import ModelEntry
            from longctx_eval.models import resolve_model
            from longctx_eval.rope.base import read_rope_base

            backend = BACKENDS.get(self.config.kind).create(self.config)
            found = resolve_model(path, tokenizer=False)
            backend.load(ModelEntry(name="other", path=path), found.path)
            own = ScalingSpec("none").resolve(read_rope_base(found.config))
            self.others[path] = backend.apply(own, self.max_tokens)
        return self.others[path]


def typed_outcome(task: type[Task] | Task, outcome: CellOutcome) -> CellOutcome:
    """The outcome with its metrics and samples as instances of the task's own classes: a plugin's
    dicts (or another class's instances) are validated into them, so the store writes, and
    reporting reads, one declared shape per task."""

    def typed(value: Any, cls: type[BaseModel]) -> Any:
        if isinstance(value, cls):
            return value
        if isinstance(value, BaseModel):
            value = value.model_dump()
        return cls.model_validate(value)

    # A skipped cell measured nothing: its (empty) metrics stay the base class, so a task whose
    # Metrics class has required fields can still skip.
    metrics_class = task.Metrics if outcome.status == "ok" else Metrics
    return replace(
        outcome,
        metrics=typed(outcome.metrics, metrics_class),
        samples=[typed(s, task.Sample) for s in outcome.samples],
    )


def shared_record(cell: Cell, computed: CellRecord) -> CellRecord:
    """The record of `cell` when `computed` (a cell with exactly the same computation, see
    `Cell.same_as`) holds its result: its own coordinates, the other's numbers, and `computed_as`."""
    own = make_record(cell, computed.backend, computed.status, 0.0, error=computed.error)
    return own.model_copy(
        update={
            "metrics": computed.metrics,
            "n_samples": computed.n_samples,
            "rope_key": computed.rope_key,
            "generation_policy": computed.generation_policy if cell.setting.length_dependent else None,
            "computed_as": computed.cell_id,
        }
    )


def short_error(exc: BaseException) -> str:
    """One line: the exception's `reason` (e.g. 'oom') or its type, and the first line of its message."""
    text = str(exc).strip().splitlines()
    kind = getattr(exc, "reason", None) or type(exc).__name__
    return f"{kind}: {text[0] if text else ''}".rstrip(": ")


def make_record(
    cell: Cell,
    backend: dict[str, Any],
    status: str,
    duration: float,
    outcome: CellOutcome | None = None,
    error: str | None = None,
    rope: RopeFrequencies | None = None,
    generation_policy: str | None = None,
) -> CellRecord:
    from longctx_eval.protocols import of_task

    spec = cell.spec
    params = cell.task.params.model_dump(mode="json")
    comparable = of_task(cell.task.task, cell.task.label, params)
    return CellRecord.model_validate(
        {
            "protocol": comparable.protocol,
            "deviations": comparable.deviations,
            "cell_id": cell.cell_id,
            "model": cell.model.entry.name,
            "model_path": cell.model.entry.path,
            "model_fingerprint": cell.model.fingerprint,
            "method": spec.method,
            "method_label": spec.label(),
            "factor": spec.factor,
            "factor_mode": "auto" if spec.auto else ("none" if not spec.definition.takes_factor else "fixed"),
            "rope_parameters": cell.setting.rope_parameters,
            "original_context": cell.model.base.original_context,
            "task": cell.task.label,
            "task_name": cell.task.task,
            "task_version": TASKS.get(cell.task.task).version,
            "task_params": cell.task.params.model_dump(mode="json"),
            "task_group": cell.task.group,
            "task_weight": cell.task.weight,
            "length": cell.length,
            "seed": cell.seed,
            "sample_batch": cell.batch,
            "status": status,
            "metrics": outcome.metrics if outcome else {},
            "n_samples": len(outcome.samples) if outcome else 0,
            "error": error if error is not None else (outcome.reason if outcome else None),
            "duration_s": round(duration, 3),
            "backend": backend,
            "rope_key": rope.key() if rope is not None else None,
            "generation_policy": generation_policy,
            "finished_at": now(),
            "host": socket.gethostname(),
        }
    )
