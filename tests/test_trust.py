"""The unlucky cases: changed inputs at the same path, edited sweeps, hostile labels, bad files, runtime
faults. Each case is the exact input, the exit code, the message, and what is on disk afterwards."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from longctx_eval.cli import app
from longctx_eval.store import read_records

from .conftest import sweep_dict

runner = CliRunner()


def write_sweep(path: Path, data: dict[str, Any]) -> Path:
    config = path / "sweep.yaml"
    config.write_text(yaml.safe_dump(data))
    return config


def run(config: Path, out: Path) -> Any:
    return runner.invoke(app, ["run", str(config), "--output", str(out), "--progress", "plain"])


def test_a_model_resaved_in_place_and_a_rewritten_dataset_are_rerun(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path
):
    import torch
    from transformers import AutoModelForCausalLM

    model = tmp_path / "model"
    shutil.copytree(tiny_model_dir, model)
    docs = tmp_path / "docs.txt"
    shutil.copy(docs_file, docs)
    data = sweep_dict(
        model,
        methods=["none"],
        lengths=[128],
        tasks=[
            {"task": "passkey", "samples": 2},
            {"task": "perplexity", "dataset": str(docs), "documents": 2},
        ],
    )
    config, out = write_sweep(tmp_path, data), tmp_path / "out"
    assert run(config, out).exit_code == 0
    untouched = run(config, out)
    assert untouched.exit_code == 0 and "2 already finished" in untouched.output

    # Continued training: the same shapes and file sizes, other weights.
    m = AutoModelForCausalLM.from_pretrained(model)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.01)
    m.save_pretrained(model)
    resaved = run(config, out)
    assert resaved.exit_code == 0 and "0 already finished" in resaved.output
    assert len(read_records(out)) == 4

    # The dataset rewritten at the same path: only the perplexity cell runs again.
    docs.write_text("\n".join(reversed(docs.read_text().splitlines())) + "\n")
    rewritten = run(config, out)
    assert rewritten.exit_code == 0 and "1 already finished" in rewritten.output
    records = read_records(out)
    assert len(records) == 5
    # Every table position has one current cell; the replaced ones are superseded, not merged.
    from longctx_eval.reporting import load_results

    results = load_results(out)
    assert len(results.records) == 2 and len(results.superseded) == 3


def test_an_edited_sweep_run_into_the_same_directory_stays_reportable(
    tmp_path: Path, tiny_model_dir: Path, docs_file: Path
):
    data = sweep_dict(
        tiny_model_dir,
        methods=["none"],
        lengths=[128],
        tasks=[{"task": "perplexity", "dataset": str(docs_file), "documents": 2}],
    )
    out = tmp_path / "out"
    assert run(write_sweep(tmp_path, data), out).exit_code == 0
    data["tasks"][0]["documents"] = 3
    second = run(write_sweep(tmp_path, data), out)
    assert second.exit_code == 0, second.output
    assert "MergeError" not in second.output and "Traceback" not in second.output
    report = runner.invoke(app, ["report", str(out), "--no-pictures"])
    assert report.exit_code == 0, report.output
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["superseded"] == 1
    (value,) = board["tables"][0]["rows"][0]["values"]
    assert value["n"] == 3  # the edited sweep's cell, not the earlier one
    # Back to the first version: its cell is finished and wins its position again.
    data["tasks"][0]["documents"] = 2
    third = run(write_sweep(tmp_path, data), out)
    assert "1 already finished" in third.output
    board = json.loads((out / "leaderboard.json").read_text())
    assert board["tables"][0]["rows"][0]["values"][0]["n"] == 2
    assert runner.invoke(app, ["report", str(out), "--all"]).exit_code == 0
    assert "Superseded cells" in (out / "report.html").read_text()


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"tasks": [{"task": "passkey", "label": "x" * 250}]}, "tasks.0.label", "a label is 1-64 letters"),
        (
            {"tasks": [{"task": "passkey", "label": "a\n\\immediate\\write18{rm -rf /}"}]},
            "tasks.0.label",
            "a label is",
        ),
        ({"tasks": [{"task": "passkey", "label": "=HYPERLINK(1)"}]}, "tasks.0.label", "a label is"),
        (
            {"tasks": [{"task": "passkey", "needle": "{key} {0}"}]},
            "tasks.0.needle",
            "unknown placeholder {0}",
        ),
        (
            {"tasks": [{"task": "passkey", "needle": "The key is here."}]},
            "tasks.0.needle",
            "must contain {key}",
        ),
        (
            {"tasks": [{"task": "niah", "needle": "{key} is {vlaue}"}]},
            "tasks.0.needle",
            "unknown placeholder {vlaue}",
        ),
        ({"backend": {"kind": "hf", "device": "tpu:7"}}, "backend.device", "string should match pattern"),
        ({"methods": [{"method": "ntk", "factors": [1e300]}]}, "methods.0.factors.0", "must be <= 65536"),
        ({"lengths": [10**12]}, "lengths.0", "less than or equal to 16777216"),
        (
            {"tasks": [{"task": "passkey", "samples": 10**12}]},
            "tasks.0.samples",
            "less than or equal to 100000",
        ),
    ],
)
def test_bad_values_are_refused_at_parse_time(
    tmp_path: Path, tiny_model_dir: Path, change: dict[str, Any], field: str, message: str
):
    data = sweep_dict(tiny_model_dir, **change)
    out = tmp_path / "out"
    result = run(write_sweep(tmp_path, data), out)
    assert result.exit_code == 2, result.output
    assert f"error: {field}: " in result.output and message in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_duplicate_yaml_keys_are_an_error_naming_the_key(tmp_path: Path, tiny_model_dir: Path):
    text = yaml.safe_dump(sweep_dict(tiny_model_dir)) + "lengths: [999999]\n"
    (tmp_path / "s.yaml").write_text(text)
    result = runner.invoke(app, ["validate", str(tmp_path / "s.yaml")])
    assert result.exit_code == 2 and "key 'lengths' is given twice" in result.output


def test_every_problem_comes_in_one_round(tmp_path: Path, tiny_model_dir: Path):
    data = sweep_dict(
        tiny_model_dir, lengths=[0], methods=["yarnn"], tasks=[{"task": "passkey", "sampels": 3}]
    )
    result = runner.invoke(app, ["validate", str(write_sweep(tmp_path, data))])
    assert result.exit_code == 2
    for field in ("lengths.0", "methods.0.method", "tasks.0.sampels"):
        assert f"error: {field}:" in result.output


def test_longrope_factors_must_be_at_least_1_and_monotone(tmp_path: Path, tiny_model_dir: Path):
    from longctx_eval.rope.longrope_factors import FactorsFileError, load_factors

    good = {
        "factor": 4,
        "original_context": 64,
        "short_factor": [1.0] * 16,
        "long_factor": [1.0 + i / 4 for i in range(16)],
        "searched": False,
        "source": "test",
    }
    for name, change, message in [
        (
            "low",
            {"short_factor": [0.5] + [1.0] * 15},
            "short_factor.0: Input should be greater than or equal to 1",
        ),
        (
            "bumpy",
            {"long_factor": [1.0, 3.0, 2.0] + [4.0] * 13},
            "non-decreasing over pairs (pair 2: 2 < pair 1: 3)",
        ),
    ]:
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({**good, **change}))
        with pytest.raises(FactorsFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
            load_factors(path)


def test_a_read_only_output_directory_is_an_environment_error(tmp_path: Path, tiny_model_dir: Path):
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o500)
    try:
        if os.access(out, os.W_OK):  # root writes anywhere; /sys refuses even root
            out = Path("/sys/longctx-eval-out")
        result = run(write_sweep(tmp_path, sweep_dict(tiny_model_dir)), out)
        assert result.exit_code == 3, result.output
        assert "error: cannot write (" in result.output and "choose another --output" in result.output
        assert "Traceback" not in result.output
    finally:
        os.chmod(tmp_path / "out", 0o700)


def test_a_full_disk_reads_as_one_line():
    import errno

    from longctx_eval.cli import _os_error

    line = _os_error(OSError(errno.ENOSPC, "No space left on device", "/data/out/records.jsonl"))
    assert line == (
        "no space left on the device (/data/out/records.jsonl); free some and run again (finished cells are kept)"
    )


def test_a_missing_device_is_an_environment_error(tmp_path: Path, tiny_model_dir: Path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    data = sweep_dict(tiny_model_dir, backend={"kind": "hf", "device": "cuda:0"})
    out = tmp_path / "out"
    result = run(write_sweep(tmp_path, data), out)
    assert result.exit_code == 3, result.output
    assert (
        "error: device cuda:0 was asked for, but torch" in result.output and "Traceback" not in result.output
    )
    assert read_records(out) == []


def test_a_deleted_samples_file_marks_its_cell_for_rerun(tmp_path: Path, tiny_model_dir: Path):
    config, out = (
        write_sweep(tmp_path, sweep_dict(tiny_model_dir, methods=["none"], lengths=[128])),
        tmp_path / "out",
    )
    assert run(config, out).exit_code == 0
    (cid,) = [r.cell_id for r in read_records(out)]
    (out / "samples" / f"{cid}.jsonl").unlink()
    again = run(config, out)
    assert again.exit_code == 0 and "0 already finished" in again.output
    assert (out / "samples" / f"{cid}.jsonl").exists()


def test_stray_temporary_files_are_cleaned(tmp_path: Path, tiny_model_dir: Path):
    config, out = (
        write_sweep(tmp_path, sweep_dict(tiny_model_dir, methods=["none"], lengths=[128])),
        tmp_path / "out",
    )
    (out / "samples").mkdir(parents=True)
    stray = out / "samples" / ".abc.jsonl.x1y2.tmp"
    stray.write_text("half a file")
    fresh = out / "samples" / ".def.jsonl.x1y2.tmp"  # maybe another process writing right now
    fresh.write_text("in flight")
    os.utime(stray, (1e9, 1e9))
    assert run(config, out).exit_code == 0
    assert not stray.exists() and fresh.exists()


@pytest.mark.slow
def test_two_runs_into_one_directory_never_compute_a_cell_twice(tmp_path: Path, tiny_model_dir: Path):
    import subprocess
    import sys

    from .conftest import PLUGINS

    data = sweep_dict(
        tiny_model_dir,
        methods=["none", {"method": "pi", "factors": [2]}],
        lengths=[32, 48, 64],
        tasks=[{"task": "probe", "sleep_s": 0.4}],
        tasks_path=[str(PLUGINS / "probe.py")],
    )
    config, out = write_sweep(tmp_path, data), tmp_path / "out"
    cmd = [
        sys.executable,
        "-m",
        "longctx_eval.cli",
        "run",
        str(config),
        "--output",
        str(out),
        "--progress",
        "plain",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    logs = [p.communicate(timeout=300)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), logs
    records = read_records(out)
    assert len(records) == 6 and len({r.cell_id for r in records}) == 6  # each cell computed once
    assert any("run by another process" in log for log in logs), logs
    assert not list((out / "claims").glob("*.lock"))  # released and removed


def test_a_nan_model_fails_its_cells_as_non_finite(tmp_path: Path, tiny_model_dir: Path, docs_file: Path):
    import torch
    from transformers import AutoModelForCausalLM

    model = tmp_path / "nan-model"
    m = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        m.model.layers[1].mlp.down_proj.weight.fill_(float("nan"))  # as fp16 overflow leaves it
    m.save_pretrained(model)
    for f in tiny_model_dir.glob("tokenizer*"):
        shutil.copy(f, model)
    data = sweep_dict(
        model,
        methods=["none"],
        lengths=[128],
        tasks=[
            {"task": "passkey", "samples": 2},
            {"task": "perplexity", "dataset": str(docs_file), "documents": 2},
        ],
    )
    out = tmp_path / "out"
    result = run(write_sweep(tmp_path, data), out)
    assert result.exit_code == 1, result.output
    records = {r.task: r for r in read_records(out)}
    assert records["passkey"].status == "failed" and records["perplexity"].status == "failed"
    assert records["passkey"].error.startswith("non_finite: non-finite logits while generating token 0")
    assert records["perplexity"].error.startswith("non_finite: logits of the model's own forward: first")
    assert "HeadMismatch" not in result.output
    board = (
        json.loads((out / "leaderboard.json").read_text()) if (out / "leaderboard.json").exists() else None
    )
    assert board is None or all(
        v is None or v["value"] is None for t in board["tables"] for r in t["rows"] for v in r["values"]
    )


def test_validate_says_what_it_can_know_up_front(tmp_path: Path, tiny_model_dir: Path, docs_file: Path):
    # A fixed factor used past L·s, and p-RoPE on a model trained with full RoPE: warnings.
    data = sweep_dict(
        tiny_model_dir,
        methods=["none", {"method": "yarn", "factors": [2]}, "p_rope"],
        lengths=[128, 256],
    )
    result = runner.invoke(app, ["validate", str(write_sweep(tmp_path, data))])
    assert result.exit_code == 0, result.output
    assert (
        "warning: yarn@2 on 'tiny' scales to L·s = 128 tokens; lengths up to 256 go beyond it"
        in result.output
    )
    assert "warning: p_rope on 'tiny', trained with default RoPE" in result.output
    # Perplexity at a length longer than every document: an error before anything runs.
    short = tmp_path / "short.txt"
    short.write_text("a short document\nanother one\n")
    data = sweep_dict(tiny_model_dir, tasks=[{"task": "perplexity", "dataset": str(short)}])
    result = runner.invoke(app, ["validate", str(write_sweep(tmp_path, data))])
    assert result.exit_code == 2 and "error: tasks.0: no document of" in result.output
    assert "has the 255 tokens the longest length needs" in result.output
