"""Whole sweeps on a real tiny model: records, resume, a failing cell, a SIGKILL mid-sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from longctx_eval.cli import app
from longctx_eval.records import CellRecord
from longctx_eval.store import read_records

from .conftest import PLUGINS, sweep_dict

runner = CliRunner()


def write_sweep(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow
def test_sweep_writes_records_samples_manifest_and_leaderboard(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path
):
    data = sweep_dict(
        tiny_model_dir,
        methods=["none", {"method": "yarn", "factors": [2]}],
        tasks=[
            {"task": "passkey", "samples": 3},
            {"task": "niah", "depths": 2, "samples_per_depth": 1},
            {"task": "perplexity", "dataset": str(docs_file), "documents": 2},
        ],
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["run", str(write_sweep(tmp_path, data)), "--output", str(out), "--progress", "plain"]
    )
    assert result.exit_code == 0, result.output
    records = read_records(out)
    assert len(records) == 2 * 3 * 2
    for r in records:
        assert r.status == "ok"
        for key in (
            "cell_id",
            "model",
            "method",
            "factor",
            "task",
            "length",
            "status",
            "metrics",
            "error",
            "duration_s",
        ):
            assert key in r.model_dump()
        samples = [
            json.loads(line) for line in (out / "samples" / f"{r.cell_id}.jsonl").read_text().splitlines()
        ]
        assert len(samples) == r.n_samples > 0
        if r.task in ("passkey", "niah"):
            assert {"accuracy", "n", "ci_low", "ci_high"} <= set(r.metrics.model_dump(exclude_none=True))
            for s in samples:
                assert s["n_prompt_tokens"] == r.length
                for key in ("needle_token_offset", "depth", "target", "output", "score"):
                    assert key in s
        else:
            assert {"ppl", "nll", "n_tokens"} <= set(r.metrics.model_dump(exclude_none=True))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["name"] == "t" and "torch" in manifest["versions"] and "git_sha" in manifest
    assert (out / "leaderboard.md").exists() and (out / "leaderboard.csv").exists()
    assert len({r.cell_id for r in records}) == len(records)

    # Running again does no work: nothing appended, the model is not even loaded.
    again = runner.invoke(
        app, ["run", str(write_sweep(tmp_path, data)), "--output", str(out), "--progress", "plain"]
    )
    assert again.exit_code == 0 and "loading model" not in again.output
    assert len(read_records(out)) == len(records)


def test_a_failing_cell_is_recorded_and_the_sweep_goes_on(tmp_path: Path, tiny_model_dir: Path):
    data = sweep_dict(
        tiny_model_dir,
        tasks_path=[str(PLUGINS)],
        tasks=[{"task": "probe", "fail_at": 256}],
    )
    out = tmp_path / "out"
    config = write_sweep(tmp_path, data)
    result = runner.invoke(app, ["run", str(config), "--output", str(out), "--progress", "plain"])
    assert result.exit_code == 1, result.output
    records = read_records(out)
    failed = [r for r in records if r.status == "failed"]
    assert len(records) == 4 and len(failed) == 2
    assert all(r.length == 256 and r.error == "RuntimeError: boom at 256" for r in failed)
    assert "boom at 256" in failed[0].traceback
    # Failed cells are retried on the next run; finished ones are not.
    result = runner.invoke(app, ["run", str(config), "--output", str(out), "--progress", "plain"])
    assert result.exit_code == 1
    assert len(read_records(out)) == 6


def comparable(records: list[CellRecord]) -> dict[str, tuple[str, Any]]:
    return {r.cell_id: (r.status, r.metrics.model_dump()) for r in records}


@pytest.mark.slow
def test_sigkill_mid_sweep_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path
):
    data = sweep_dict(
        tiny_model_dir,
        methods=["none", {"method": "pi", "factors": [2]}, {"method": "dynamic_ntk", "factors": [2]}],
        tasks_path=[str(PLUGINS)],
        tasks=[
            {"task": "passkey", "samples": 2},
            {"task": "probe", "sleep_s": 0.4},
            {"task": "perplexity", "dataset": str(docs_file), "documents": 2},
        ],
    )
    config = write_sweep(tmp_path, data)
    total = 3 * 3 * 2
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    cmd = [sys.executable, "-m", "longctx_eval.cli", "run", str(config), "--progress", "plain", "--output"]
    proc = subprocess.Popen([*cmd, str(killed)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    records_file = killed / "records.jsonl"
    while time.monotonic() < deadline:
        if records_file.exists() and len(records_file.read_text().splitlines()) >= 5:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = read_records(killed)
    assert 5 <= len(before) < total, "the sweep must be killed mid-way"

    resumed = subprocess.run([*cmd, str(killed)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(before)} already finished" in resumed.stderr
    after = read_records(killed)
    assert len(after) == total  # nothing finished was redone, nothing lost
    assert len({r.cell_id for r in after}) == total

    subprocess.run([*cmd, str(whole)], capture_output=True, text=True, timeout=300, check=True)
    a, b = comparable(after), comparable(read_records(whole))
    assert a.keys() == b.keys()
    for cid in a:
        assert a[cid][0] == b[cid][0] == "ok"
        for key, value in b[cid][1].items():
            if isinstance(value, float):
                assert a[cid][1][key] == pytest.approx(value, rel=1e-5), key


def test_a_cell_does_not_depend_on_which_cells_ran_before_it(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path
):
    # ntk@auto at L has factor 1, which is plain RoPE: the same group as `none`. Its cell runs after
    # pi@2's group, when nothing of none's is cached any more; it must still compute what none's
    # cell computed: the group's one-pass perplexity at the plan's longest length for the group.
    data = sweep_dict(
        tiny_model_dir,
        tasks_path=[str(PLUGINS)],
        methods=["none", {"method": "pi", "factors": "auto"}, {"method": "ntk", "factors": "auto"}],
        lengths=[64, 128],
        tasks=[{"task": "probe"}, {"task": "perplexity", "dataset": str(docs_file), "documents": 2}],
    )
    out = tmp_path / "out"
    result = runner.invoke(app, ["run", str(write_sweep(tmp_path, data)), "--output", str(out)])
    assert result.exit_code == 0, result.output
    records = read_records(out)
    at = {(r.method_label, r.task, r.length): r for r in records}
    assert at[("ntk@auto", "probe", 64)].rope_parameters == at[("none", "probe", 64)].rope_parameters
    assert at[("ntk@auto", "probe", 64)].metrics.group_lengths == [64, 128]
    assert at[("ntk@auto", "perplexity", 64)].metrics == at[("none", "perplexity", 64)].metrics


def test_cells_with_identical_computations_share_one(tmp_path: Path, tiny_model_dir: Path, docs_file: Path):
    # factors: auto at the native length gives factor 1, where pi, ntk and llama3 are exactly `none`.
    data = sweep_dict(
        tiny_model_dir,
        methods=["none", {"method": "pi", "factors": "auto"}, {"method": "ntk", "factors": "auto"}],
        lengths=[64, 128],
        tasks=[{"task": "probe"}, {"task": "perplexity", "dataset": str(docs_file), "documents": 2}],
        tasks_path=[str(PLUGINS / "probe.py")],
    )
    import longctx_eval as lce

    plan = lce.validate(data)
    shared = {(c.spec.label(), c.task.label, c.length): c.same_as for c in plan.cells if c.same_as}
    none_ids = {(c.task.label, c.length): c.cell_id for c in plan.cells if c.spec.label() == "none"}
    assert shared == {
        (m, t, 64): none_ids[(t, 64)] for m in ("pi@auto", "ntk@auto") for t in ("probe", "perplexity")
    }
    out = tmp_path / "out"
    summary = lce.run(data, output=out, progress="none")
    assert summary.counts["ok"] == 12
    records = {(r.method_label, r.task, r.length): r for r in read_records(out)}
    for (method, task, length), cid in shared.items():
        r, src = records[(method, task, length)], records[("none", task, length)]
        assert r.computed_as == cid == src.cell_id and r.duration_s == 0.0
        assert r.metrics == src.metrics and r.method_label == method and r.cell_id != src.cell_id
        assert (out / "samples" / f"{r.cell_id}.jsonl").read_text() == (
            out / "samples" / f"{cid}.jsonl"
        ).read_text()
    assert all(records[k].computed_as is None for k in records if k[2] == 128)
    # A shared cell whose record was lost is derived again at the next run, nothing recomputed.
    lines = (out / "records.jsonl").read_text().splitlines()
    lost = next(i for i, line in enumerate(lines) if '"computed_as": "' in line)
    (out / "records.jsonl").write_text("\n".join(lines[:lost] + lines[lost + 1 :]) + "\n")
    again = lce.run(data, output=out, progress="none")
    assert again.already_done == 11 and again.counts["ok"] == 1
