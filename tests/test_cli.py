"""`ls` and `rope`: the commands that need no model weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from longctx_eval.cli import app

runner = CliRunner()


def test_ls_lists_methods_tasks_backends():
    out = runner.invoke(app, ["ls"])
    assert out.exit_code == 0
    for name in (
        "none",
        "pi",
        "ntk",
        "dynamic_ntk",
        "yarn",
        "longrope",
        "llama3",
        "p_rope",
        "passkey",
        "niah",
        "perplexity",
        "hf",
    ):
        assert f"  {name} " in out.output


def llama2_dir(tmp_path: Path) -> Path:
    from transformers import LlamaConfig

    LlamaConfig(hidden_size=4096, num_attention_heads=32, max_position_embeddings=4096).save_pretrained(
        tmp_path
    )
    return tmp_path


def test_rope_json(tmp_path: Path):
    out = runner.invoke(
        app, ["rope", "--model", str(llama2_dir(tmp_path)), "--method", "yarn", "--factor", "2", "--json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert len(data["inv_freq"]) == len(data["base_inv_freq"]) == 64
    assert data["attention_factor"] == pytest.approx(1.0693147, rel=1e-6)
    assert data["rope_parameters"]["original_max_position_embeddings"] == 4096
    assert data["target_length"] == 8192
    kinds = [p["kind"] for p in data["pairs"]]
    assert kinds.count("extrapolated") == 21 and kinds.count("interpolated") == 18


def test_rope_table_and_params(tmp_path: Path):
    out = runner.invoke(
        app,
        [
            "rope",
            "--model",
            str(llama2_dir(tmp_path)),
            "--method",
            "yarn",
            "--factor",
            "4",
            "--param",
            "beta_fast=16",
            "--target-length",
            "10000",
        ],
    )
    assert out.exit_code == 0, out.output
    assert "rotations @ 10000" in out.output and '"beta_fast": 16' in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--method", "nope"], "--method: unknown method 'nope'"),
        (["--method", "yarn", "--param", "beta_fst=3"], "--param beta_fst: unknown key"),
        (["--method", "pi", "--factor", "0.5"], "factor must be a number >= 1"),
    ],
)
def test_rope_errors(tmp_path: Path, args: list[str], message: str):
    out = runner.invoke(app, ["rope", "--model", str(llama2_dir(tmp_path)), *args])
    assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output


def test_longrope_factors_file_round_trips_into_rope(tmp_path: Path):
    model = llama2_dir(tmp_path / "m")
    factors = tmp_path / "f.json"
    out = runner.invoke(
        app, ["longrope-factors", "--model", str(model), "--factor", "4", "--output", str(factors)]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(factors.read_text())
    assert data["searched"] is False and len(data["long_factor"]) == 64
    shown = runner.invoke(
        app, ["rope", "--model", str(model), "--method", "longrope", "--factors-file", str(factors), "--json"]
    )
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["factor"] == 4.0
