"""Shared by the benchmark scripts: interleaved timing, background load, the facts printed with
every figure, and where results go.

These machines are shared and noisy (2 cores; another developer's training run may hold one of
them), so a benchmark never times one side fully and then the other: it runs them interleaved,
A B then B A, round after round (`interleaved`), with the same thread count on both sides, and
reports each side's minimum and median and the ratio of the minima (noise only ever adds time, so
the minimum is the best estimate of the cost itself). The 1-minute load average is recorded with
every timing. Absolute timings are printed for context, never used as a pass/fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
REFERENCE_MODEL = ROOT / "models" / "reference"
REFERENCE_DOCS = ROOT / "data" / "reference_docs.jsonl"


def pin_threads(threads: int) -> int:
    """Use exactly `threads` torch threads in this process (both sides of a comparison share them)."""
    import torch

    torch.set_num_threads(threads)
    return torch.get_num_threads()


def load_average() -> float:
    return os.getloadavg()[0]


def machine() -> dict[str, Any]:
    import torch
    import transformers

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "load_average": os.getloadavg(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


@dataclass
class Side:
    """The timings of one side of a comparison, each with the load average when it ended."""

    name: str
    seconds: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    result: Any = None  # what the last run returned

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def summary(self) -> dict[str, Any]:
        return {
            "min_s": self.min,
            "median_s": self.median,
            "seconds": self.seconds,
            "load_average": self.loads,
        }


@dataclass
class Comparison:
    """Interleaved timings of several sides; the first is the one the others are compared with."""

    sides: dict[str, Side]
    rounds: int

    def ratio(self, a: str, b: str) -> float:
        """min(a) / min(b)."""
        return self.sides[a].min / self.sides[b].min

    def load_range(self) -> tuple[float, float]:
        loads = [x for s in self.sides.values() for x in s.loads]
        return min(loads), max(loads)

    def summary(self) -> dict[str, Any]:
        low, high = self.load_range()
        return {
            "rounds": self.rounds,
            "load_average_range": [low, high],
            "sides": {name: side.summary() for name, side in self.sides.items()},
        }

    def lines(self, unit: str = "s") -> list[str]:
        first = next(iter(self.sides))
        out = []
        for name, s in self.sides.items():
            ratio = "" if name == first else f"   min ratio to {first}: {self.ratio(name, first):.3f}"
            out.append(f"  {name:<28} min {s.min:8.3f} {unit}  median {s.median:8.3f} {unit}{ratio}")
        low, high = self.load_range()
        out.append(f"  ({self.rounds} interleaved rounds; load average {low:.2f}–{high:.2f})")
        return out


def interleaved(sides: Mapping[str, Callable[[], Any]], rounds: int, warmup: bool = True) -> Comparison:
    """Time each side `rounds` times, interleaved: A B …, then … B A, alternating, so that a load
    that comes or goes during the run falls on every side alike. One untimed warm-up run each
    first (caches, allocator, lazy imports) unless `warmup` is False."""
    names = list(sides)
    if warmup:
        for name in names:
            sides[name]()
    out = {name: Side(name) for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            result = sides[name]()
            out[name].seconds.append(time.perf_counter() - t0)
            out[name].loads.append(load_average())
            out[name].result = result
    return Comparison(out, rounds)


_LOAD = """
import os, sys, torch
torch.set_num_threads(int(sys.argv[1]))
a = torch.randn(1024, 1024)
print("ready", flush=True)
while True:
    a = torch.tanh(a @ a)
"""


@contextlib.contextmanager
def background_load(threads: int = 2) -> Iterator[int]:
    """A second process multiplying matrices with `threads` threads for as long as the block runs
    (the other busy process of a shared machine). Yields its process id."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOAD, str(threads)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        proc.stdout.readline()  # started and busy
        time.sleep(2.0)  # let the load average notice it
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def write(name: str, figures: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"benchmark": name, "machine": machine(), **figures}, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")
    return path


def verdict(value: float, target: float, at_most: bool = True) -> str:
    """'meets' or 'MISSES' a target, for the printed line (a miss is never printed as a result)."""
    ok = value <= target if at_most else value >= target
    return "meets the target" if ok else "MISSES the target"
