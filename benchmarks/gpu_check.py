"""The GPU check: throughput, and a reduced GPU sweep on HF and vLLM, into one JSON file.

Run by `benchmarks/gpu_check.sh` (which installs first). Steps, each timed and each allowed to
fail without stopping the others (a failure is recorded in the JSON with its message):

1. `gpu_throughput.py` at 4k, 16k and 32k tokens (Llama-2-7B shapes, bf16, per method);
2. a random-weight model with Llama-3-8B's shapes (32 layers, hidden 4096, MLP 14336, 32 query
   and 8 key-value heads, vocabulary 128,256, rope θ 500,000, trained length 8k), saved once in HF
   format with the reference model's tokenizer (random weights cost what trained ones cost);
3. a reduced `configs/gpu/llama3-8b.yaml` sweep on it, through `longctx-eval run`, once with the
   HF backend and once with vLLM: methods none and YaRN ×4, lengths 4k, 16k and 32k, passkey (4
   samples), NIAH (3 depths, 1 sample each) and perplexity (2 documents, truncate mode);
4. per backend and task, from the records: prompt tokens per second of cell time, an estimate of
   the fraction of peak FLOP/s (forward FLOPs of the prompts, 2·N·ℓ + 2·layers·hidden·ℓ² each,
   over the cell time: generation's decode steps and the harness's own time count against it),
   peak GPU memory (nvidia-smi, sampled every 0.5 s: vLLM takes its share up front), and vLLM's
   tokens per second over HF's.

`--dry-run` runs every step on the CPU with tiny shapes (hidden 64, 2 layers, head_dim 32, the
smallest the vLLM CPU engine takes; lengths 256 and 512), so that the script cannot fail on a
mistake when GPU time comes. vLLM is skipped where it is not installed (recorded as skipped).

    python benchmarks/gpu_check.py [--dry-run] [--out benchmarks/results/gpu_check.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REFERENCE_DOCS, REFERENCE_MODEL, ROOT, machine

LLAMA3_8B = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "vocab_size": 128256,
    "max_position_embeddings": 8192,
    "rope_theta": 500000.0,
}
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "vocab_size": 4096,
    "max_position_embeddings": 128,
    "rope_theta": 10000.0,
}
GPU_LENGTHS = [4096, 16384, 32768]
DRY_LENGTHS = [256, 512]


def make_model(directory: Path, shape: dict[str, Any], device: str, dtype: str) -> int:
    """A random Llama of `shape` saved in HF format with the reference tokenizer; its weight count."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(REFERENCE_MODEL)
    assert len(tok) <= shape["vocab_size"], "the tokenizer's ids must fit the embedding"
    fields = {k: v for k, v in shape.items() if k != "rope_theta"}
    config = LlamaConfig(
        **fields,
        rope_parameters={"rope_type": "default", "rope_theta": shape["rope_theta"]},
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    torch.set_default_dtype(getattr(torch, dtype))  # built in its dtype: no float32 copy of 8B weights
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    count = sum(p.numel() for p in model.parameters())
    del model
    return count


def long_documents(path: Path, min_tokens: int, count: int = 2) -> None:
    """`count` documents, each the reference texts joined until it holds `min_tokens` tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(REFERENCE_MODEL)
    texts = [json.loads(line)["text"] for line in REFERENCE_DOCS.read_text().splitlines() if line.strip()]
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts]
    with path.open("w") as f:
        for k in range(count):
            parts, n, i = [], 0, k
            while n < min_tokens + 64:
                parts.append(texts[i % len(texts)])
                n += lengths[i % len(texts)]
                i += 1
            f.write(json.dumps({"text": "\n\n".join(parts)}) + "\n")


def sweep_config(
    model: Path, docs: Path, backend: dict[str, Any], lengths: list[int], native: int
) -> dict[str, Any]:
    return {
        "name": f"gpu-check-{backend['kind']}",
        "seed": 1234,
        "backend": backend,
        "models": [{"name": "llama3-8b-shape-random", "path": str(model), "original_context": native}],
        # YaRN at 8: vLLM's YaRN cache covers L·s positions, and at s = 4 the longest length (4L)
        # plus its generation budget would not fit (its cells are skipped, as the first CI run showed).
        "methods": ["none", {"method": "yarn", "factors": [8]}],
        "lengths": lengths,
        "tasks": [
            {"task": "passkey", "samples": 4},
            {"task": "niah", "depths": 3, "samples_per_depth": 1},
            {"task": "perplexity", "dataset": str(docs), "documents": 2, "mode": "truncate"},
        ],
    }


def gpu_name() -> str | None:
    """The first GPU's name from nvidia-smi (this process never initialises CUDA: vLLM wants the
    GPU's memory free)."""
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out.splitlines()[0] if out else None


class GpuMemory:
    """The most GPU memory in use (nvidia-smi, every 0.5 s) while the block runs; None without it."""

    def __init__(self) -> None:
        self.peak_mib: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                    capture_output=True,
                    text=True,
                    timeout=5,
                ).stdout
                used = max(float(x) for x in out.split())
                self.peak_mib = max(self.peak_mib or 0.0, used)
            except (OSError, ValueError, subprocess.SubprocessError):
                return
            self._stop.wait(0.5)

    def __enter__(self) -> GpuMemory:
        if shutil.which("nvidia-smi"):
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def step(
    results: dict[str, Any], name: str, command: list[str], timeout: float, ok: tuple[int, ...] = (0,)
) -> bool:
    """Run one step as a child process; record its time, exit status and output's tail; whether
    its exit status is one of `ok`."""
    print(f"== {name}: {' '.join(command)}", flush=True)
    t0 = time.perf_counter()
    with GpuMemory() as memory:
        try:
            proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
            rc, out = proc.returncode, proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            rc, out = 124, f"timed out after {timeout:.0f} s\n{exc.stdout or ''}{exc.stderr or ''}"
    seconds = time.perf_counter() - t0
    tail = out if isinstance(out, str) else out.decode(errors="replace")
    results[name] = {
        "seconds": seconds,
        "exit_code": rc,
        "gpu_peak_memory_gib": memory.peak_mib / 1024 if memory.peak_mib is not None else None,
        "output_tail": tail[-3000:],
    }
    print(f"   exit {rc} after {seconds:.1f} s", flush=True)
    if rc not in ok:
        print(tail[-3000:], flush=True)
    return rc in ok


