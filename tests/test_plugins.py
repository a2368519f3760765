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
    assert "user_task_a" in TASKS.names()
    monkeypatch.setenv("LONGCTX_EVAL_TASKS_PATH", str(tmp_path / "b.py"))
    load_task_plugins()
    assert "user_task_b" in TASKS.names()
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


@pytest.mark.slow
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


GROUP_PLUGIN = """
from pydantic import Field
from longctx_eval.task import GroupMember, TaskParams, task_group

class PairParams(TaskParams):
    samples: int = Field(3, description="trials per member")

@task_group
class Pair:
    name = "pair_group"
    Params = PairParams

    @staticmethod
    def expand(params):
        return [
            GroupMember("pk_short", "passkey", {"samples": params.samples, "key_digits": 3}, weight=1.0),
            GroupMember("pk_long", "passkey", {"samples": params.samples, "key_digits": 6}, weight=3.0),
        ]
"""


def test_a_task_group_expands_into_labelled_weighted_entries(tmp_path: Path):
    from longctx_eval.config import ConfigError, parse_sweep

    (tmp_path / "pair.py").write_text(GROUP_PLUGIN)
    raw = {
        "name": "g",
        "models": [{"name": "m", "path": "x"}],
        "methods": ["none"],
        "lengths": [64],
        "tasks_path": [str(tmp_path / "pair.py")],
        "tasks": [{"task": "pair_group", "samples": 5}, {"task": "pair_group", "label": "again"}],
    }
    config = parse_sweep(raw)
    got = [(t.label, t.task, t.group, t.weight, t.params.samples, t.params.key_digits) for t in config.tasks]
    assert got == [
        ("pk_short", "passkey", "pair_group", 1.0, 5, 3),
        ("pk_long", "passkey", "pair_group", 3.0, 5, 6),
        ("again.pk_short", "passkey", "again", 1.0, 3, 3),
        ("again.pk_long", "passkey", "again", 3.0, 3, 6),
    ]
    # A group's own settings are checked like a task's, and an unknown name lists groups too.
    raw["tasks"] = [{"task": "pair_group", "sampels": 5}, {"task": "pair_grup"}]
    with pytest.raises(ConfigError) as err:
        parse_sweep(raw)
    assert err.value.problems[0] == ("tasks.0.sampels", "unknown key")
    assert err.value.problems[1][0] == "tasks.1.task" and "pair_group" in err.value.problems[1][1]
