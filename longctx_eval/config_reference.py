"""The docs' config reference (docs/reference/config.md), generated from the pydantic field
descriptions that `longctx-eval ls -v` also prints, so the two cannot disagree.

    python -m longctx_eval.config_reference docs/reference/config.md

A test (tests/test_docs.py) regenerates it and fails when the committed page differs.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from longctx_eval.catalog import _first_doc_line, settings

PAGE = Path("docs") / "reference" / "config.md"
# Modules of what this package ships (the built-in tasks are installed as longctx_eval_tasks).
SHIPPED = ("longctx_eval.", "longctx_eval_tasks.")

HEAD = """\
# Config reference

Every setting of a sweep YAML, generated from the configs' own field descriptions by
`python -m longctx_eval.config_reference docs/reference/config.md` (a test fails when this page
is stale). `longctx-eval ls -v` prints the same, plus the task plugins of your `tasks_path`.
How the pieces fit together is in [the sweep YAML](../sweep.md). Every key is checked: an unknown
one is an error naming its field path.
"""


def _cell(text: str) -> str:
    # `<name>` would be read as an HTML tag.
    return text.replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")


def _table(
    model: type[BaseModel], skip: tuple[str, ...] = (), extra: Sequence[tuple[str, str, str]] = ()
) -> str:
    rows = ["| key | default | meaning |", "|---|---|---|"]
    for name, default, meaning in extra:
        rows.append(f"| `{name}` | {default} | {_cell(meaning)} |")
    for s in settings(model, skip):
        default = "required" if s.default == "required" else f"`{_cell(s.default)}`"
        meaning = s.description + (f" (one of: {s.choices})" if s.choices else "")
        rows.append(f"| `{s.name}` | {default} | {_cell(meaning)} |")
    return "\n".join(rows) if len(rows) > 2 else "No settings."


def config_reference() -> str:
    """The page, as Markdown."""
    from longctx_eval.backends import BACKENDS
    from longctx_eval.config import LengthSearch, ModelEntry, SweepHead
    from longctx_eval.executors import EXECUTORS
    from longctx_eval.rope.methods import METHODS
    from longctx_eval.task import TASK_GROUPS, TASKS, load_task_plugins

    load_task_plugins()
    parts = [HEAD.strip()]
    parts += ["## Top level", _table(SweepHead)]
    parts += ["## `models[]`", _table(ModelEntry)]
    parts += [
        "## `lengths: {search: ...}`",
        "A length search instead of a list of lengths ([length search](../sweep.md#length-search)).",
        _table(LengthSearch),
    ]
    parts += [
        "## `methods[]`",
        "An entry is a method name (`none`) or a mapping with `method:`, `factors:` and the method's "
        "own settings beside them.",
    ]
    for name in METHODS:
        method = METHODS.get(name)
        extra = []
        if method.takes_factor and name == "longrope":
            extra = [("factors_file", "none", "LongRoPE factors JSON (else the model config's)")]
        elif method.takes_factor:
            extra = [("factors", "required", "a list of scale factors >= 1, or 'auto' (length / L)")]
        parts += [f"### `{name}`", _cell(method.summary), _table(method.params_model, extra=extra)]
    parts += [
        "## `tasks[]`",
        "An entry is a task name or a mapping with `task:`, an optional `label:` (needed when one task "
        "appears twice) and the task's own settings.",
    ]
    for name in TASKS:
        cls = TASKS.get(name)
        if not cls.__module__.startswith(SHIPPED):
            continue  # a user's plugin (tasks_path, LONGCTX_EVAL_TASKS_PATH): `ls -v` shows it
        parts += [f"### `{name}`", f"{_first_doc_line(cls)} (`{cls.__module__}`)", _table(cls.Params)]
    parts += ["## Task groups", "A group's entry expands into several tasks."]
    for name in TASK_GROUPS:
        group = TASK_GROUPS.get(name)
        if not group.__module__.startswith(SHIPPED):
            continue
        parts += [f"### `{name}`", _first_doc_line(group), _table(group.Params)]
    parts += ["## `backend`", "`backend: {kind: NAME, ...}`."]
    for name in BACKENDS:
        info = BACKENDS.get(name)
        parts += [f"### `{name}`", _cell(info.summary), _table(info.config_model, skip=("kind",))]
    parts += ["## `executor`", "`executor: {kind: NAME, ...}`."]
    for name in EXECUTORS:
        ex = EXECUTORS.get(name)
        parts += [f"### `{name}`", _cell(ex.summary), _table(ex.config_model, skip=("kind",))]
    return "\n\n".join(parts) + "\n"


def main(argv: list[str]) -> None:
    target = Path(argv[0]) if argv else PAGE
    target.write_text(config_reference())
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
