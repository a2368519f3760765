"""The sweep YAML: parsed into typed, strict models; every problem reported with its field path.

Validation here needs nothing heavy (no torch, no model): names against the registries, each
method's and task's own settings against its pydantic model, numbers against their bounds. What
needs a model's config or tokenizer (paths, lengths versus a task's fixed text) is checked by
`plan.make_plan`, with the same error type, before anything is written.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    PrivateAttr,
    SerializeAsAny,
    ValidationError,
)

from longctx_eval.backends import BACKENDS, BackendConfig
from longctx_eval.errors import ConfigError as ConfigError  # re-exported: the sweep config raises it
from longctx_eval.executors import EXECUTORS, ExecutorConfig
from longctx_eval.headline_spec import HeadlineSpec
from longctx_eval.registry import UnknownNameError
from longctx_eval.rope.methods import METHODS, MethodParams, split_method
from longctx_eval.rope.plugins import load_method_plugins
from longctx_eval.task import TASK_GROUPS, TASKS, TaskParams, load_task_plugins

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
# Names become file names, LaTeX, CSV and Markdown: letters, digits, `_ . -`, and not too long.
NAME_MAX = 64
# Far beyond any model's context today; a typo such as 10**12 is refused instead of starting a
# run that would take one attention call hours to finish.
MAX_LENGTH = 2**24
Length = Annotated[int, Field(gt=0, le=MAX_LENGTH)]
MAX_FACTOR = 65536.0  # a 4k model to 256M tokens; beyond, frequencies underflow (ntk at 1e300: inf)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelEntry(StrictModel):
    name: str = Field(
        pattern=NAME_PATTERN, max_length=NAME_MAX, description="short name used in results and tables"
    )
    path: str = Field(description="local model directory, or a hub model id")
    revision: str | None = Field(None, description="hub revision (branch, tag or commit)")
    original_context: PositiveInt | None = Field(
        None, description="trained context L (default: read from the model config)"
    )
    chat_template: Literal["none", "auto"] = Field(
        "none", description="'auto' wraps prompts in the tokenizer's chat template (instruct models)"
    )
    trust_remote_code: bool = Field(False, description="allow model code shipped with the model")


class MethodChoice(StrictModel):
    """One `methods:` entry: a method, its factors, and its own settings."""

    method: str
    factors: tuple[float, ...] | Literal["auto"] | None = None
    factors_file: str | None = None
    params: SerializeAsAny[MethodParams]


class TaskChoice(StrictModel):
    """One `tasks:` entry: a task plugin, the label its results carry, and its own settings."""

    task: str
    label: str
    params: SerializeAsAny[TaskParams]
    group: str | None = None  # the label of the task group entry it came from (e.g. 'ruler')
    weight: float = 1.0  # its weight in that group's average


class LengthSearch(StrictModel):
    """`lengths: {search: {...}}`: find each method's breaking length instead of running a grid.

    The candidate lengths form a geometric grid from `from` to `to`, each `resolution` × longer
    than the last (0.1: 10% apart). Per model × method@factor × accuracy task the search tests
    both ends, then bisects between the longest length that passed and the shortest that failed.
    At a length it runs the task's `samples` once (a batch) and adds batches, up to `max_batches`,
    only while the 95% interval of the pooled accuracy straddles `threshold`; then the point
    estimate decides. Every batch is an ordinary cell, so resume, shards and Ray keep working. The
    bisection assumes accuracy falls once with length: a curve that recovers further out is not
    seen (the fixed grid would see it).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: Length = Field(alias="from", description="shortest length tried")
    to: Length = Field(description="longest length tried")
    resolution: float = Field(0.1, gt=0, le=1, description="relative step of the length grid")
    threshold: float = Field(0.9, gt=0, le=1, description="accuracy at or above which a length passes")
    max_batches: int = Field(4, ge=1, le=64, description="batches of `samples` at most per length")

    def grid(self) -> tuple[int, ...]:
        """The candidate lengths: from·(1 + resolution)^i, rounded, up to `to` (included)."""
        out = [self.start]
        while True:
            nxt = max(out[-1] + 1, round(self.start * (1 + self.resolution) ** len(out)))
            if nxt >= self.to:
                break
            out.append(nxt)
        if self.to > out[-1]:
            out.append(self.to)
        return tuple(out)


