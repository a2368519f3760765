"""Sweep overhead on the quickstart: weight loads, and wall time over time inside the model.

Runs `configs/quickstart.yaml` in-process on the HF backend and measures
- how many times weights were read from disk (target: once per model);
- the run's wall time over the time spent inside the model's generate / NLL calls (target ≤ 1.25):
  everything else (prompt building, scoring, records, fsyncs, rope swaps) is overhead. The
  frequency-usage analysis runs the decoder itself (with its measuring hooks), not through those
  calls: its time is reported apart, and the ratio is given with and without it;
- throughput: cells per second of wall time, and tokens per second through the model (prompt and
  generated tokens of every generate call, every sequence of every NLL call) over the wall time
  and over the time inside the model. A regression inside the model shows here, where the ratio
  alone (both sides slower) would hide it.

    python benchmarks/sweep_overhead.py [--config configs/quickstart.yaml]
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, load_average, pin_threads, verdict, write


class Quiet:
    def start(self, total: int, already_done: int, title: str) -> None: ...
    def cell_started(self, description: str) -> None: ...
    def cell_finished(self, record: dict[str, Any]) -> None: ...
    def note(self, message: str) -> None: ...
    def finish(self, stopped: bool = False) -> None: ...


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quickstart.yaml")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    threads = pin_threads(args.threads)
    os.chdir(ROOT)
    from longctx_eval.backends import BACKENDS
    from longctx_eval.backends.hf import HFLanguageModel
    from longctx_eval.config import load_sweep
    from longctx_eval.plan import make_plan
    from longctx_eval.runner import run_plan

    inside = {"seconds": 0.0, "calls": 0, "tokens": 0}

    def timed(fn: Any, generated: bool) -> Any:
        @functools.wraps(fn)
        def wrapper(self: Any, sequences: Any, *a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                out = fn(self, sequences, *a, **kw)
            finally:
                inside["seconds"] += time.perf_counter() - t0
                inside["calls"] += 1
            inside["tokens"] += sum(len(s) for s in sequences)
            if generated:
                inside["tokens"] += sum(len(g.token_ids) for g in out)
            return out

        return wrapper

    # Measuring, not changing: the model calls are timed where they happen.
    HFLanguageModel.generate = timed(HFLanguageModel.generate, True)  # type: ignore[method-assign]
    HFLanguageModel.token_nll = timed(HFLanguageModel.token_nll, False)  # type: ignore[method-assign]
    # The frequency-usage analysis runs the decoder itself, one sequence per forward pass with its
    # measuring hooks (not through generate or token_nll): timed apart, as the task's own work.
    import longctx_eval_tasks.analysis as analysis

    analysis_time = {"seconds": 0.0}
    measure = analysis.measure

    def timed_measure(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return measure(*a, **kw)
        finally:
            analysis_time["seconds"] += time.perf_counter() - t0

    analysis.measure = timed_measure
    t_plan = time.perf_counter()
    plan = make_plan(load_sweep(args.config))
    t_plan = time.perf_counter() - t_plan
    backend_config = plan.config.backend.model_copy(update={"threads": threads})
    backend = BACKENDS.get("hf").create(backend_config)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = run_plan(plan, Path(out), Quiet(), backend=backend)  # type: ignore[arg-type]
        wall = time.perf_counter() - t0
    ratio = wall / inside["seconds"]
    loads = getattr(backend, "weight_loads", None)
    load = load_average()
    cells = len(plan.cells)
    print(f"{cells} cells ({summary.counts}), {len(plan.models)} model(s), {threads} threads")
    print(f"weights read from disk: {loads} time(s) (target: once per model)")
    print(
        f"run wall time {wall:.1f} s, inside model calls {inside['seconds']:.1f} s "
        f"({inside['calls']} calls); load average {load:.2f}"
    )
    print(
        f"wall / model time: {ratio:.3f} ({verdict(ratio, 1.25)}: ≤ 1.25); "
        f"plan (configs, tokenizers, checks) took {t_plan:.1f} s more"
    )
    with_analysis = wall / (inside["seconds"] + analysis_time["seconds"])
    print(
        f"the analysis task's own forward passes and measurements: {analysis_time['seconds']:.1f} s; "
        f"wall / (model time + those): {with_analysis:.3f}"
    )
    print(
        f"throughput: {cells / wall:.3f} cells/s; {inside['tokens']} tokens through the model: "
        f"{inside['tokens'] / wall:.0f} tokens/s of wall time, {inside['tokens'] / inside['seconds']:.0f} "
        "tokens/s inside the model"
    )
    write(
        "sweep_overhead",
        {
            "config": str(args.config.relative_to(ROOT)),
            "cells": cells,
            "models": len(plan.models),
            "threads": threads,
            "weight_loads": loads,
            "wall_seconds": wall,
            "model_seconds": inside["seconds"],
            "model_calls": inside["calls"],
            "model_tokens": inside["tokens"],
            "ratio": ratio,
            "analysis_seconds": analysis_time["seconds"],
            "ratio_with_analysis_forwards": with_analysis,
            "cells_per_second": cells / wall,
            "tokens_per_second_wall": inside["tokens"] / wall,
            "tokens_per_second_model": inside["tokens"] / inside["seconds"],
            "plan_seconds": t_plan,
            "load_average": load,
        },
    )


if __name__ == "__main__":
    main()
