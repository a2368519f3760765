"""Executors: who runs a sweep's cells — this process (`local`) or actors on a Ray cluster (`ray`).

Both drive `Worker`s through a `Session` (`executors.session`) and yield each finished cell
(`Finished`); the runner is the only writer of the results directory, so every executor writes the
same store the same way. This module holds only their settings and the registry, so that the config
module can parse `executor:` without importing the plan and the workers above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)

from longctx_eval.records import CellRecord, Metrics, RopeFrequencies, Sample
from longctx_eval.registry import Registry


@dataclass(frozen=True)
class Finished:
    """A computed cell as an executor hands it to the runner, the only writer of the store."""

    record: CellRecord
    samples: Sequence[Sample] | None = None  # the task's own Sample instances
    rope: RopeFrequencies | None = None  # the group's frequencies (stored once, under record.rope_key)

    def portable(self) -> Finished:
        """The same cell with its metrics and samples as the base classes (every field kept): what
        crosses to another process. A plugin's own classes are pickled by module name, and a
        plugin loaded from a file may not import under that name on the driver's side."""
        metrics = Metrics.model_validate(self.record.metrics.model_dump())
        samples = [Sample.model_validate(s.model_dump()) for s in self.samples or ()]
        return Finished(
            self.record.model_copy(update={"metrics": metrics}),
            samples if self.samples is not None else None,
            self.rope,
        )


class ExecutorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: str


class LocalConfig(ExecutorConfig):
    kind: Literal["local"] = "local"


class RayConfig(ExecutorConfig):
    kind: Literal["ray"] = "ray"
    address: str | None = Field(
        None, description="Ray cluster to join ('auto', 'ray://host:10001'); default: start a local one"
    )
    num_workers: PositiveInt | None = Field(
        None, description="actors, each loading models itself (default: as many as the resources allow)"
    )
    cpus_per_worker: PositiveFloat = Field(1.0, description="CPUs each actor reserves")
    gpus_per_worker: NonNegativeFloat = Field(0.0, description="GPUs each actor reserves (0 on CPU machines)")
    max_retries: NonNegativeInt = Field(
        2, description="times a group is restarted on a new actor after its worker died; then its cells fail"
    )


@dataclass(frozen=True)
class ExecutorInfo:
    name: str
    config_model: type[ExecutorConfig]
    session: str  # "module:Class" of its Session, imported when a sweep runs on it
    summary: str


EXECUTORS: Registry[ExecutorInfo] = Registry("executor")
EXECUTORS.add(
    "local", ExecutorInfo("local", LocalConfig, "longctx_eval.executors.local:LocalSession", "this process")
)
EXECUTORS.add(
    "ray",
    ExecutorInfo(
        "ray",
        RayConfig,
        "longctx_eval.executors.ray_cluster:RaySession",
        "actors on a Ray cluster (local or remote)",
    ),
)