def per_task(
    directory: Path, weights: int, layers: int, hidden: int, peak_tflops: float | None
) -> dict[str, Any]:
    """Prompt tokens per second of cell time, per task, from a results directory's records."""
    out: dict[str, Any] = {}
    path = directory / "records.jsonl"
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        r = json.loads(line)
        t = out.setdefault(
            r["task_name"],
            {"cells": 0, "failed": 0, "skipped": 0, "tokens": 0, "flops": 0.0, "seconds": 0.0},
        )
        t["cells"] += 1
        if r["status"] == "skipped":  # a request the backend cannot serve, with its reason
            t["skipped"] += 1
            t.setdefault("skips", []).append(str(r.get("reason") or r.get("error"))[:300])
            continue
        if r["status"] != "ok":
            t["failed"] += 1
            t.setdefault("errors", []).append(str(r.get("error"))[:300])
            continue
        n, length = r["n_samples"], r["length"]
        t["tokens"] += n * length
        t["flops"] += n * (2.0 * weights * length + 2.0 * layers * hidden * length * length)
        t["seconds"] += r["duration_s"] or 0.0
    for t in out.values():
        t["tokens_per_s"] = t["tokens"] / t["seconds"] if t["seconds"] else None
        rate = t["flops"] / t["seconds"] if t["seconds"] else None
        t["fraction_of_peak_flops"] = rate / (peak_tflops * 1e12) if rate and peak_tflops else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes: checks the script itself")
    parser.add_argument(
        "--out", type=Path, default=None, help="default: benchmarks/results/gpu_check[_dry_run].json"
    )
    parser.add_argument("--no-vllm", action="store_true", help="skip the vLLM sweep")
    parser.add_argument(
        "--work", type=Path, default=None, help="where the model and results go (default: a temp dir)"
    )
    parser.add_argument(
        "--make-model", type=Path, default=None, help=argparse.SUPPRESS
    )  # the child of step 2
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    dry = args.dry_run
    args.out = args.out or ROOT / "benchmarks" / "results" / (
        "gpu_check_dry_run.json" if dry else "gpu_check.json"
    )
    shape, lengths = (TINY, DRY_LENGTHS) if dry else (LLAMA3_8B, GPU_LENGTHS)
    if args.make_model is not None:  # in a child process, so this one never holds GPU memory
        weights = make_model(
            args.make_model, shape, "cpu" if dry else "cuda", "float32" if dry else "bfloat16"
        )
        long_documents(args.make_model.parent / "docs.jsonl", max(lengths))
        (args.make_model.parent / "weights.txt").write_text(str(weights))
        return
    from gpu_throughput import PEAKS

    gpu = None if dry else gpu_name()
    if not dry and gpu is None:
        sys.exit("needs a CUDA GPU and nvidia-smi (or --dry-run)")
    peak = next((v for k, v in PEAKS.items() if gpu and k in gpu), None)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu-check-"))
    work.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    cli = [python, "-m", "longctx_eval.cli"] if not shutil.which("longctx-eval") else ["longctx-eval"]
    report: dict[str, Any] = {
        "benchmark": "gpu_check",
        "dry_run": dry,
        # common.machine() asks torch for the GPU's name, which would hold a CUDA context (and
        # memory vLLM wants) in this process for the whole check: nvidia-smi's name instead
        "machine": machine() if dry else {"platform": platform.platform(), "cpus": os.cpu_count()},
        "gpu": gpu,
        "peak_tflops": peak,
        "shape": shape,
        "lengths": lengths,
        "steps": {},
    }
    t_start = time.perf_counter()

    # 1. throughput (its own JSON, folded in)
    throughput = ["--dry-run"] if dry else ["--lengths", *map(str, GPU_LENGTHS)]
    if step(report["steps"], "gpu_throughput", [python, "benchmarks/gpu_throughput.py", *throughput], 240):
        saved = (
            ROOT
            / "benchmarks"
            / "results"
            / ("gpu_throughput_dry_run.json" if dry else "gpu_throughput.json")
        )
        report["throughput"] = json.loads(saved.read_text())["rows"]

    # 2. the model and the documents
    model_dir, docs = work / "model", work / "docs.jsonl"
    make = [
        python,
        "benchmarks/gpu_check.py",
        "--make-model",
        str(model_dir),
        *(["--dry-run"] if dry else []),
    ]
    if not step(report["steps"], "model", make, 300):
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
        sys.exit(f"could not build the model; see {args.out}")
    weights = int((work / "weights.txt").read_text())
    report["weights"] = weights

    # 3. the sweep on each backend
    backends: dict[str, dict[str, Any]] = {
        "hf": {"kind": "hf", "dtype": "float32" if dry else "bfloat16", "batch_size": 1 if not dry else 4},
        # eager: CUDA graph capture and compilation take minutes of the ten
        "vllm": {"kind": "vllm", "dtype": "float32" if dry else "bfloat16", "enforce_eager": True},
    }
    if dry:
        backends["hf"]["device"] = "cpu"
    have_vllm = importlib.util.find_spec("vllm") is not None  # not imported here: it would claim the GPU
    report["sweep"] = {}
    for name, backend in backends.items():
        if name == "vllm" and (args.no_vllm or not have_vllm):
            report["sweep"][name] = {"skipped": "--no-vllm" if args.no_vllm else "vllm is not installed"}
            continue
        config = sweep_config(model_dir, docs, backend, lengths, shape["max_position_embeddings"])
        path = work / f"{name}.json"  # JSON is YAML
        path.write_text(json.dumps(config, indent=1))
        out = work / f"results-{name}"
        ok = step(
            report["steps"],
            f"sweep_{name}",
            [*cli, "run", str(path), "-o", str(out), "--progress", "plain"],
            300,
            (0, 1),  # 1: some cell failed (recorded in the records, counted below)
        )
        report["sweep"][name] = {
            "completed": ok,
            "gpu_peak_memory_gib": report["steps"][f"sweep_{name}"]["gpu_peak_memory_gib"],
            "tasks": per_task(out, weights, shape["num_hidden_layers"], shape["hidden_size"], peak),
        }

    # 4. vLLM against HF, per task
    hf, vl = report["sweep"]["hf"].get("tasks", {}), report["sweep"]["vllm"].get("tasks", {})
    report["vllm_over_hf_tokens_per_s"] = {
        task: vl[task]["tokens_per_s"] / hf[task]["tokens_per_s"]
        for task in hf
        if task in vl and hf[task]["tokens_per_s"] and vl[task]["tokens_per_s"]
    }
    report["total_seconds"] = time.perf_counter() - t_start
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    for name, s in report["sweep"].items():
        for task, t in s.get("tasks", {}).items():
            rate = t["tokens_per_s"]
            note = f"{t['failed']} of {t['cells']} cells failed, {t['skipped']} skipped"
            print(f"  {name:>5} {task:<11} {rate or 0:10.0f} prompt tokens/s, {note}")
    print(f"  vLLM / HF tokens/s: {report['vllm_over_hf_tokens_per_s']}")
    failed = [
        k for k, v in report["steps"].items() if v.get("exit_code") not in (None, 0, 1 if "sweep" in k else 0)
    ]
    cells_failed = sum(t["failed"] for s in report["sweep"].values() for t in s.get("tasks", {}).values())
    if failed or (dry and cells_failed):
        sys.exit(f"failed: {failed or f'{cells_failed} cells'}")


if __name__ == "__main__":
    main()
