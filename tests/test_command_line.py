"""One consistent command line: global options anywhere, --version, compare taking report's options,
the same error from the API and the command, every config problem in one round, start-up errors
that leave nothing behind, warnings in the harness's voice, tables that fit or print whole."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import longctx_eval as lce
from longctx_eval import cli
from longctx_eval.cli import app, main, split_global_options

from .conftest import sweep_dict

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "models" / "reference"
EXAMPLE = ROOT / "results" / "examples" / "quickstart"
runner = CliRunner()


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # main() sets TRANSFORMERS_VERBOSITY when it is unset: undone after each test.
    monkeypatch.delenv("TRANSFORMERS_VERBOSITY", raising=False)
    monkeypatch.setattr("warnings.showwarning", __import__("warnings").showwarning)


def call_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """The installed entry point, in-process: (exit code, stdout + stderr)."""
    with pytest.raises(SystemExit) as stop:
        main(args)
    out = capsys.readouterr()
    return int(stop.value.code or 0), out.out + out.err


def test_version_before_or_after_a_command(capsys: pytest.CaptureFixture[str]):
    assert runner.invoke(app, ["--version"]).output.strip() == f"longctx-eval {lce.__version__}"
    code, out = call_main(["ls", "--version"], capsys)
    assert code == 0 and out.strip() == f"longctx-eval {lce.__version__}"


def test_global_options_are_taken_from_anywhere_before_a_double_dash():
    assert split_global_options(["run", "x.yaml", "--debug"]) == (["--debug"], ["run", "x.yaml"])
    assert split_global_options(["--debug", "run", "x.yaml"]) == (["--debug"], ["run", "x.yaml"])
    assert split_global_options(["run", "--", "--debug"]) == ([], ["run", "--", "--debug"])


def test_debug_after_the_command_shows_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    # A plugin with a bug: an unexpected exception while the plan is made (exit 4, no traceback),
    # which `--debug` lets through, given after the command as before it.
    plugin = tmp_path / "broken.py"
    plugin.write_text(
        "from longctx_eval.task import CellOutcome, TaskParams, task\n"
        "@task\n"
        "class Broken:\n"
        "    name, version, Params = 'broken_min_length', '1', TaskParams\n"
        "    def __init__(self, params, env): pass\n"
        "    def min_length(self, prompts): raise RuntimeError('a bug in the plugin')\n"
        "    def run(self, ctx): return CellOutcome({}, [])\n"
    )
    config = write_yaml(
        tmp_path / "x.yaml",
        {
            "name": "x",
            "models": [{"name": "ref", "path": str(REFERENCE)}],
            "methods": ["none"],
            "lengths": [256],
            "tasks": ["broken_min_length"],
            "tasks_path": [str(plugin)],
        },
    )
    monkeypatch.setitem(cli._DEBUG, "on", False)
    code, out = call_main(["validate", str(config)], capsys)
    assert code == 4 and "internal error: RuntimeError: a bug in the plugin" in out
    assert "Traceback" not in out
    for args in (
        ["run", str(config), "--output", str(tmp_path / "out"), "--debug"],
        ["validate", str(config), "--debug"],
        ["--debug", "validate", str(config)],
    ):
        monkeypatch.setitem(cli._DEBUG, "on", False)
        with pytest.raises(RuntimeError, match="a bug in the plugin"):
            main(args)


def run_twice_edited(tmp_path: Path, model: Path, docs: Path) -> Path:
    """A results directory whose first cell an edited sweep superseded (`--all` lists it)."""
    data = sweep_dict(
        model,
        methods=["none"],
        lengths=[128],
        tasks=[{"task": "perplexity", "dataset": str(docs), "documents": 2}],
    )
    out = tmp_path / "out"
    for documents in (2, 3):
        data["tasks"][0]["documents"] = documents
        config = write_yaml(tmp_path / "sweep.yaml", data)
        result = runner.invoke(app, ["run", str(config), "--output", str(out), "--progress", "plain"])
        assert result.exit_code == 0, result.output
    return out


def test_compare_takes_reports_options(tmp_path: Path, tiny_model_dir: Path, docs_file: Path):
    out = run_twice_edited(tmp_path, tiny_model_dir, docs_file)
    light = runner.invoke(
        app, ["compare", str(out), "--output", str(tmp_path / "m1"), "--no-pictures", "--ppl-multiple", "2"]
    )
    assert light.exit_code == 0, light.output
    assert (tmp_path / "m1" / "leaderboard.md").is_file()
    assert not (tmp_path / "m1" / "report.html").exists() and not (tmp_path / "m1" / "plots").exists()
    assert json.loads((tmp_path / "m1" / "leaderboard.json").read_text())["options"]["ppl_multiple"] == 2
    full = runner.invoke(app, ["compare", str(out), "--output", str(tmp_path / "m2"), "--all"])
    assert full.exit_code == 0, full.output
    assert "Superseded cells" in (tmp_path / "m2" / "report.html").read_text()
    plain = runner.invoke(app, ["compare", str(out), "--output", str(tmp_path / "m3")])
    assert plain.exit_code == 0 and "Superseded cells" not in (tmp_path / "m3" / "report.html").read_text()


@pytest.mark.parametrize("kind", ["missing", "empty directory", "empty records file"])
def test_load_results_raises_the_error_report_prints(tmp_path: Path, kind: str):
    directory = tmp_path / "r"
    if kind != "missing":
        directory.mkdir()
    if kind == "empty records file":
        (directory / "records.jsonl").write_text("")
    with pytest.raises(FileNotFoundError) as raised:
        lce.load_results(directory)
    printed = runner.invoke(app, ["report", str(directory)])
    assert printed.exit_code == 2
    assert printed.output.strip() == f"error: {raised.value}"
    assert "no records in" in str(raised.value)
    compared = runner.invoke(app, ["compare", str(directory), "--output", str(tmp_path / "m")])
    assert compared.exit_code == 2 and compared.output.strip() == f"error: {raised.value}"


THREE_PROBLEMS = {
    "name": "three",
    "models": [{"name": "ref", "path": str(REFERENCE)}],
    "methods": ["none", "yarnn", {"method": "pi", "factors": [2]}],
    "lengths": [256, 10],  # 10 tokens parse, but passkey's fixed text is longer: found by the plan
    "tasks": [{"task": "passkey", "samples": 2}],
    "unknown_key": 1,
}


def test_validate_reports_every_problem_in_one_round(tmp_path: Path):
    with pytest.raises(lce.ConfigError) as raised:
        lce.validate(THREE_PROBLEMS)
    fields = dict(raised.value.problems)
    assert set(fields) == {"unknown_key", "methods.1.method", "lengths.1"}, raised.value.problems
    assert fields["unknown_key"] == "unknown key"
    assert "unknown method 'yarnn'" in fields["methods.1.method"]
    assert "10 is shorter than task 'passkey' needs" in fields["lengths.1"]
    # The same from a YAML file, through the command: three lines, exit 2, nothing run.
    result = runner.invoke(app, ["validate", str(write_yaml(tmp_path / "x.yaml", THREE_PROBLEMS))])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error: ") for line in lines)
    assert {line.split(":")[1].strip() for line in lines} == {"unknown_key", "methods.1.method", "lengths.1"}


def test_a_sweep_that_is_right_once_parsed_reports_only_the_plans_problems():
    good = {**THREE_PROBLEMS, "methods": ["none"]}
    del good["unknown_key"]
    with pytest.raises(lce.ConfigError) as raised:
        lce.validate(good)
    assert [loc for loc, _ in raised.value.problems] == ["lengths.1"]


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="needs a machine without CUDA to ask for a missing one"
)
def test_a_missing_device_says_no_done_and_leaves_nothing_behind(tmp_path: Path):
    config = write_yaml(
        tmp_path / "cuda.yaml",
        {
            "name": "cuda",
            "backend": {"kind": "hf", "device": "cuda"},
            "models": [{"name": "ref", "path": str(REFERENCE)}],
            "methods": ["none"],
            "lengths": [256],
            "tasks": [{"task": "passkey", "samples": 1}],
        },
    )
    fresh = tmp_path / "fresh"
    result = runner.invoke(app, ["run", str(config), "--output", str(fresh), "--progress", "plain"])
    assert result.exit_code == 3, result.output
    assert "error: device cuda was asked for" in result.output
    assert "done" not in result.output and "Traceback" not in result.output
    assert not fresh.exists()
    # A directory with an earlier run's results: exactly as it was.
    kept = tmp_path / "kept"
    shutil.copytree(EXAMPLE, kept, ignore=shutil.ignore_patterns("plots", "samples"))
    before = {p.relative_to(kept): p.read_bytes() for p in kept.rglob("*") if p.is_file()}
    result = runner.invoke(app, ["run", str(config), "--output", str(kept), "--progress", "plain"])
    assert result.exit_code == 3 and "done" not in result.output
    after = {p.relative_to(kept): p.read_bytes() for p in kept.rglob("*") if p.is_file()}
    assert after == before


def cli_process(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        # transformers at its own default verbosity: the harness's filters must do the work.
        "TRANSFORMERS_VERBOSITY": "warning",
        "PYTHONWARNINGS": "default",
    }
    code = "from longctx_eval.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_two_cells_print_no_library_warnings_and_show_the_report_step(tmp_path: Path):
    config = write_yaml(
        tmp_path / "two.yaml",
        {
            "name": "two",
            "models": [{"name": "reference", "path": str(REFERENCE)}],
            "methods": ["none", {"method": "dynamic_ntk", "factors": "auto"}],
            "lengths": [512],  # beyond the trained 256 tokens, as the quickstart goes
            "tasks": [{"task": "passkey", "samples": 2}],
        },
    )
    done = cli_process(["run", str(config), "--output", "out", "--progress", "plain"], tmp_path)
    assert done.returncode == 0, done.stderr
    err = done.stderr
    assert "[2/2]" in err and "done in" in err
    for noise in ("FutureWarning", "DeprecationWarning", "predefined maximum length", "deprecated"):
        assert noise not in err, err
    assert "report: writing the leaderboards" in err and "files written in" in err


def test_a_harness_warning_is_one_line_without_its_source(tmp_path: Path):
    config = write_yaml(
        tmp_path / "ruler.yaml",
        {
            "name": "r",
            "models": [{"name": "reference", "path": str(REFERENCE)}],
            "methods": ["none"],
            "lengths": [2048],
            "tasks": [{"task": "ruler", "samples": 1}],
        },
    )
    done = cli_process(["validate", str(config)], tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines == [line for line in lines if line.startswith("warning: ")], done.stderr
    assert any(line.startswith("warning: ruler: qa_1, qa_2 left out") for line in lines)
    assert "warnings.warn" not in done.stderr and ".py:" not in done.stderr


def test_the_expected_transformers_log_lines_are_dropped_and_others_kept():
    import logging

    from longctx_eval.quiet import drop_expected_log_lines

    drop_expected_log_lines()
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("transformers.generation.stopping_criteria")
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.WARNING
    try:
        logger.warning("the current text generation call has exceeded the model's predefined maximum length")
        logger.warning("something else the user should see")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert seen == ["something else the user should see"]


def summary_of_the_example() -> Any:
    from longctx_eval.reporting import build_summary, load_results

    return build_summary(load_results(EXAMPLE))


def test_piped_tables_print_whole(monkeypatch: pytest.MonkeyPatch):
    from longctx_eval.reporting.console import print_summary

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stream)
    print_summary(summary_of_the_example(), cli._console())
    rows = [line for line in stream.getvalue().splitlines() if "llama3@auto" in line]
    # Each row on one line, every value whole (80 columns would cut or wrap them).
    assert rows and all("…" not in row for row in rows)
    assert any("512 (256–512)" in row and "1024 (256–2048)" in row for row in rows)
    assert max(len(line) for line in stream.getvalue().splitlines()) > 80


def test_tables_fit_the_terminal(monkeypatch: pytest.MonkeyPatch):
    from longctx_eval.reporting.console import print_summary

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    monkeypatch.setattr(sys, "stdout", stream)
    monkeypatch.setenv("COLUMNS", "70")
    print_summary(summary_of_the_example(), cli._console())
    import re

    lines = re.sub(r"\x1b\[[0-9;]*m", "", stream.getvalue()).splitlines()  # colours take no columns
    assert lines and max(len(line) for line in lines) <= 70
