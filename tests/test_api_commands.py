"""Every command goes through `longctx_eval.api`: the LongRoPE tools and train-reference check
their settings in the library, naming each by parameter, and the command line only renames them as
the options typed."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from longctx_eval import api
from longctx_eval.cli import app
from longctx_eval.config import ConfigError

REFERENCE = Path(__file__).resolve().parent.parent / "models" / "reference"


def _search(tmp_path: Path, **changes: object) -> dict[str, object]:
    request: dict[str, object] = {
        "model": str(REFERENCE),
        "target_length": 512,
        "dataset": str(REFERENCE.parent.parent / "data" / "reference_docs.jsonl"),
        "output": str(tmp_path / "factors.json"),
    }
    return {**request, **changes}


def test_a_longrope_search_request_is_checked_in_the_library_every_problem_at_once(tmp_path: Path):
    bad = _search(tmp_path, documents=0, population=0, mutation_prob=1.5, high_multiple=0.5, objective="x")
    with pytest.raises(ConfigError) as caught:
        api.longrope_search(bad)
    assert [loc for loc, _ in caught.value.problems] == [
        "documents",
        "population",
        "mutation_prob",
        "high_multiple",
        "objective",
    ]
    assert not (tmp_path / "factors.json").exists()  # nothing searched, nothing written


def test_an_unknown_search_setting_is_named(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        api.longrope_search(_search(tmp_path, populaton=4))
    assert caught.value.problems[0][0] == "populaton"


def test_the_command_line_names_the_searchs_problems_as_options(tmp_path: Path):
    result = CliRunner().invoke(
        app,
        [
            "longrope-search",
            *("--model", str(REFERENCE), "--target-length", "512", "--dataset", "x.jsonl"),
            *("--output", str(tmp_path / "f.json"), "--mutation-prob", "2", "--documents", "0"),
        ],
    )
    assert result.exit_code == 2, result.output
    assert "--documents: must be >= 1 (got 0)" in result.output
    assert "--mutation-prob: must be within [0, 1] (got 2)" in result.output


def test_train_reference_checks_its_settings_in_the_library(tmp_path: Path):
    with pytest.raises(ConfigError) as caught:
        api.train_reference(tmp_path / "m", steps=0, rope="none", p=0.5, init="zeros")
    assert sorted(loc for loc, _ in caught.value.problems) == ["init", "p", "steps"]
    assert not (tmp_path / "m").exists()


def test_run_prints_the_summary_the_run_wrote(tmp_path: Path, tiny_model_dir: Path):
    import yaml

    from .conftest import sweep_dict

    config = tmp_path / "sweep.yaml"
    data = sweep_dict(
        tiny_model_dir, methods=["none"], lengths=[128], tasks=[{"task": "passkey", "samples": 2}]
    )
    config.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run", str(config), "--output", str(out), "--progress", "plain"])
    assert result.exit_code == 0, result.output
    from longctx_eval.reporting import Summary

    written = Summary.model_validate_json((out / "leaderboard.json").read_bytes())  # reads back
    assert written.leaderboard and written.leaderboard[0].method_label == "none"
    assert "effective" in result.output.lower() or "Effective" in result.output


def test_a_run_that_wrote_no_report_never_shows_an_earlier_leaderboard(tmp_path: Path, tiny_model_dir: Path):
    import shutil

    from .conftest import sweep_dict

    out = tmp_path / "out"
    out.mkdir()
    # A leaderboard left by some earlier run: stale for what this run computes.
    shutil.copy(REFERENCE.parent.parent / "results" / "examples" / "quickstart" / "leaderboard.json", out)
    data = sweep_dict(
        tiny_model_dir, methods=["none"], lengths=[128], tasks=[{"task": "passkey", "samples": 2}]
    )
    run = api.run(data, output=out, progress="none", report=False)
    assert not run.report_written
    board = api.read_summary(run)
    assert [(r.model, r.method_label) for r in board.leaderboard] == [("tiny", "none")]
    written = api.run(data, output=out, progress="none")  # nothing left to run; the report is written
    assert written.report_written and api.read_summary(written).leaderboard[0].model == "tiny"
