"""Executors: who runs a sweep's cells — this process (`local`) or actors on a Ray cluster (`ray`).

Both drive `Worker`s through a `Session` and yield each finished cell (`Finished`); the runner is
the only writer of the results directory, so every executor writes the same store the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
)

from longctx_eval.records import CellRecord, RopeFrequencies
from longctx_eval.registry import Registry, import_object

if TYPE_CHECKING:
    from longctx_eval.backends import Backend
    from longctx_eval.plan import Cell, Plan
    from longctx_eval.progress import Progress


@dataclass(frozen=True)
class Finished:
    """A computed cell as an executor hands it to the runner, the only writer of the store."""

    record: CellRecord
    samples: list[dict[str, Any]] | None = None
    rope: RopeFrequencies | None = None  # the group's frequencies (stored once, under record.rope_key)


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


@dataclass(frozen=True)
class ExecutorInfo:
    name: str
    config_model: type[ExecutorConfig]
    session: str  # "module:Class" of its Session, imported when a sweep runs on it
    summary: str

    def load(self) -> OpenSession:
        cls: OpenSession = import_object(self.session)
        return cls


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