class _SearchEntry(StrictModel):
    search: LengthSearch


class SweepConfig(StrictModel):
    name: str = Field(
        pattern=NAME_PATTERN, max_length=NAME_MAX, description="results go to results/<name>/ unless --output"
    )
    description: str | None = Field(None, description="free text, kept in the manifest")
    seed: int = Field(0, description="seeds every task's samples (the same across models and methods)")
    backend: SerializeAsAny[BackendConfig]
    executor: SerializeAsAny[ExecutorConfig]
    models: tuple[ModelEntry, ...] = Field(min_length=1)
    methods: tuple[MethodChoice, ...] = Field(min_length=1)
    lengths: tuple[Length, ...] = Field(
        min_length=1, description="context lengths in tokens (with a length search: its grid)"
    )
    length_search: LengthSearch | None = Field(None, description="set by `lengths: {search: ...}`")
    tasks: tuple[TaskChoice, ...] = Field(min_length=1)
    tasks_path: tuple[str, ...] = Field((), description="extra task plugin files or directories")
    headline: HeadlineSpec | None = Field(
        None,
        description="what the report's headline answers (tasks, weights, rule; docs/headline.md); "
        "default: how far retrieval reaches",
    )
    methods_path: tuple[str, ...] = Field(
        (), description="extra method plugin files or directories (see docs/method-plugins.md)"
    )
    source_dir: str = Field(
        ".", description="directory of the YAML file; relative paths are looked up here too"
    )
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def raw(self) -> dict[str, Any]:
        """The YAML as read (Ray workers rebuild the plan from it, plugins and all)."""
        return self._raw

    def resolve_path(self, value: str) -> Path:
        """A relative path is taken from the working directory, else from the YAML's directory."""
        return _beside(value, self.source_dir)


class SweepHead(StrictModel):
    """The YAML as written, before the registry-backed parts are validated. Its field descriptions
    are the top level of the docs' config reference."""

    name: str = Field(
        pattern=NAME_PATTERN,
        max_length=NAME_MAX,
        description="sweep name (letters, digits, `_ . -`); results go to results/<name>/ unless --output",
    )
    description: str | None = Field(None, description="free text, kept in the manifest")
    seed: int = Field(
        0,
        description="seeds every task's samples; samples depend on (seed, task label, length) only, so "
        "methods and models are compared on the same samples",
    )
    backend: dict[str, Any] = Field(
        default_factory=lambda: {"kind": "hf"},
        description="what runs the model: {kind: hf | vllm, ...} (see `backend` below)",
    )
    executor: dict[str, Any] = Field(
        default_factory=lambda: {"kind": "local"},
        description="who runs the cells: this process, or Ray actors (see `executor` below)",
    )
    models: list[ModelEntry] = Field(min_length=1, description="the models (see `models[]`)")
    methods: list[Any] = Field(
        min_length=1, description="the methods, each with its factors and settings (see `methods[]`)"
    )
    lengths: Any = Field(
        description="context lengths in tokens (every retrieval prompt is exactly this long), or "
        "{search: {from, to, ...}} to find each method's breaking length"
    )
    tasks: list[Any] = Field(min_length=1, description="the tasks and their settings (see `tasks[]`)")
    tasks_path: list[str] = Field(
        default_factory=list,
        description="extra task plugin files or directories (also LONGCTX_EVAL_TASKS_PATH)",
    )
    headline: HeadlineSpec | None = Field(
        None,
        description="which tasks the report's headline aggregates, their weights and its rule "
        "(default: the retrieval tasks, equally weighted; see `headline`)",
    )
    methods_path: list[str] = Field(
        default_factory=list,
        description="extra method plugin files or directories (also LONGCTX_EVAL_METHODS_PATH; "
        "docs/method-plugins.md)",
    )


class _LengthList(StrictModel):
    lengths: list[Length] = Field(min_length=1)


