"""The adaptive length search (`lengths: {search: ...}`): each method's breaking length by bisection.

A series is one model × method@factor × task. Its candidate lengths are the search grid; its cells
at a length are batches: batch 0 is the ordinary cell of that length (the very cell a fixed grid
would run), batch k > 0 runs the task's samples again with another seed. The search is a pure
function of the records it finds (`next_cells`): it walks from the start every time, so a killed
search resumes to the same decisions, and any executor can run the cells it asks for.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from longctx_eval.config import LengthSearch
from longctx_eval.plan import Cell, sample_seed
from longctx_eval.records import CellRecord
from longctx_eval.stats import wilson_interval

Verdict = Literal["pass", "fail"]


def batch_cell(cell: Cell, batch: int, sweep_seed: int) -> Cell:
    """Batch `batch` of a cell: its own id and seed (new samples), the same everything else."""
    if batch == 0:
        return cell
    digest = hashlib.sha256(f"{cell.cell_id}|batch {batch}".encode()).hexdigest()[:16]
    seed = sample_seed(sweep_seed, f"{cell.task.label}#batch{batch}", cell.length)
    return dataclasses.replace(cell, cell_id=digest, seed=seed, batch=batch, same_as=None)


@dataclass(frozen=True)
class Series:
    """One model × method@factor × task: its batch-0 cell at every grid length."""

    cells: dict[int, Cell]  # length -> cell

    @property
    def key(self) -> tuple[int, str, int]:
        first = next(iter(self.cells.values()))
        return first.model.index, first.spec.label(), first.task_index


@dataclass(frozen=True)
class SearchPlan:
    settings: LengthSearch
    series: list[Series]
    sweep_seed: int

    def all_cells(self) -> list[Cell]:
        """Every cell the search could ask for (Ray actors look cells up by id)."""
        return [
            batch_cell(c, k, self.sweep_seed)
            for s in self.series
            for c in s.cells.values()
            for k in range(self.settings.max_batches)
        ]

    def next_cells(self, series: Series, results: Mapping[str, CellRecord]) -> list[Cell]:
        """The cells the search of `series` needs next ([] once it has bracketed the break)."""
        return _Walk(self, series, results).next_cells()

    def bracket(self, series: Series, results: Mapping[str, CellRecord]) -> tuple[int | None, int | None]:
        """(longest length that passed, shortest that failed) as far as the results go."""
        walk = _Walk(self, series, results)
        walk.next_cells()
        return walk.lo, walk.hi


class _Need(Exception):
    def __init__(self, cell: Cell) -> None:
        self.cell = cell


class _Walk:
    def __init__(self, plan: SearchPlan, series: Series, results: Mapping[str, CellRecord]) -> None:
        self.plan, self.series, self.results = plan, series, results
        self.grid = sorted(series.cells)
        self.lo: int | None = None
        self.hi: int | None = None

    def verdict(self, length: int) -> Verdict:
        """Pass or fail at `length`, adding batches while the interval straddles the threshold;
        raises _Need with the next cell to run."""
        s = self.plan.settings
        correct = n = 0.0
        for k in range(s.max_batches):
            cell = batch_cell(self.series.cells[length], k, self.plan.sweep_seed)
            record = self.results.get(cell.cell_id)
            if record is None:
                raise _Need(cell)
            accuracy, count = record.metrics.accuracy, record.metrics.n
            if record.status != "ok" or accuracy is None or not count:
                return "fail"  # a failed or skipped cell: the method does not work here
            correct, n = correct + accuracy * count, n + count
            low, high = wilson_interval(correct, int(n))
            if low >= s.threshold:
                return "pass"
            if high < s.threshold:
                return "fail"
        return "pass" if correct / n >= s.threshold else "fail"  # capped: the point estimate decides

    def next_cells(self) -> list[Cell]:
        needed = []
        ends: dict[int, Verdict] = {}
        for length in (self.grid[0], self.grid[-1]):  # both ends at once: they do not depend on each other
            try:
                ends[length] = self.verdict(length)
            except _Need as need:
                needed.append(need.cell)
        if needed:
            return needed
        first, last = ends[self.grid[0]], ends[self.grid[-1]]
        if first == "fail":
            self.hi = self.grid[0]
            return []
        self.lo = self.grid[0]
        if last == "pass":
            self.lo = self.grid[-1]
            return []
        lo, hi = 0, len(self.grid) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                passed = self.verdict(self.grid[mid]) == "pass"
            except _Need as need:
                self.lo, self.hi = self.grid[lo], self.grid[hi]
                return [need.cell]
            lo, hi = (mid, hi) if passed else (lo, mid)
        self.lo, self.hi = self.grid[lo], self.grid[hi]
        return []


def search_plan(settings: LengthSearch, cells: list[Cell], sweep_seed: int) -> SearchPlan:
    """The series of a plan's batch-0 cells (one per model × method@factor × task)."""
    by_series: dict[tuple[int, str, int], dict[int, Cell]] = {}
    for c in cells:
        by_series.setdefault((c.model.index, c.spec.label(), c.task_index), {})[c.length] = c
    return SearchPlan(settings, [Series(v) for v in by_series.values()], sweep_seed)
