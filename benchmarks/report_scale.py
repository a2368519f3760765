"""Reports at scale: `report` and `compare` on synthetic results of 1k, 10k and 100k cells.

The records are the quickstart's real ones (results/examples/quickstart: passkey, NIAH,
perplexity, key-token perplexity and the frequency-usage analysis, with their samples, rotary
frequencies and task settings), varied: more models, more method@factor labels and more lengths,
each cell a copy of the real cell of its task and method at the nearest real length, its
perplexity jittered, 1% of cells failed. Each size is written as two shards (half the models each,
written directly: records.jsonl lines through `store.dumps`, samples files copied), then timed:

- `compare` of the two shards into a new directory (merge, copy of samples, report with pictures);
- `report` of the merged directory with pictures (plots/*.png and report.html) and without.

Work grows along models, methods and lengths together (1k: 4 models × 10 methods × 5 lengths ×
5 tasks; 10k: 8 × 25 × 10 × 5; 100k: 16 × 50 × 25 × 5), so the pictures grow in number and in
size, the leaderboard in rows and the tables in columns; every model is paired with the first
(compare's question), a share of the cells that grows a little with the models (3/4, 7/8, 15/16).
Linear code takes 10× the time for 10× the cells; the target is 100k over 10k ≤ 12× for each.

Before the reports, the same sizes for what comes before them:

- plan: `api.validate` (config, model config and tokenizer, every check, every cell id) of a sweep
  of the reference model with `none` and k `pi` factors, L lengths and two tasks (passkey, NIAH):
  1k = 10 × 50 × 2, 10k = 50 × 100 × 2, 100k = 100 × 500 × 2 cells;
- store: reading a results directory's records back (`ResultStore.finished_ids`, what a resumed
  run does first) and `load_results` (what report and compare do first), on the merged directory.
  Writing is one append and fsync per cell (`ResultStore.write_cell`), linear by construction.

Also recorded: how many times `report --no-pictures` parsed a samples file per cell
(`Results.samples_files_read`), the size of report.html and of plots/.

    python benchmarks/report_scale.py [--sizes 1000 10000 100000] [--work DIR] [--pictures-up-to N]

`--pictures-up-to N` skips `compare` and `report` with pictures above N cells (on a busy 2-core
machine the 100k pair takes the better part of an hour).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, load_average, verdict, write

SOURCE = ROOT / "results" / "examples" / "quickstart"
SHAPES = {1000: (4, 10, 5), 10_000: (8, 25, 10), 100_000: (16, 50, 25)}
BASES = ["pi", "ntk", "dynamic_ntk", "llama3", "yarn", "longrope"]


def shape(size: int) -> tuple[int, int, int]:
    """(models, methods, lengths) for about `size` cells over the quickstart's five tasks."""
    if size in SHAPES:
        return SHAPES[size]
    side = max(2, round((size / 5 / 2) ** (1 / 3)))
    return max(2, size // (5 * side * 2 * side)), 2 * side, side


class Templates:
    """The real records, by task and method, sorted by length, with their files."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.records: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for line in (source / "records.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                r = json.loads(line)
                base = r["method_label"].split("@")[0]
                self.records[(r["task"], base)].append(r)
        for recs in self.records.values():
            recs.sort(key=lambda r: r["length"])
        self.tasks = sorted({t for t, _ in self.records})
        self.samples: dict[str, bytes] = {}

    def nearest(self, task: str, base: str, length: int) -> dict[str, Any]:
        recs = self.records[(task, base)]
        return min(recs, key=lambda r: abs(math.log(r["length"] / length)))

    def sample_bytes(self, cell_id: str) -> bytes | None:
        if cell_id not in self.samples:
            path = self.source / "samples" / f"{cell_id}.jsonl"
            self.samples[cell_id] = path.read_bytes() if path.exists() else b""
        return self.samples[cell_id] or None


def method_labels(n: int) -> list[tuple[str, str, float]]:
    """(label, base method, factor): 'none', then the other methods at growing factors."""
    out = [("none", "none", 1.0)]
    for k in range(n - 1):
        base, factor = BASES[k % len(BASES)], 2.0 + k // len(BASES)
        out.append((f"{base}@{factor:g}", base, factor))
    return out


def lengths(n: int) -> list[int]:
    """n distinct lengths from 256 to 2048 (the quickstart's range), geometric."""
    return sorted({round(256 * 8 ** (i / max(1, n - 1))) for i in range(n)})


def build(out: Path, templates: Templates, models: range, methods: int, n_lengths: int) -> int:
    """One results directory: every (model, method, length, task) cell. Returns the cell count."""
    rng = random.Random(f"{out.name}")
    (out / "samples").mkdir(parents=True)
    for sub in ("rope", "params"):
        shutil.copytree(templates.source / sub, out / sub)
    lines = []
    for m in models:
        model = f"reference-{m:03d}"
        for label, base, factor in method_labels(methods):
            for length in lengths(n_lengths):
                for task in templates.tasks:
                    t = templates.nearest(task, base, length)
                    r = dict(t, model=model, method_label=label, factor=factor, length=length)
                    key = f"{model}|{label}|{task}|{length}"
                    r["cell_id"] = hashlib.sha256(key.encode()).hexdigest()[:16]
                    r["metrics"] = dict(t["metrics"])
                    if r["metrics"].get("ppl") is not None:
                        r["metrics"]["ppl"] *= 1 + 0.02 * rng.random()
                    if rng.random() < 0.01:
                        r.update(status="failed", error="oom: synthetic failure", metrics={}, n_samples=0)
                    else:
                        data = templates.sample_bytes(t["cell_id"])
                        if data is not None:
                            (out / "samples" / f"{r['cell_id']}.jsonl").write_bytes(data)
                    lines.append(json.dumps(r, ensure_ascii=False) + "\n")
    (out / "records.jsonl").write_text("".join(lines), encoding="utf-8")
    manifest = {"format": "longctx-eval/results/v1", "sweep": out.name, "models": [], "versions": {}}
    (out / "manifest.json").write_text(json.dumps(manifest) + "\n")
    return len(lines)


PLAN_SHAPES = {1000: (9, 50), 10_000: (49, 100), 100_000: (99, 500)}


def plan_seconds(size: int) -> tuple[int, float, float]:
    """(cells, seconds, load average) of validating a sweep of about `size` cells."""
    from longctx_eval import api

    factors, n_lengths = PLAN_SHAPES.get(size, (9, max(1, size // 20)))
    sweep = {
        "name": "scale",
        "seed": 1,
        "models": [{"name": "reference", "path": str(ROOT / "models" / "reference")}],
        "methods": ["none", {"method": "pi", "factors": [1.0 + 0.25 * (k + 1) for k in range(factors)]}],
        "lengths": [256 + 16 * k for k in range(n_lengths)],
        "tasks": ["passkey", "niah"],
    }
    api.validate(sweep)  # warm: imports, the tokenizer, NIAH's minimum length (cached per tokenizer)
    t0 = time.perf_counter()
    plan = api.validate(sweep)
    return len(plan.cells), time.perf_counter() - t0, load_average()


def timed(fn: Any) -> tuple[float, float]:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0, load_average()


def measure(size: int, work: Path, templates: Templates, pictures: bool = True) -> dict[str, Any]:
    import longctx_eval.reporting as reporting
    from longctx_eval.reporting import compare, load_results, write_report
    from longctx_eval.store import ResultStore

    models, methods, n_lengths = shape(size)
    half = models // 2
    a, b, merged = work / f"{size}-a", work / f"{size}-b", work / f"{size}-merged"
    t0 = time.perf_counter()
    cells = build(a, templates, range(half), methods, n_lengths)
    cells += build(b, templates, range(half, models), methods, n_lengths)
    built = time.perf_counter() - t0
    row: dict[str, Any] = {"size": size, "cells": cells, "shape": [models, methods, n_lengths]}
    if pictures:
        row["compare_s"], row["compare_load"] = timed(lambda: compare([a, b], merged))
        row["pictures"] = len(list((merged / "plots").glob("*.png")))
        row["report_s"], row["report_load"] = timed(lambda: write_report(merged))
        row["report_html_mb"] = (merged / "report.html").stat().st_size / 1e6
        row["plots_mb"] = sum(p.stat().st_size for p in (merged / "plots").glob("*.png")) / 1e6
    else:  # the merged directory without the report: records and samples of both shards
        shutil.copytree(a, merged)
        with open(merged / "records.jsonl", "a", encoding="utf-8") as f:
            f.write((b / "records.jsonl").read_text(encoding="utf-8"))
        for src in (b / "samples").iterdir():
            shutil.copyfile(src, merged / "samples" / src.name)
    loaded: list[Any] = []
    original = reporting.load_results

    def counted(*args: Any, **kwargs: Any) -> Any:
        loaded.append(original(*args, **kwargs))
        return loaded[-1]

    reporting.load_results = counted  # to read how often the report parsed each samples file
    try:
        row["report_no_pictures_s"], row["report_no_pictures_load"] = timed(
            lambda: write_report(merged, pictures=False)
        )
    finally:
        reporting.load_results = original
    with_samples = sum(1 for _ in (merged / "samples").glob("*.jsonl"))
    row["samples_reads_per_file"] = loaded[-1].samples_files_read / max(1, with_samples)
    row["store_read_s"], row["store_read_load"] = timed(lambda: ResultStore(merged).finished_ids())
    row["load_results_s"], row["load_results_load"] = timed(lambda: load_results(merged))
    row["plan_cells"], row["plan_s"], row["plan_load"] = plan_seconds(size)
    shown = (
        f"compare {row['compare_s']:.1f} s, report {row['report_s']:.1f} s ({row['pictures']} pictures, "
        f"report.html {row['report_html_mb']:.2f} MB, plots {row['plots_mb']:.0f} MB)"
        if pictures
        else "no pictures"
    )
    print(
        f"{cells:>7} cells ({models} models × {methods} methods × {n_lengths} lengths × 5 tasks; "
        f"built in {built:.0f} s): {shown}, report --no-pictures {row['report_no_pictures_s']:.2f} s "
        f"({row['samples_reads_per_file']:.2f} reads per samples file), "
        f"store read {row['store_read_s']:.2f} s, load_results {row['load_results_s']:.2f} s; plan of "
        f"{row['plan_cells']} cells {row['plan_s']:.2f} s; load average {row['report_no_pictures_load']:.2f}",
        flush=True,
    )
    for d in (a, b, merged):
        shutil.rmtree(d)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--work", type=Path, default=None, help="where to build (default: a temporary dir)")
    parser.add_argument(
        "--pictures-up-to",
        type=int,
        default=None,
        help="skip compare and report with pictures above this size",
    )
    args = parser.parse_args()
    os.environ.setdefault("MPLBACKEND", "Agg")
    templates = Templates(SOURCE)
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        rows = [
            measure(size, Path(tmp), templates, args.pictures_up_to is None or size <= args.pictures_up_to)
            for size in sorted(args.sizes)
        ]
    growth = {}
    for small, large in itertools.pairwise(rows):
        cells = large["cells"] / small["cells"]
        for op in (
            "compare_s",
            "report_s",
            "report_no_pictures_s",
            "store_read_s",
            "load_results_s",
            "plan_s",
        ):
            if op not in small or op not in large:
                continue
            ratio = large[op] / small[op]
            growth[f"{op[:-2]} {large['size']}/{small['size']}"] = ratio
            target = 1.2 * cells
            print(
                f"{op[:-2]:<20} {large['cells']} over {small['cells']} cells ({cells:.1f}×): "
                f"{ratio:.1f}× ({verdict(ratio, target)}: ≤ {target:.0f}×)"
            )
    write("report_scale", {"rows": rows, "growth": growth})


if __name__ == "__main__":
    main()