def _parse_lengths(
    raw: Any, problems: list[tuple[str, str]]
) -> tuple[tuple[int, ...], LengthSearch | None] | None:
    """A list of lengths, or a length search and its grid (errors named `lengths.…`)."""
    if isinstance(raw, dict):
        entry = _validate(_SearchEntry, raw, "lengths", problems)
        if entry is None:
            return None
        if entry.search.to <= entry.search.start:
            problems.append(("lengths.search.to", "`to` must be longer than `from`"))
            return None
        return entry.search.grid(), entry.search
    if isinstance(raw, list) and not raw:
        problems.append(("lengths", "give at least one length, or {search: {from: ..., to: ...}}"))
        return None
    parsed = _validate(_LengthList, {"lengths": raw}, "", problems)
    if parsed is None:
        return None
    _check_unique([str(n) for n in parsed.lengths], "lengths", "length", problems)
    return tuple(parsed.lengths), None


class DuplicateKeyError(ValueError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error: PyYAML keeps
    the last one silently, and a repeated `lengths:` once started a run nobody asked for."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(f"key {key!r} is given twice (lines {seen[key]} and {line})")
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def load_sweep(path: str | Path) -> SweepConfig:
    """Read and validate a sweep YAML file (raises ConfigError)."""
    return parse_sweep(read_sweep_file(path), source_dir=Path(path).parent)


def read_sweep_file(path: str | Path) -> Any:
    """A sweep YAML file as read, not yet validated (raises ConfigError if unreadable)."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError([("", f"{path}: no such file")]) from None
    except OSError as exc:
        raise ConfigError([("", f"{path}: cannot read ({exc.strerror})")]) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)
    except DuplicateKeyError as exc:
        raise ConfigError([("", f"{path}: {exc}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError([("", f"{path}: YAML syntax error{where}: {problem}")]) from None
    return raw


def parse_sweep(raw: Any, source_dir: str | Path = ".") -> SweepConfig:
    """Validate a sweep given as the YAML's mapping; every problem is reported in one round."""
    if not isinstance(raw, dict):
        raise ConfigError([("", "the sweep file must be a mapping (name:, models:, methods:, …)")])
    problems: list[tuple[str, str]] = []
    head = _validate(SweepHead, raw, "", problems)
    # The registry-backed sections are checked even when the top level has problems, from the raw
    # YAML where it has the right shape, so that one round of errors shows them all.
    tasks_path = head.tasks_path if head else _raw_list(raw, "tasks_path", [])
    try:
        load_task_plugins([_beside(str(p), source_dir) for p in tasks_path])
    except (FileNotFoundError, ImportError, SyntaxError, ValueError) as exc:
        problems.append(("tasks_path", str(exc)))
    methods_path = head.methods_path if head else _raw_list(raw, "methods_path", [])
    try:
        load_method_plugins([_beside(str(p), source_dir) for p in methods_path])
    except (FileNotFoundError, ImportError, SyntaxError, ValueError) as exc:
        problems.append(("methods_path", str(exc)))
    backend_raw = head.backend if head else _raw_dict(raw, "backend", {"kind": "hf"})
    executor_raw = head.executor if head else _raw_dict(raw, "executor", {"kind": "local"})
    backend = _parse_backend(backend_raw, problems) if backend_raw is not None else None
    executor = (
        _parse_kind(EXECUTORS, executor_raw, "executor", "local", problems)
        if executor_raw is not None
        else None
    )
    method_entries = head.methods if head else _raw_list(raw, "methods", [])
    task_entries = head.tasks if head else _raw_list(raw, "tasks", [])
    methods = [m for i, e in enumerate(method_entries) if (m := _parse_method(e, f"methods.{i}", problems))]
    tasks = [t for i, e in enumerate(task_entries) for t in _parse_task(e, f"tasks.{i}", problems)]
    _check_unique([t.label for t in tasks], "tasks", "label", problems)
    lengths = _parse_lengths(head.lengths if head is not None else raw.get("lengths"), problems)
    if head is not None:
        _check_unique([m.name for m in head.models], "models", "name", problems)
        if head.headline is not None and head.headline.tasks is not None:
            known = list(dict.fromkeys([t.label for t in tasks] + [t.group for t in tasks if t.group]))
            for i, name in enumerate(head.headline.tasks):
                if name not in known:
                    problems.append(
                        (f"headline.tasks.{i}", f"unknown task {name!r} (valid: {', '.join(known)})")
                    )
    if problems or head is None or backend is None or executor is None or lengths is None:
        raise ConfigError(problems)
    config = SweepConfig(
        name=head.name,
        description=head.description,
        seed=head.seed,
        backend=backend,
        executor=executor,
        models=tuple(head.models),
        methods=tuple(methods),
        lengths=lengths[0],
        length_search=lengths[1],
        tasks=tuple(tasks),
        tasks_path=tuple(str(_beside(p, source_dir)) for p in head.tasks_path),
        headline=head.headline,
        methods_path=tuple(str(_beside(p, source_dir)) for p in head.methods_path),
        source_dir=str(source_dir),
    )
    config._raw = raw
    return config


def _raw_list(raw: dict[str, Any], key: str, default: list[Any]) -> list[Any]:
    value = raw.get(key, default)
    return value if isinstance(value, list) else []


def _raw_dict(raw: dict[str, Any], key: str, default: dict[str, Any]) -> dict[str, Any] | None:
    value = raw.get(key, default)
    return value if isinstance(value, dict) else None


def _beside(value: str, source_dir: str | Path) -> Path:
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists():
        return path
    beside = Path(source_dir) / path
    return beside if beside.exists() else path


def _validate(model: type[BaseModel], data: Any, loc: str, problems: list[tuple[str, str]]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems.extend(validation_problems(exc, loc))
        return None


def validation_problems(exc: ValidationError, loc: str = "") -> list[tuple[str, str]]:
    """A pydantic error as (field path, one-line message) pairs."""
    out = []
    for err in exc.errors():
        path = ".".join(str(p) for p in (loc.split(".") if loc else []) + list(err["loc"]))
        out.append((path, _message(err)))
    return out


def _message(err: Any) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    given = err.get("input")
    shown = (
        f" (got {given!r})" if isinstance(given, (int, float, str)) and not isinstance(given, bool) else ""
    )
    return f"{err['msg'][0].lower()}{err['msg'][1:]}{shown}"


def _check_unique(values: list[str], field: str, what: str, problems: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v in seen:
            problems.append((f"{field}.{i}", f"duplicate {what} {v!r}"))
        seen.add(v)


def _parse_backend(raw: dict[str, Any], problems: list[tuple[str, str]]) -> BackendConfig | None:
    cfg: BackendConfig | None = _parse_kind(BACKENDS, raw, "backend", "hf", problems)
    return cfg


def _parse_kind(
    registry: Any, raw: dict[str, Any], loc: str, default: str, problems: list[tuple[str, str]]
) -> Any:
    """A `{kind: ..., ...}` section validated by the model its registry entry names."""
    kind = raw.get("kind", default)
    try:
        info = registry.get(kind)
    except UnknownNameError as exc:
        problems.append((f"{loc}.kind", str(exc)))
        return None
    return _validate(info.config_model, {"kind": kind, **raw}, loc, problems)


_METHOD_KEYS = {"method", "factors", "factors_file"}


def _parse_method(entry: Any, loc: str, problems: list[tuple[str, str]]) -> MethodChoice | None:
    if isinstance(entry, str):
        entry = {"method": entry}
    if not isinstance(entry, dict) or "method" not in entry:
        problems.append((loc, "expected a method name or a mapping with a 'method' key"))
        return None
    try:
        name, at = split_method(str(entry["method"]))
    except ValueError as exc:
        problems.append((f"{loc}.method", str(exc)))
        return None
    if at is not None:
        if "factors" in entry:
            problems.append(
                (f"{loc}.factors", f"give the factor in the name ({entry['method']}) or in factors, not both")
            )
            return None
        entry = {**entry, "method": name, "factors": at if at == "auto" else [at]}
    try:
        method = METHODS.get(name)
    except UnknownNameError as exc:
        problems.append((f"{loc}.method", str(exc)))
        return None
    params = _validate(
        method.params_model, {k: v for k, v in entry.items() if k not in _METHOD_KEYS}, loc, problems
    )
    factors = _parse_factors(entry.get("factors"), f"{loc}.factors", problems)
    factors_file = entry.get("factors_file")
    n_before = len(problems)
    if factors_file is not None and name != "longrope":
        problems.append((f"{loc}.factors_file", "only longrope reads a factors_file"))
    if not method.takes_factor and factors is not None:
        problems.append((f"{loc}.factors", f"{name!r} takes no factors"))
    elif name == "longrope" and factors is not None:
        problems.append(
            (f"{loc}.factors", "longrope takes its factor from factors_file (or the model config)")
        )
    elif method.takes_factor and name != "longrope" and "factors" not in entry:
        problems.append((f"{loc}.factors", f"{name} needs factors: a list like [2, 4], or 'auto'"))
    if params is None or len(problems) > n_before:
        return None
    return MethodChoice(method=name, factors=factors, factors_file=factors_file, params=params)


def _parse_factors(
    raw: Any, loc: str, problems: list[tuple[str, str]]
) -> tuple[float, ...] | Literal["auto"] | None:
    if raw is None:
        return None
    if raw == "auto":
        return "auto"
    values = raw if isinstance(raw, list) else [raw]
    if not values:
        problems.append((loc, "give at least one factor, or 'auto'"))
        return None
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            problems.append((f"{loc}.{i}", f"expected a number or 'auto' (got {v!r})"))
        elif v < 1:
            problems.append((f"{loc}.{i}", f"a scale factor must be >= 1 (got {v:g})"))
        elif v > MAX_FACTOR:
            problems.append((f"{loc}.{i}", f"a scale factor must be <= {MAX_FACTOR:g} (got {v:g})"))
        else:
            out.append(float(v))
    if len(set(out)) != len(out):
        problems.append((loc, "duplicate factors"))
    return tuple(out) if len(out) == len(values) else None


def _parse_task(entry: Any, loc: str, problems: list[tuple[str, str]]) -> list[TaskChoice]:
    """One `tasks:` entry: a task, or a task group expanded into its member tasks."""
    if isinstance(entry, str):
        entry = {"task": entry}
    if not isinstance(entry, dict) or "task" not in entry:
        problems.append((loc, "expected a task name or a mapping with a 'task' key"))
        return []
    name = str(entry["task"])
    if name in TASK_GROUPS.names():
        return _parse_group(name, entry, loc, problems)
    try:
        cls = TASKS.get(name)
    except UnknownNameError:
        valid = ", ".join([*TASKS.names(), *TASK_GROUPS.names()])
        problems.append((f"{loc}.task", f"unknown task {name!r} (valid: {valid})"))
        return []
    label = entry.get("label", name)
    if not _label_ok(label, f"{loc}.label", problems):
        return []
    params = _validate(
        cls.Params, {k: v for k, v in entry.items() if k not in ("task", "label")}, loc, problems
    )
    if params is None:
        return []
    return [TaskChoice(task=name, label=label, params=params)]


def _label_ok(label: Any, loc: str, problems: list[tuple[str, str]]) -> bool:
    """Labels name files and table rows: the same rule as every other name."""
    if not isinstance(label, str) or not re.match(NAME_PATTERN, label) or len(label) > NAME_MAX:
        shown = repr(label) if len(repr(label)) <= 40 else repr(label)[:37] + "..."
        rule = f"1-{NAME_MAX} letters, digits, '_', '.' or '-', starting with a letter or digit"
        problems.append((loc, f"a label is {rule} (got {shown})"))
        return False
    return True


def _parse_group(
    name: str, entry: dict[str, Any], loc: str, problems: list[tuple[str, str]]
) -> list[TaskChoice]:
    group = TASK_GROUPS.get(name)
    label = entry.get("label", name)
    if not _label_ok(label, f"{loc}.label", problems):
        return []
    params = _validate(
        group.Params, {k: v for k, v in entry.items() if k not in ("task", "label")}, loc, problems
    )
    if params is None:
        return []
    out = []
    for member in group.expand(params):
        member_label = member.label if label == name else f"{label}.{member.label}"
        sub = _parse_task(
            {"task": member.task, "label": member_label, **member.params}, f"{loc}({member.label})", problems
        )
        out += [t.model_copy(update={"group": label, "weight": member.weight}) for t in sub]
    return out
