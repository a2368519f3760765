"""Sweep overhead on the quickstart: weight loads, and wall time over time inside the model.

Runs `configs/quickstart.yaml` in-process on the HF backend and measures
- how many times weights were read from disk (target: once per model);
- the run's wall time over the time spent inside the model's generate / NLL calls (target ≤ 1.25):
  everything else (prompt building, scoring, records, fsyncs, rope swaps) is overhead.

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
from common import ROOT, write


class Quiet:
    def start(self, total: int, already_done: int, title: str) -> None: ...
    def cell_started(self, description: str) -> None: ...
    def cell_finished(self, record: dict[str, Any]) -> None: ...
    def note(self, message: str) -> None: ...
    def finish(self) -> None: ...


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quickstart.yaml")
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.chdir(ROOT)
    from longctx_eval.backends import BACKENDS
    from longctx_eval.backends.hf import HFLanguageModel
    from longctx_eval.config import load_sweep
    from longctx_eval.plan import make_plan
    from longctx_eval.runner import run_plan

    inside = {"seconds": 0.0, "calls": 0}

    def timed(fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*a: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                inside["seconds"] += time.perf_counter() - t0
                inside["calls"] += 1

        return wrapper

    # Measuring, not changing: the model calls are timed where they happen.
    HFLanguageModel.generate = timed(HFLanguageModel.generate)  # type: ignore[method-assign]
    HFLanguageModel.token_nll = timed(HFLanguageModel.token_nll)  # type: ignore[method-assign]
    t_plan = time.perf_counter()
    plan = make_plan(load_sweep(args.config))
    t_plan = time.perf_counter() - t_plan
    backend = BACKENDS.get("hf").create(plan.config.backend)
    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        summary = run_plan(plan, Path(out), Quiet(), backend=backend)  # type: ignore[arg-type]
        wall = time.perf_counter() - t0
    ratio = wall / inside["seconds"]
    loads = getattr(backend, "weight_loads", None)
    print(f"{len(plan.cells)} cells ({summary.counts}), {len(plan.models)} model(s)")
    print(f"weights read from disk: {loads} time(s) (target: once per model)")
    print(
        f"run wall time {wall:.1f} s, inside model calls {inside['seconds']:.1f} s ({inside['calls']} calls)"
    )
    print(
        f"wall / model time: {ratio:.3f} (target ≤ 1.25); "
        f"plan (configs, tokenizers, checks) took {t_plan:.1f} s more"
    )
    write(
        "sweep_overhead",
        {
            "config": str(args.config.relative_to(ROOT)),
            "cells": len(plan.cells),
            "models": len(plan.models),
            "weight_loads": loads,
            "wall_seconds": wall,
            "model_seconds": inside["seconds"],
            "model_calls": inside["calls"],
            "ratio": ratio,
            "plan_seconds": t_plan,
        },
    )


if __name__ == "__main__":
    main()
