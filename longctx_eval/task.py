"""The task plugin interface, its registry, and how plugins are found.

A task builds its samples at an exact token length, asks the model through `LanguageModel`
(never knowing which backend serves it), scores, and aggregates into metrics. Built-in tasks are
plugins like any user's: they live in the top-level `tasks/` directory (installed as the package
`longctx_eval_tasks`) and are found through the entry-point group `longctx_eval.tasks`. A user adds
tasks either with an entry point in their own package or by pointing `tasks_path:` in the sweep
YAML (or the LONGCTX_EVAL_TASKS_PATH environment variable) at .py files or directories of them.

A plugin module registers its task with the `@task` decorator:

    @task
    class MyTask:
        name = "my_task"; version = "1"; Params = MyParams
        def __init__(self, params, env): ...
        def min_length(self, prompts): ...
        def run(self, ctx): ...
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from longctx_eval.records import Metrics, Sample
from longctx_eval.registry import Registry, import_plugin_file, plugin_files

if TYPE_CHECKING:
    from longctx_eval.lm import LanguageModel
    from longctx_eval.prompts import PromptFormat

ENTRY_POINT_GROUP = "longctx_eval.tasks"
TASKS_PATH_ENV = "LONGCTX_EVAL_TASKS_PATH"


class TaskParams(BaseModel):
    """A task's settings in the sweep YAML (given next to `task:`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


_DATA_FILE = "longctx_eval_data_file"


def data_file_field(default: Any = ..., **kwargs: Any) -> Any:
    """A setting that names a data file or dataset (a local path or a hub id). When it names a local
    file or directory, its content is hashed into the cell ids, so a file rewritten at the same path
    gives new cells instead of stale numbers."""
    return Field(default, json_schema_extra={_DATA_FILE: True}, **kwargs)


def data_file_settings(params: TaskParams) -> dict[str, Any]:
    """The values of a task's `data_file_field` settings."""
    out = {}
    for name, info in type(params).model_fields.items():
        extra = info.json_schema_extra
        if isinstance(extra, dict) and extra.get(_DATA_FILE):
            out[name] = getattr(params, name)
    return out


class TaskParamError(ValueError):
    """A task parameter that is well-formed but unusable (a missing file, say); names the field."""

    def __init__(self, field_name: str, message: str) -> None:
        self.field_name = field_name
        super().__init__(message)


@dataclass(frozen=True)
class TaskEnv:
    """What a task may use when it is set up: how relative paths in the YAML are resolved."""

    resolve_path: Callable[[str], Path]


@dataclass
class CellContext:
    """Everything a task needs to run one cell (one model × method@factor × length)."""

    length: int
    seed: int
    lm: LanguageModel
    prompts: PromptFormat
    length_dependent: bool  # True when the method picks frequencies from the sequence length
    # Shared by the cells of one task entry in one (model, method@factor) group, e.g. so that
    # perplexity can score several truncation lengths from one forward pass.
    group_cache: dict[str, Any] = field(default_factory=dict)
    group_lengths: Sequence[int] = ()  # lengths of this task in the cell's group, whole plan
    # Shared by the cells of one task entry on one model, across methods (tokenized data, say).
    model_cache: dict[str, Any] = field(default_factory=dict)
    original_context: int = 0  # the model's trained context L
    models: ModelAccess | None = None  # other views of the model (its own rope, another model)


class ModelAccess(Protocol):
    """What a task may ask for besides the cell's model, whichever backend serves it."""

    def native(self) -> AbstractContextManager[LanguageModel]:
        """The cell's model under its own, unscaled rope (`none`), for the duration of a `with`
        block; the cell's setting is back in place after it. With the HF backend this swaps the
        rotary module only; a task must not use `ctx.lm` inside the block."""
        ...

    def load(self, path: str) -> LanguageModel:
        """Another model (a local directory or hub id) under its own rope, on a backend of the
        same kind; loaded once per run and kept (it costs its memory for the rest of the run)."""
        ...


@dataclass
class CellOutcome:
    """What one cell measured: its metrics and samples as instances of the task's own `Metrics`
    and `Sample` classes. A plugin may still return plain dicts; the worker validates them into
    the task's classes before anything is written, so the store only ever sees typed payloads."""

    metrics: Metrics | dict[str, Any] = field(default_factory=Metrics)
    samples: Sequence[Sample | dict[str, Any]] = ()
    status: Literal["ok", "skipped"] = "ok"
    reason: str | None = None

    @classmethod
    def skipped(cls, reason: str) -> CellOutcome:
        """A cell the task cannot run at this length or setting (recorded with its reason)."""
        return cls(status="skipped", reason=reason)


