"""Task plugins: built-ins found through the entry-point group (also from a non-editable install),
user tasks from a tasks path, duplicate names refused."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from longctx_eval.registry import Registry, UnknownNameError
from longctx_eval.task import TASKS, load_task_plugins, task

ROOT = Path(__file__).resolve().parent.parent

USER_TASK = """
from longctx_eval.task import CellOutcome, TaskParams, task

class P(TaskParams):
    pass

@task
class Echo:
    name = "{name}"
    version = "1"
    Params = P
    def __init__(self, params, env): pass
    def min_length(self, prompts): return 1
    def run(self, ctx): return CellOutcome({{}}, [])
"""


def test_builtin_tasks_come_from_the_entry_point_group():
    load_task_plugins()
    for name in ("passkey", "niah", "perplexity"):
        assert TASKS.get(name).__module__ == f"longctx_eval_tasks.{name}"


def test_tasks_path_and_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "mine.py").write_text(USER_TASK.format(name="user_task_a"))
    (tmp_path / "b.py").write_text(USER_TASK.format(name="user_task_b"))
    load_task_plugins([tmp_path / "a"])
    assert "user_task_a" in TASKS
    monkeypatch.setenv("LONGCTX_EVAL_TASKS_PATH", str(tmp_path / "b.py"))
    load_task_plugins()
    assert "user_task_b" in TASKS
    load_task_plugins([tmp_path / "a"])  # loading the same file again is harmless


def test_duplicate_task_names_are_refused():
    load_task_plugins()

    class Impostor:
        name, version, Params = "passkey", "1", object

    with pytest.raises(ValueError, match="task 'passkey' is already registered"):
        task(Impostor)


def test_unknown_name_lists_the_valid_ones():
    reg: Registry[int] = Registry("widget")
    reg.add("a", 1)
    reg.add("b", 2)
    with pytest.raises(UnknownNameError, match=r"unknown widget 'c' \(valid: a, b\)"):
        reg.get("c")


def test_a_non_editable_install_still_finds_the_builtin_tasks(tmp_path: Path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(ROOT)],
        check=True,
        capture_output=True,
    )
    assert (target / "longctx_eval_tasks" / "passkey.py").exists()
    # -S: no site processing, so the editable install of this checkout is out of the picture.
    probe = textwrap.dedent(
        f"""
        import sys
        sys.path[:0] = [{str(target)!r}, {sysconfig.get_paths()["purelib"]!r}]
        from longctx_eval.task import TASKS, load_task_plugins
        load_task_plugins()
        import longctx_eval_tasks.passkey as p
        assert p.__file__.startswith({str(target)!r}), p.__file__
        print(",".join(n for n in TASKS))
        """
    )
    out = subprocess.run([sys.executable, "-S", "-c", probe], check=True, capture_output=True, text=True)
    assert set(out.stdout.strip().split(",")) >= {"passkey", "niah", "perplexity"}


def test_every_subpackage_is_packaged():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "longctx_eval").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found <= listed, f"add to [tool.setuptools] packages: {sorted(found - listed)}"
