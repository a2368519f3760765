"""Docs and shipped configs stay true: every option documented, every YAML in configs/ valid."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from longctx_eval.backends import BACKENDS
from longctx_eval.cli import app
from longctx_eval.config import ModelEntry, SweepConfig, load_sweep
from longctx_eval.executors import EXECUTORS
from longctx_eval.rope.methods import METHODS
from longctx_eval.task import TASK_GROUPS, TASKS, load_task_plugins

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
INTERNAL = {
    "source",
    "source_dir",
    "short_factor",
    "long_factor",
    "length_search",
}  # set by the harness, not by users


def documented_models() -> list[tuple[str, type]]:
    load_task_plugins()
    out: list[tuple[str, type]] = [("sweep", SweepConfig), ("models[]", ModelEntry)]
    out += [(f"method {n}", METHODS.get(n).params_model) for n in METHODS]
    out += [(f"task {n}", TASKS.get(n).Params) for n in TASKS]
    out += [(f"task group {n}", TASK_GROUPS.get(n).Params) for n in TASK_GROUPS]
    out += [(f"backend {n}", BACKENDS.get(n).config_model) for n in BACKENDS]
    out += [(f"executor {n}", EXECUTORS.get(n).config_model) for n in EXECUTORS]
    return out


@pytest.mark.parametrize(
    ("what", "model"), documented_models(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_option_is_in_the_readme(what: str, model: type):
    missing = [f for f in model.model_fields if f not in INTERNAL and f"`{f}`" not in README]
    assert not missing, f"{what}: undocumented {missing}"


def registered_names() -> list[str]:
    load_task_plugins()
    return [*METHODS, *TASKS, *TASK_GROUPS]


@pytest.mark.parametrize("name", registered_names())
def test_every_method_and_task_is_in_the_readme(name: str):
    assert f"`{name}`" in README


SHIPPED = sorted((ROOT / "configs").glob("*.yaml"))
GPU = sorted((ROOT / "configs" / "gpu").glob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_validate(path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["validate", str(path.relative_to(ROOT))])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("path", GPU, ids=lambda p: p.name)
def test_gpu_configs_parse(path: Path):
    # Their models are hub ids (no hub here): check everything but the models themselves.
    config = load_sweep(path)
    assert config.backend.kind == "vllm" and path.read_text().startswith("# ")


EXAMPLE = ROOT / "results" / "examples" / "quickstart"
BEGIN, END = "<!-- QUICKSTART-LEADERBOARD -->", "<!-- /QUICKSTART-LEADERBOARD -->"


def test_readme_leaderboard_is_the_report_of_the_committed_quickstart_records(tmp_path: Path):
    # The README's table is generated, not typed: `report` on the committed results rebuilds it.
    import shutil

    shutil.copytree(EXAMPLE, tmp_path / "r", ignore=shutil.ignore_patterns("plots", "leaderboard.*"))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "r"), "--no-pictures"])
    assert result.exit_code == 0, result.output
    body = (tmp_path / "r" / "leaderboard.md").read_text().split("\n", 1)[1].strip()
    assert body == (EXAMPLE / "leaderboard.md").read_text().split("\n", 1)[1].strip()
    block = README.split(BEGIN, 1)[1].split(END, 1)[0]
    assert body.replace("### ", "##### ").replace("## ", "#### ") in block
    # The narrative is the report's generated sentences, first thing after the one-paragraph intro.
    import json

    sentences = json.loads((tmp_path / "r" / "leaderboard.json").read_text())["sentences"]
    assert sentences and block.split("\n\n")[1] == sentences[0]


def test_readme_pictures_exist():
    import re

    for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / target).is_file(), target
