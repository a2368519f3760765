"""What is registered, as text: `longctx-eval ls [-v]` (methods, method plugins with their file,
tasks, task groups, backends, executors and, with -v, every setting with its default and allowed
values)."""

from __future__ import annotations

import sys
import typing
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

# Set by the harness from a factors file or the model config, never written in a sweep YAML.
_INTERNAL = {"source", "short_factor", "long_factor"}


def describe_registries(verbose: bool = False) -> str:
    from longctx_eval.backends import BACKENDS
    from longctx_eval.executors import EXECUTORS
    from longctx_eval.rope.methods import METHODS
    from longctx_eval.task import TASK_GROUPS, TASKS, load_task_plugins

    load_task_plugins()
    lines = ["methods:"]
    for name in METHODS:
        method = METHODS.get(name)
        where = f" (plugin, {method.source})" if method.plugin else ""
        lines.append(f"  {name:<12} {method.summary}{where}")
        if verbose and method.takes_factor:
            if name == "longrope":
                lines.append(
                    "      factors_file: default none; LongRoPE factors JSON (else the model config's)"
                )
            else:
                lines.append("      factors: required; a list of scale factors >= 1, or 'auto' (length / L)")
        lines += _fields(method.params_model, verbose)
    lines.append("tasks:")
    for name in TASKS:
        cls = TASKS.get(name)
        lines.append(f"  {name:<12} {_first_doc_line(cls)} (v{cls.version}, {_where(cls)})")
        lines += _fields(cls.Params, verbose)
    if TASK_GROUPS.names():
        lines.append("task groups:")
        for name in TASK_GROUPS:
            group = TASK_GROUPS.get(name)
            lines.append(f"  {name:<12} {_first_doc_line(group)} ({_where(group)})")
            lines += _fields(group.Params, verbose)
    lines.append("backends:")
    for name in BACKENDS:
        info = BACKENDS.get(name)
        lines.append(f"  {name:<12} {info.summary}")
        lines += _fields(info.config_model, verbose, skip=("kind",))
    lines.append("executors:")
    for name in EXECUTORS:
        ex = EXECUTORS.get(name)
        lines.append(f"  {name:<12} {ex.summary}")
        lines += _fields(ex.config_model, verbose, skip=("kind",))
    return "\n".join(lines)


def _first_doc_line(cls: Any) -> str:
    doc = (sys.modules[cls.__module__].__doc__ or cls.__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def _where(cls: Any) -> str:
    module = sys.modules.get(cls.__module__)
    path = getattr(module, "__file__", None)
    return (
        f"{cls.__module__}, {path}"
        if path and cls.__module__.startswith("longctx_eval_user")
        else cls.__module__
    )


@dataclass(frozen=True)
class Setting:
    """One setting of a config model, as `ls -v` and the docs' config reference show it."""

    name: str
    default: str  # "required", or the default value as shown
    choices: str  # the allowed values of a Literal setting ("" if free)
    description: str


def settings(model: type[BaseModel], skip: tuple[str, ...] = ()) -> list[Setting]:
    """The settings a user writes, from the pydantic fields: the one source of every description."""
    out = []
    for field, info in model.model_fields.items():
        if field in skip or field in _INTERNAL:
            continue
        name = info.alias or field
        default = "required" if info.is_required() else _shown(info.get_default(call_default_factory=True))
        out.append(Setting(name, default, _choices(info.annotation), (info.description or "").strip()))
    return out


def _fields(model: type[BaseModel], verbose: bool, skip: tuple[str, ...] = ()) -> list[str]:
    if not verbose:
        return []
    out = []
    for s in settings(model, skip):
        default = s.default if s.default == "required" else f"default {s.default}"
        parts = [
            default,
            *([f"one of {s.choices}"] if s.choices else []),
            *([s.description] if s.description else []),
        ]
        out.append(f"      {s.name}: {'; '.join(parts)}")
    return out


def _shown(value: Any) -> str:
    return "none" if value is None else repr(value)


def _choices(annotation: Any) -> str:
    """The allowed values of a Literal setting (also inside `X | None`)."""
    options = [annotation, *typing.get_args(annotation)]
    for option in options:
        if typing.get_origin(option) is typing.Literal:
            return ", ".join(str(v) for v in typing.get_args(option))
    return ""
