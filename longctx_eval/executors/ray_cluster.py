"""The Ray executor: (model, method@factor) groups scheduled on actors, each a `Worker`.

An actor holds a loaded model between cells, so a group costs one rotary swap and, while it keeps
getting groups of the same model, no reload; the session keeps its actors between calls (a length
search's rounds). The driver hands out one cell at a time and writes
each result as it returns (it is the only writer of the results directory), so a worker that dies
costs only its cell in flight: the rest of its group is retried on a fresh actor, at most
`max_retries` times, after which the remaining cells are recorded as failed with the reason.

Actors rebuild the plan from the sweep's YAML (as parsed, with its task plugins), which gives the
same cells and ids as the driver's: ids hash only what the YAML and the model files say.
"""

from __future__ import annotations

import os
import warnings
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from longctx_eval.backends import Backend
from longctx_eval.executors import Finished, RayConfig
from longctx_eval.executors.session import Claim, always
from longctx_eval.plan import Cell, Plan
from longctx_eval.progress import Progress
from longctx_eval.worker import make_record


class RayWorker:
    """Runs inside a Ray actor process."""

    def __init__(self, raw_config: dict[str, Any], source_dir: str, threads: int) -> None:
        import torch

        from longctx_eval.config import parse_sweep
        from longctx_eval.plan import make_plan
        from longctx_eval.worker import Worker

        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        torch.set_num_threads(threads)
        self.plan = make_plan(parse_sweep(raw_config, source_dir))
        search = self.plan.search.all_cells() if self.plan.search is not None else []
        self.cells = {c.cell_id: c for c in [*self.plan.cells, *search]}
        self.worker = Worker(self.plan)

    def run(self, cell_id: str) -> Finished:
        from longctx_eval.quiet import quiet_libraries

        with quiet_libraries():  # as in the driver: an actor's warnings reach the user's terminal
            return self.worker.run(self.cells[cell_id]).portable()


@dataclass
class _Slot:
    actor: Any
    cells: list[Cell]
    pos: int = 0
    retries: int = 0


class RaySession:
    """Actors on a Ray cluster, kept between calls to `run` (a length search asks for cells round
    after round: its actors keep their loaded models)."""

    def __init__(
        self, plan: Plan, config: RayConfig, progress: Progress, backend: Backend | None = None
    ) -> None:
        self.plan, self.config, self.progress = plan, config, progress
        self.idle: list[Any] = []  # actors that finished their groups, models still loaded
        self.ray: Any = None
        self.started = False
        self.actor_cls: Any = None

    def _init(self) -> Any:
        if self.ray is None:
            try:
                import ray
            except ImportError:
                raise RuntimeError("the ray executor needs Ray: pip install -e '.[ray]'") from None
            self.started = not ray.is_initialized()
            if self.started:
                ray.init(address=self.config.address, include_dashboard=False, log_to_driver=False)
            c = self.config
            self.actor_cls = ray.remote(RayWorker).options(
                num_cpus=c.cpus_per_worker, num_gpus=c.gpus_per_worker, max_restarts=0, max_task_retries=0
            )
            self.ray = ray
        return self.ray

    def _new_actor(self) -> Any:
        if self.idle:
            return self.idle.pop()
        threads = max(1, int(self.config.cpus_per_worker))
        return self.actor_cls.remote(self.plan.config.raw, self.plan.config.source_dir, threads)

    def run(self, cells: Sequence[Cell], claim: Claim = always) -> Iterator[Finished]:
        ray = self._init()
        from ray.exceptions import RayActorError, RayTaskError

        config, plan = self.config, self.plan
        groups: deque[list[Cell]] = deque()
        by_group: dict[Any, list[Cell]] = {}
        for c in cells:
            by_group.setdefault(c.group, []).append(c)
        groups.extend(by_group.values())
        n_workers = config.num_workers or max(1, min(len(groups), _capacity(ray, config)))
        self.progress.note(f"ray: {n_workers} workers for {len(groups)} groups")
        inflight: dict[Any, _Slot] = {}

        def submit(slot: _Slot) -> bool:
            """Send the slot's next cell that this run may claim, moving to a new group if needed."""
            while True:
                while slot.pos < len(slot.cells) and not claim(slot.cells[slot.pos]):
                    slot.pos += 1
                if slot.pos < len(slot.cells):
                    inflight[slot.actor.run.remote(slot.cells[slot.pos].cell_id)] = slot
                    return True
                if not next_group(slot):
                    return False

        def next_group(slot: _Slot) -> bool:
            if not groups:
                return False
            slot.cells, slot.pos, slot.retries = groups.popleft(), 0, 0
            return True

        for _ in range(min(n_workers, len(groups))):
            slot = _Slot(self._new_actor(), groups.popleft())
            if not submit(slot):
                self.idle.append(slot.actor)
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1)
            slot = inflight.pop(ready[0])
            try:
                finished: Finished = ray.get(ready[0])
            except RayActorError as exc:
                slot.retries += 1
                reason = f"worker died ({type(exc).__name__})"
                if slot.retries > config.max_retries:
                    for cell in slot.cells[slot.pos :]:
                        yield _failed(cell, plan, f"{reason} {slot.retries} times; gave up on this group")
                    if not next_group(slot):
                        continue
                self.progress.note(f"ray: {reason}; restarting it (retry {slot.retries} of this group)")
                slot.actor = self.actor_cls.remote(
                    plan.config.raw, plan.config.source_dir, max(1, int(config.cpus_per_worker))
                )
                if not submit(slot):
                    self.idle.append(slot.actor)
                continue
            except RayTaskError as exc:  # not raised by the task itself (the Worker catches those)
                finished = _failed(slot.cells[slot.pos], plan, f"ray task error: {exc}".splitlines()[0])
            yield finished
            slot.pos += 1
            if not submit(slot):
                self.idle.append(slot.actor)

    def close(self) -> None:
        if self.ray is None:
            return
        for actor in self.idle:
            try:
                self.ray.kill(actor)
            except Exception as exc:
                # The others are still killed; a survivor keeps its model in memory, so say which.
                warnings.warn(f"could not stop Ray actor {actor}: {type(exc).__name__}: {exc}", stacklevel=2)
        self.idle = []
        if self.started:
            self.ray.shutdown()


def _capacity(ray: Any, config: RayConfig) -> int:
    resources = ray.cluster_resources()
    by_cpu = int(resources.get("CPU", 1) // config.cpus_per_worker)
    if config.gpus_per_worker > 0:
        return max(1, min(by_cpu, int(resources.get("GPU", 0) // config.gpus_per_worker)))
    return max(1, by_cpu)


def _failed(cell: Cell, plan: Plan, error: str) -> Finished:
    return Finished(make_record(cell, {"kind": plan.config.backend.kind}, "failed", 0.0, error=error))