class Task(Protocol):
    name: ClassVar[str]
    version: ClassVar[str]
    Params: ClassVar[type[TaskParams]]
    # What its cells' headline number is: 'accuracy' (`@task`'s default), 'ppl', or 'none' (the
    # analysis). The length search and the leaderboard need an accuracy or a perplexity.
    metric: ClassVar[str]
    # The shape of one sample and of the cell's metrics (validated before a cell is written, and
    # used to read them back); `@task` fills in the generic `records.Sample` / `records.Metrics`
    # when a plugin declares none.
    Sample: ClassVar[type[Sample]]
    Metrics: ClassVar[type[Metrics]]

    def __init__(self, params: Any, env: TaskEnv) -> None: ...

    def min_length(self, prompts: PromptFormat) -> int:
        """The shortest length this task can build a prompt at (its fixed text, template included)."""
        ...

    def new_tokens(self) -> int:
        """Tokens generated after a `length`-token prompt (0 for tasks that only score); a backend
        that cannot serve length + this is asked beforehand. `@task` supplies 0 when undefined."""
        ...

    def length_problems(self, prompts: PromptFormat, longest: int) -> list[str]:
        """What the task can tell up front is wrong at the sweep's longest length (a dataset with
        no document that long, say): config errors before anything runs. `@task` supplies none."""
        ...

    def run(self, ctx: CellContext) -> CellOutcome: ...


TASKS: Registry[type[Task]] = Registry("task")


@dataclass(frozen=True)
class GroupMember:
    """One task entry a task group expands into."""

    label: str  # the entry's label: its name in tables (prefixed by the group entry's own label if set)
    task: str  # a registered task name
    params: dict[str, Any]  # that task's settings, as they would be written in the YAML
    weight: float = 1.0  # its weight in the group's average


class TaskGroup(Protocol):
    """A name in `tasks:` that stands for several task entries (RULER's suite, say).

    The report adds one more row per group: the weighted average of its members' accuracy at each
    length (a length counts only when every member has a result there).
    """

    name: ClassVar[str]
    Params: ClassVar[type[TaskParams]]

    @staticmethod
    def expand(params: Any) -> list[GroupMember]: ...


TASK_GROUPS: Registry[type[TaskGroup]] = Registry("task group")


def task(cls: type[Any]) -> type[Any]:
    """Class decorator: register a task plugin under its `name`."""
    for attr in ("name", "version", "Params"):
        if not hasattr(cls, attr):
            raise TypeError(f"task class {cls.__name__} has no {attr!r} attribute")
    if cls.name in TASK_GROUPS.names():
        raise ValueError(f"task {cls.name!r}: a task group already has that name")
    if not hasattr(cls, "Sample"):
        cls.Sample = Sample
    if not hasattr(cls, "Metrics"):
        cls.Metrics = Metrics
    for attr, base in (("Sample", Sample), ("Metrics", Metrics)):
        declared = getattr(cls, attr)
        if not (isinstance(declared, type) and issubclass(declared, base)):
            raise TypeError(f"task class {cls.__name__}: {attr} must subclass longctx_eval.records.{attr}")
    if not hasattr(cls, "metric"):
        cls.metric = "accuracy"
    if not hasattr(cls, "new_tokens"):
        cls.new_tokens = _no_new_tokens
    if not hasattr(cls, "length_problems"):
        cls.length_problems = _no_length_problems
    existing = TASKS.get(cls.name) if cls.name in TASKS.names() else None
    if existing is not None and existing is not cls:
        raise ValueError(
            f"task {cls.name!r} is already registered (by {_origin(existing)}); this one is in {_origin(cls)}"
        )
    TASKS.add(cls.name, cls)
    return cls


def _origin(cls: type[Any]) -> str:
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    return f"{cls.__module__} ({path})" if path else cls.__module__


def _no_new_tokens(self: Any) -> int:
    return 0


def _no_length_problems(self: Any, prompts: Any, longest: int) -> list[str]:
    return []


def task_group(cls: type[Any]) -> type[Any]:
    """Class decorator: register a task group (a name that expands into several task entries)."""
    for attr in ("name", "Params", "expand"):
        if not hasattr(cls, attr):
            raise TypeError(f"task group class {cls.__name__} has no {attr!r} attribute")
    if cls.name in TASKS.names():
        raise ValueError(f"task group {cls.name!r}: a task already has that name")
    TASK_GROUPS.add(cls.name, cls)
    return cls


_loaded_entry_points = False


def load_task_plugins(paths: Sequence[str | Path] = ()) -> None:
    """Register the tasks of every installed plugin, then those found under `paths`."""
    global _loaded_entry_points
    if not _loaded_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()
            except Exception as exc:  # a broken third-party plugin must not stop the others
                warnings.warn(f"task plugin {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)
        _loaded_entry_points = True
    env_paths = [p for p in os.environ.get(TASKS_PATH_ENV, "").split(os.pathsep) if p]
    for path in [*env_paths, *paths]:
        for file in plugin_files(Path(path), "tasks path"):
            import_plugin_file(file, "task plugin")
