"""Prefix reuse: the default generation path against plain batching, NIAH and passkey, 1k and 4k.

The HF backend computes the prefix that a batch's prompts share once (NIAH and passkey prompts of
one length share their haystack up to the needle) and batches the tails; plain batching
(`prefix_reuse: false`) computes every prompt whole. Both write the KV cache in place. A third
side is plain batching with transformers' own DynamicCache, which copies the whole cache at every
decoding step (what `prefix_reuse: false` did before).

Each side runs the same cell through the harness (the task builds its prompts, generates, scores)
on the shipped reference model, default backend settings (batch size 8), threads pinned to the
same count; the sides are interleaved round after round, without and then with a second process
multiplying matrices on the same cores. Reported: each side's minimum and median, the ratio of the
minima, the tokens computed in prefill, and whether the outputs are identical (they must be).

    python benchmarks/prefix_reuse.py [--lengths 1024 4096] [--rounds 3] [--conditions idle load]

OpenMP reads its wait policy once, at start: under load the command line sets
OMP_WAIT_POLICY=PASSIVE (`longctx_eval/threads.py`), so measure that case in a second run:
`OMP_WAIT_POLICY=PASSIVE python benchmarks/prefix_reuse.py --conditions load --name prefix_reuse_passive`.

Target: the default is never slower than plain batching (ratio of minima ≤ 1.0) in any case. With
spinning threads and other processes keeping half a core or more busy, the default turns sharing
off (`prefix_sharing.contended`): both sides then run plain batching, and the ratio is noise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REFERENCE_MODEL, background_load, interleaved, pin_threads, write


def cell(task_name: str) -> Any:
    from longctx_eval_tasks.niah import Niah, NiahParams
    from longctx_eval_tasks.passkey import Passkey, PasskeyParams

    from longctx_eval.task import TaskEnv

    env = TaskEnv(resolve_path=Path)
    if task_name == "niah":  # the original NIAH test's 11 depths, one needle each
        return Niah(NiahParams(depths=11, samples_per_depth=1), env)
    return Passkey(PasskeyParams(), env)  # 20 samples, one per depth bin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REFERENCE_MODEL)
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--tasks", nargs="+", default=["niah", "passkey"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--conditions", nargs="+", default=["idle", "load"], choices=["idle", "load"])
    parser.add_argument("--name", default="prefix_reuse", help="results file: benchmarks/results/NAME.json")
    parser.add_argument(
        "--no-dynamic-cache", action="store_true", help="leave out the third side (transformers' own cache)"
    )
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    threads = pin_threads(args.threads)
    from transformers import DynamicCache

    from longctx_eval.backends import HFConfig, hf, prefix_sharing
    from longctx_eval.backends.hf import HFBackend
    from longctx_eval.config import ModelEntry
    from longctx_eval.prompts import PromptFormat
    from longctx_eval.rope import ScalingSpec, read_rope_base
    from longctx_eval.task import CellContext
    from longctx_eval.threads import spinning

    backend = HFBackend(HFConfig(threads=threads))  # the defaults: batch 8, prefix_reuse on
    backend.load(ModelEntry(name="m", path=str(args.model)), str(args.model))
    lm = backend.apply(ScalingSpec("none").resolve(read_rope_base(backend.config)))
    in_place = hf.kv_cache

    def dynamic_cache(model: Any, capacity: int) -> Any:
        return DynamicCache(config=model.config)

    def side(task: Any, ctx: Any, reuse: bool, in_place_cache: bool = True) -> Any:
        def run() -> tuple[list[str], int]:
            object.__setattr__(backend, "cfg", backend.cfg.model_copy(update={"prefix_reuse": reuse}))
            hf.kv_cache = in_place if in_place_cache else dynamic_cache
            before = backend.prefill_tokens
            try:
                outcome = task.run(ctx)
            finally:
                hf.kv_cache = in_place
            return [s.output for s in outcome.samples], backend.prefill_tokens - before

        return run

    rows = []
    for condition in args.conditions:
        with background_load(args.threads) if condition == "load" else contextlib.nullcontext():
            for length in args.lengths:
                for name in args.tasks:
                    task = cell(name)
                    ctx = CellContext(length, 1234, lm, PromptFormat(backend.tokenizer), False)
                    sides = {
                        "default (prefix reuse)": side(task, ctx, True),
                        "plain batching": side(task, ctx, False),
                    }
                    if not args.no_dynamic_cache:
                        sides["plain, DynamicCache"] = side(task, ctx, False, in_place_cache=False)
                    comparison = interleaved(sides, args.rounds)
                    outputs = {k: s.result[0] for k, s in comparison.sides.items()}
                    tokens = {k: s.result[1] for k, s in comparison.sides.items()}
                    identical = len({tuple(o) for o in outputs.values()}) == 1
                    ratio = comparison.ratio("default (prefix reuse)", "plain batching")
                    print(f"{condition}, {name} at {length} ({len(outputs['plain batching'])} prompts):")
                    print("\n".join(comparison.lines()))
                    print(
                        f"  default / plain batching: {ratio:.3f} "
                        f"({'not slower' if ratio <= 1.0 else 'SLOWER: misses the target'}); "
                        f"prefill tokens {tokens['default (prefix reuse)']} of {tokens['plain batching']}; "
                        f"identical outputs: {identical}; other processes' busy cores "
                        f"{prefix_sharing._OTHERS._cores:.2f} (spinning threads: {spinning()})",
                        flush=True,
                    )
                    rows.append(
                        {
                            "condition": condition,
                            "task": name,
                            "length": length,
                            "prompts": len(outputs["plain batching"]),
                            "ratio_default_to_plain": ratio,
                            "ratio_plain_to_dynamic_cache": None
                            if args.no_dynamic_cache
                            else comparison.ratio("plain batching", "plain, DynamicCache"),
                            # what the contention guard saw last (prefix_sharing.contended)
                            "others_busy_cores": prefix_sharing._OTHERS._cores,
                            "spinning": spinning(),
                            "prefill_tokens": tokens,
                            "identical_outputs": identical,
                            **comparison.summary(),
                        }
                    )
    write(args.name, {"model": str(args.model), "threads": threads, "rows": rows})
    if not all(r["identical_outputs"] for r in rows):
        sys.exit("outputs differ")


if __name__ == "__main__":
    main()
