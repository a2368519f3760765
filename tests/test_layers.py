"""Layers point one way: results are read and reported without the model stack, the core never
imports a task plugin, and nothing the config module imports imports it back."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "longctx_eval"
EXAMPLE = ROOT / "results" / "examples" / "quickstart"


def _modules() -> dict[str, Path]:
    out = {}
    for file in PACKAGE.rglob("*.py"):
        parts = file.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = file
    return out


def _imports(file: Path) -> set[str]:
    """Every module named by an import in the file: top level, inside functions and under
    TYPE_CHECKING alike (a type-only import still ties the layers together)."""
    names = set()
    for node in ast.walk(ast.parse(file.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def _graph() -> dict[str, set[str]]:
    modules = _modules()

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    return {m: {o for n in _imports(f) if (o := owner(n)) is not None and o != m} for m, f in modules.items()}


def test_results_load_and_report_without_torch(tmp_path: Path):
    copy = tmp_path / "quickstart"
    shutil.copytree(EXAMPLE, copy)
    script = (
        "import sys; sys.modules['torch'] = None\n"  # any import of torch now fails
        "import longctx_eval\n"
        f"r = longctx_eval.load_results({str(EXAMPLE)!r})\n"
        "assert len(r.records) > 0\n"
        f"longctx_eval.report({str(copy)!r}, pictures=False)\n"
        "assert 'transformers' not in sys.modules, 'reporting loaded the model stack'\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (copy / "leaderboard.md").stat().st_mtime > (EXAMPLE / "leaderboard.md").stat().st_mtime


def test_no_core_module_imports_a_task_plugin():
    offenders = {
        m: sorted(n for n in _imports(f) if n.split(".")[0] == "longctx_eval_tasks")
        for m, f in _modules().items()
    }
    assert {m: n for m, n in offenders.items() if n} == {}


def test_nothing_the_config_module_imports_imports_it_back():
    graph = _graph()
    seen, stack = set(), list(graph["longctx_eval.config"])
    while stack:
        m = stack.pop()
        if m in seen:
            continue
        seen.add(m)
        stack.extend(graph[m])
    assert "longctx_eval.config" not in seen, sorted(m for m in seen if "longctx_eval.config" in graph[m])
    # And what it stands on is settings and registries, never the machinery that runs a sweep.
    assert not seen & {"longctx_eval.plan", "longctx_eval.worker", "longctx_eval.runner", "longctx_eval.api"}
