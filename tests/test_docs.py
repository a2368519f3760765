"""Docs and shipped configs stay true: every option documented, every YAML in configs/ valid, the
generated pages current, the README's leaderboard the report of the committed records, and the
layout tree the real tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from longctx_eval.backends import BACKENDS
from longctx_eval.catalog import settings
from longctx_eval.cli import app
from longctx_eval.config import LengthSearch, ModelEntry, SweepHead, load_sweep
from longctx_eval.executors import EXECUTORS
from longctx_eval.rope.methods import METHODS
from longctx_eval.task import TASK_GROUPS, TASKS, load_task_plugins

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
PAGES = {p.relative_to(DOCS).as_posix(): p.read_text() for p in sorted(DOCS.rglob("*.md"))}
CONFIG_REFERENCE = DOCS / "reference" / "config.md"


def documented_models() -> list[tuple[str, type]]:
    load_task_plugins()
    out: list[tuple[str, type]] = [("sweep", SweepHead), ("models[]", ModelEntry), ("search", LengthSearch)]
    out += [(f"method {n}", METHODS.get(n).params_model) for n in METHODS]
    out += [(f"task {n}", TASKS.get(n).Params) for n in TASKS]
    out += [(f"task group {n}", TASK_GROUPS.get(n).Params) for n in TASK_GROUPS]
    out += [(f"backend {n}", BACKENDS.get(n).config_model) for n in BACKENDS]
    out += [(f"executor {n}", EXECUTORS.get(n).config_model) for n in EXECUTORS]
    return out


@pytest.mark.parametrize(
    ("what", "model"), documented_models(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_every_setting_has_a_description_in_the_config_reference(what: str, model: type):
    # The description is the one source that `ls -v` and the generated reference both print.
    undescribed = [s.name for s in settings(model, ("kind",)) if not s.description]
    assert not undescribed, f"{what}: no description for {undescribed}"
    page = CONFIG_REFERENCE.read_text()
    missing = [s.name for s in settings(model, ("kind",)) if f"| `{s.name}` |" not in page]
    assert not missing, f"{what}: not in docs/reference/config.md: {missing}"


def test_config_reference_is_generated_from_the_current_fields(tmp_path: Path):
    # In a fresh process: plugins other tests registered in this one are no part of the docs.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "LONGCTX_EVAL_TASKS_PATH"}
    fresh = tmp_path / "config.md"
    subprocess.run(
        [sys.executable, "-m", "longctx_eval.config_reference", str(fresh)], env=env, check=True, cwd=ROOT
    )
    assert CONFIG_REFERENCE.read_text() == fresh.read_text(), (
        "docs/reference/config.md is stale: run `python -m longctx_eval.config_reference`"
    )


def test_ls_verbose_prints_the_same_descriptions_as_the_reference():
    out = CliRunner().invoke(app, ["ls", "-v"])
    assert out.exit_code == 0, out.output
    for s in settings(METHODS.get("yarn").params_model) + settings(TASKS.get("perplexity").Params):
        assert s.description in out.output
        assert s.description.replace("<", "&lt;") in CONFIG_REFERENCE.read_text()


def registered_names() -> list[str]:
    load_task_plugins()
    return [*METHODS, *TASKS, *TASK_GROUPS]


@pytest.mark.parametrize("name", registered_names())
def test_every_method_and_task_is_described_in_the_docs(name: str):
    prose = PAGES["methods.md"] + PAGES["tasks.md"]
    assert f"`{name}`" in prose


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


def _one_level_down(markdown: str) -> str:
    """The report's headings (`#` title, `##` sections) nested under a README section."""
    return re.sub(r"^(#+) ", r"#\1 ", markdown, flags=re.M)


def test_readme_leaderboard_is_the_report_of_the_committed_quickstart_records(tmp_path: Path):
    # The README's table is generated, not typed: `report` on the committed results rebuilds it.
    import shutil

    shutil.copytree(EXAMPLE, tmp_path / "r", ignore=shutil.ignore_patterns("plots", "leaderboard.*"))
    result = CliRunner().invoke(app, ["report", str(tmp_path / "r"), "--no-pictures"])
    assert result.exit_code == 0, result.output
    body = (tmp_path / "r" / "leaderboard.md").read_text().split("\n", 1)[1].strip()
    assert body == (EXAMPLE / "leaderboard.md").read_text().split("\n", 1)[1].strip()
    block = README.split(BEGIN, 1)[1].split(END, 1)[0]
    assert _one_level_down(body) in block
    # The narrative is the report's generated sentences, first thing after the one-paragraph intro.
    import json

    sentences = json.loads((tmp_path / "r" / "leaderboard.json").read_text())["sentences"]
    assert sentences and block.split("\n\n")[1] == sentences[0]


def _headings(markdown: str) -> list[str]:
    out, code = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            code = not code
        elif not code and line.startswith("#"):
            out.append(line)
    return out


@pytest.mark.parametrize("name", ["README.md", *PAGES])
def test_headings_are_valid_markdown(name: str):
    text = README if name == "README.md" else PAGES[name]
    bad = [h for h in _headings(text) if not re.match(r"^#{1,6} \S", h)]
    assert not bad, bad


def test_readme_is_short():
    assert len(README.splitlines()) < 350


def test_readme_pictures_exist():
    for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / target).is_file(), target


def test_readme_links_into_docs_exist():
    for target in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / target).is_file(), target


def _layout_entries() -> list[str]:
    """The paths the layout tree names: `dir/` or `file` at the start of a line, nested two spaces
    under `longctx_eval/`."""
    page = PAGES["development.md"]
    tree = page.split("## Layout", 1)[1].split("```", 2)[1]
    out, parent = [], ""
    for line in tree.splitlines():
        match = re.match(r"^( *)(\S+)", line)
        if not match or len(match.group(1)) > 2:
            continue  # a wrapped description
        indent, name = match.groups()
        if not indent:
            parent = name if name.endswith("/") else ""
            out.append(name)
        elif parent:
            out.append(parent + name)
    return out


def test_layout_matches_the_tree():
    import subprocess

    entries = _layout_entries()
    missing = [e for e in entries if not (ROOT / e.rstrip("/")).exists()]
    assert not missing, f"the layout names paths that do not exist: {missing}"
    named = {e.rstrip("/") for e in entries}
    package = sorted(
        f"longctx_eval/{p.name}"
        for p in (ROOT / "longctx_eval").iterdir()
        if (p.suffix == ".py" or (p / "__init__.py").is_file())
    )
    unlisted = [p for p in package if p not in named]
    assert not unlisted, f"modules the layout leaves out: {unlisted}"
    # Every tracked top-level directory, and each model and kept result, has its line.
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    if not tracked:
        pytest.skip("not a git checkout")
    dirs = {t.split("/")[0] for t in tracked if "/" in t}
    dirs |= {"/".join(t.split("/")[:2]) for t in tracked if t.startswith("models/")}
    dirs |= {"results/examples"} if any(t.startswith("results/examples/") for t in tracked) else set()
    covered = {d for d in dirs if d in named or any(n.startswith(d + "/") for n in named)}
    assert dirs == covered, f"directories the layout leaves out: {sorted(dirs - covered)}"
