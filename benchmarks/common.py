"""Shared by the benchmark scripts: where results go, and the facts printed with every figure.

Benchmarks compare two things measured side by side in one run (these machines are shared and
noisy), and report ratios, never absolute timings as a pass/fail.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE_MODEL = ROOT / "models" / "reference"
REFERENCE_DOCS = ROOT / "data" / "reference_docs.jsonl"


def machine() -> dict[str, Any]:
    import torch
    import transformers

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def best_of(n: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest of n timed runs (noise only ever adds time) and the last result."""
    best, result = float("inf"), None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def write(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **figures}, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path
