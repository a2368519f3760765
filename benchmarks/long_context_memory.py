"""Long contexts on a laptop: peak memory of perplexity and passkey at 16k and 32k tokens on a CPU.

The shipped reference model (trained at L = 256), the default backend settings (float32, batch
size 8), one cell of each task through the harness, each in a fresh process: perplexity (truncate
mode) on 8 documents of the reference texts joined to at least 32k tokens, and passkey with 8
samples (one batch; default generation path, prefix reuse included). The figure is the process's
peak resident memory (`resource.getrusage`, ru_maxrss) after the cell, and its resident memory
before it (model loaded, prompts not yet built).

    python benchmarks/long_context_memory.py [--lengths 16384 32768]

Target: every cell within 8 GiB of peak memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REFERENCE_DOCS, REFERENCE_MODEL, load_average, verdict, write

CHILD = r"""
import json, os, resource, sys, time
from pathlib import Path
import psutil
task_name, model, docs = sys.argv[1:4]
length, threads = int(sys.argv[4]), int(sys.argv[5])
from longctx_eval.backends import HFConfig
from longctx_eval.backends.hf import HFBackend
from longctx_eval.config import ModelEntry
from longctx_eval.prompts import PromptFormat
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.task import CellContext, TaskEnv
backend = HFBackend(HFConfig(threads=threads))
backend.load(ModelEntry(name="m", path=model), model)
lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
env = TaskEnv(resolve_path=Path)
if task_name == "perplexity":
    from longctx_eval_tasks.perplexity import Perplexity, PerplexityParams
    task = Perplexity(PerplexityParams(dataset=docs, documents=8), env)
else:
    from longctx_eval_tasks.passkey import Passkey, PasskeyParams
    task = Passkey(PasskeyParams(samples=8), env)
ctx = CellContext(length, 1234, lm, PromptFormat(backend.tokenizer), False, original_context=256)
before = psutil.Process().memory_info().rss
t0 = time.perf_counter()
outcome = task.run(ctx)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
metric = outcome.metrics.ppl if outcome.metrics.ppl is not None else outcome.metrics.accuracy
print(json.dumps({"rss_before": before, "peak": peak, "seconds": seconds, "metric": metric}))
"""


def long_documents(path: Path, source: Path, min_tokens: int) -> None:
    """Eight documents, each the reference texts joined until it holds `min_tokens` tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(REFERENCE_MODEL)
    texts = [json.loads(line)["text"] for line in source.read_text().splitlines() if line.strip()]
    docs = []
    for k in range(8):
        parts: list[str] = []
        n, i = 0, k
        while n < min_tokens + 64:
            text = texts[i % len(texts)]
            parts.append(text)
            n += len(tok(text, add_special_tokens=False)["input_ids"])
            i += 1
        docs.append("\n".join(parts))
    path.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[16384, 32768])
    parser.add_argument("--tasks", nargs="+", default=["perplexity", "passkey"])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    gib = 2**30
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "long_docs.jsonl"
        long_documents(docs, REFERENCE_DOCS, max(args.lengths))
        for length in args.lengths:
            for name in args.tasks:
                env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), TRANSFORMERS_VERBOSITY="error")
                out = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        name,
                        str(REFERENCE_MODEL),
                        str(docs),
                        str(length),
                        str(args.threads),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env=env,
                )
                fig = json.loads(out.stdout.strip().splitlines()[-1])
                fig.update(task=name, length=length, load_average=load_average())
                rows.append(fig)
                print(
                    f"{name:>10} at {length:>6} tokens: peak {fig['peak'] / gib:.2f} GiB "
                    f"(model loaded: {fig['rss_before'] / gib:.2f} GiB), {fig['seconds']:.0f} s, "
                    f"metric {fig['metric']:.4g}; {verdict(fig['peak'] / gib, 8.0)} (≤ 8 GiB); "
                    f"load average {fig['load_average']:.2f}",
                    flush=True,
                )
    write("long_context_memory", {"model": str(REFERENCE_MODEL), "threads": args.threads, "rows": rows})


if __name__ == "__main__":
    main()
