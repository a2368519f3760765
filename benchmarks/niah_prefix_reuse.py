"""NIAH prompts of one length share their haystack up to the needle: computing that prefix once.

One length, D depths, the HF backend, greedy generation: the same NIAH cell with `prefix_reuse`
on (one KV cache cropped back to the shared prefix between prompts) and off (every prompt from
scratch). Compares the tokens computed in prefill and the time, and checks the outputs are
identical. With depths spread evenly over [0, 1] the tokens computed are about (1/D + 1/2) of
from-scratch, so the target ≤ 0.6× needs D ≥ 10 (the original NIAH test uses 10–11 depths).

    python benchmarks/niah_prefix_reuse.py [--model DIR] [--length N] [--depths 11]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REFERENCE_MODEL, best_of, write


def run(model_dir: Path, length: int, depths: int, reuse: bool) -> tuple[float, list[str], int, int]:
    from longctx_eval_tasks.niah import Niah, NiahParams

    from longctx_eval.backends import HFConfig
    from longctx_eval.backends.hf import HFBackend
    from longctx_eval.config import ModelEntry
    from longctx_eval.prompts import PromptFormat
    from longctx_eval.rope import ScalingSpec, read_rope_base
    from longctx_eval.task import CellContext, TaskEnv

    backend = HFBackend(HFConfig(prefix_reuse=reuse, batch_size=1))
    backend.load(ModelEntry(name="m", path=str(model_dir)), str(model_dir))
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    task = Niah(
        NiahParams(depths=depths, samples_per_depth=1, check_retokenization=False), TaskEnv(resolve_path=Path)
    )
    ctx = CellContext(length, 1234, lm, PromptFormat(backend.tokenizer), False)
    task.run(ctx)  # warm-up
    backend.prompt_tokens = backend.prefill_tokens = 0
    seconds, outcome = best_of(1, lambda: task.run(ctx))
    return seconds, [s["output"] for s in outcome.samples], backend.prompt_tokens, backend.prefill_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REFERENCE_MODEL)
    parser.add_argument("--length", type=int, default=None, help="default: 4 × the model's native length")
    parser.add_argument("--depths", type=int, default=11)
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers import AutoConfig

    length = args.length or 4 * AutoConfig.from_pretrained(args.model).max_position_embeddings
    t_reuse, out_reuse, prompt_tokens, computed = run(args.model, length, args.depths, True)
    t_plain, out_plain, _, computed_plain = run(args.model, length, args.depths, False)
    same = out_reuse == out_plain
    ratio = computed / computed_plain
    print(f"length {length}, {args.depths} depths: prompt tokens {prompt_tokens}")
    print(
        f"computed in prefill: with prefix reuse {computed}, from scratch {computed_plain}: "
        f"{ratio:.3f}× (target ≤ 0.6×)"
    )
    print(f"time: {t_reuse:.2f} s vs {t_plain:.2f} s ({t_reuse / t_plain:.2f}×); identical outputs: {same}")
    write(
        "niah_prefix_reuse",
        {
            "model": str(args.model),
            "length": length,
            "depths": args.depths,
            "prompt_tokens": prompt_tokens,
            "prefill_tokens": {"reuse": computed, "scratch": computed_plain},
            "token_ratio": ratio,
            "seconds": {"reuse": t_reuse, "scratch": t_plain},
            "identical_outputs": same,
        },
    )
    if not same:
        sys.exit("outputs differ")


if __name__ == "__main__":
    main()
