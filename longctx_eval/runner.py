"""Run a plan: skip finished cells, hand the rest to the executor, write each as it finishes.

The runner is the only writer of the results directory, whichever executor computes the cells.
A SIGINT/SIGTERM stops the sweep between writes (see `signals`); failures inside cells are
records, not exceptions.
"""

from __future__ import annotations

import contextlib
import fcntl
import signal
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longctx_eval import __version__
from longctx_eval.backends import Backend
from longctx_eval.executors import Finished
from longctx_eval.executors.session import session_opener
from longctx_eval.manifest import git_sha, hardware, now, versions
from longctx_eval.plan import Cell, Plan

if TYPE_CHECKING:
    from longctx_eval.length_search import SearchPlan
from longctx_eval.payloads import classes_of, typed_record
from longctx_eval.progress import Progress
from longctx_eval.records import CellRecord
from longctx_eval.shard import Shard, shard_cells, shard_series
from longctx_eval.signals import GracefulStop, StopRequested
from longctx_eval.store import FINISHED, MANIFEST, RECORDS, ResultStore, latest_by_cell, read_records
from longctx_eval.worker import shared_record

RESULTS_FORMAT = "longctx-eval/results/v1"


@dataclass
class RunSummary:
    out_dir: Path
    total: int
    already_done: int
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "failed": 0, "skipped": 0})
    stopped_by: int | None = None  # the signal that stopped the run
    taken_elsewhere: int = 0  # cells another process sharing the directory computed meanwhile
    report_written: bool = False  # api.run wrote this directory's leaderboard.json after the run

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None

    @property
    def has_results(self) -> bool:
        """Some cell of the plan is finished (now or by an earlier run): there is something to report."""
        return self.counts["ok"] + self.already_done > 0

    @property
    def left(self) -> int:
        return self.total - self.already_done - sum(self.counts.values()) - self.taken_elsewhere

    def counts_line(self) -> str:
        c = self.counts
        elsewhere = f", {self.taken_elsewhere} run by another process" if self.taken_elsewhere else ""
        return (
            f"{self.total} cells: {c['ok']} ok, {c['failed']} failed, {c['skipped']} skipped, "
            f"{self.already_done} already finished{elsewhere} → {self.out_dir}"
        )

    def failure_lines(self) -> list[str]:
        """Where to look when cells failed: the errors are in the records, with their tracebacks."""
        if not self.failed:
            return []
        return [
            f"{self.failed} cells failed; each record in {self.out_dir / 'records.jsonl'} with status "
            "'failed' holds its `error` and `traceback`, and report.html lists them. Running the same "
            "command again retries them."
        ]

    def stop_message(self) -> str:
        name = signal.Signals(self.stopped_by).name if self.stopped_by else "a signal"
        return (
            f"stopped by {name}: {self.total - self.left} of {self.total} cells finished, {self.left} left; "
            f"run the same command again to resume ({self.out_dir})"
        )


def run_plan(
    plan: Plan, out_dir: Path, progress: Progress, backend: Backend | None = None, shard: Shard | None = None
) -> RunSummary:
    """Run the plan's unfinished cells into `out_dir`. An exception before any cell was written (a
    device that is not there, say) leaves the directory as it was: no manifest, no lock file."""
    before = _DirectoryState(Path(out_dir))
    try:
        return _run_plan(plan, out_dir, progress, backend, shard)
    except Exception:
        before.restore_if_nothing_written()
        raise


class _DirectoryState:
    """What a results directory held before a run started, to undo the run's start-up writes."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.existed = directory.exists()
        self.entries = {p.name for p in directory.iterdir()} if self.existed else set()
        self.manifest = _read_bytes(directory / MANIFEST)
        self.records = _read_bytes(directory / RECORDS)

    def restore_if_nothing_written(self) -> None:
        if _read_bytes(self.dir / RECORDS) != self.records or not self.dir.exists():
            return  # cells were written: they are kept, and the manifest that describes them
        if self.manifest is not None:
            (self.dir / MANIFEST).write_bytes(self.manifest)
        for name in sorted({p.name for p in self.dir.iterdir()} - self.entries):
            path = self.dir / name
            if path.is_dir():
                with contextlib.suppress(OSError):  # only empty folders (claims/, samples/)
                    path.rmdir()
            elif name in (MANIFEST, ".lock"):
                path.unlink(missing_ok=True)
        if not self.existed:
            with contextlib.suppress(OSError):
                self.dir.rmdir()


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _run_plan(
    plan: Plan, out_dir: Path, progress: Progress, backend: Backend | None, shard: Shard | None
) -> RunSummary:
    store = ResultStore(out_dir)
    store.clean_stray_files()
    if plan.search is not None:
        return _run_search(plan, store, progress, backend, shard)
    cells = shard_cells(plan.cells, shard) if shard else plan.cells
    done = store.finished_ids()
    todo = [c for c in cells if c.cell_id not in done]
    summary = RunSummary(Path(out_dir), len(cells), len(cells) - len(todo))
    store.write_manifest(_run_entry(len(todo), shard), _manifest_base(plan))
    progress.start(len(cells), summary.already_done, _title(plan, shard))
    shared = SharedCells(todo, done)
    with _Writer(plan, store, progress, summary, backend) as writer:
        writer.derive = shared.derived_from
        for finished in shared.from_earlier_runs(store):
            writer.write(finished)
        if shared.to_run:
            writer.execute(shared.to_run)
    return summary


def _title(plan: Plan, shard: Shard | None) -> str:
    return plan.config.name + (f" (shard {shard})" if shard else "")


def _run_search(
    plan: Plan, store: ResultStore, progress: Progress, backend: Backend | None, shard: Shard | None
) -> RunSummary:
    """Rounds: ask every series' search for its next cells, run them all, repeat until none asks.

    Decisions are made from the records alone, so a resumed search walks the same path and runs
    only what is missing. A cell that fails counts as a failure at its length for this run (and is
    retried by the next one); a cell another process holds is left to it.
    """
    assert plan.search is not None
    search = plan.search
    series = shard_series(search.series, shard) if shard else search.series
    known = latest_by_cell(read_records(store.dir))
    finished = {cid: r for cid, r in known.items() if r.status in FINISHED}
    summary = RunSummary(Path(store.dir), 0, 0)
    store.write_manifest(_run_entry(0, shard), _manifest_base(plan))
    progress.start(0, 0, _title(plan, shard) + ": length search")
    tried: set[str] = set()
    with _Writer(plan, store, progress, summary, backend) as writer:
        while True:
            needed = {c.cell_id: c for s in series for c in search.next_cells(s, finished)}
            fresh = [c for cid, c in needed.items() if cid not in tried]
            if not fresh:
                break  # done, or waiting only on cells another process holds
            progress.extend(len(fresh))
            summary.total += len(fresh)
            tried.update(c.cell_id for c in fresh)
            for record in writer.execute(fresh):
                finished[record.cell_id] = record  # a failure decides this run's search too
    used = {c.cell_id for s in series for c in _cells_seen(search, s, finished)}
    summary.already_done = len(used & set(f for f in finished if f not in tried))
    summary.total += summary.already_done
    return summary


def _cells_seen(search: SearchPlan, series: Any, results: dict[str, CellRecord]) -> list[Cell]:
    from longctx_eval.length_search import batch_cell

    return [
        cell
        for base in series.cells.values()
        for k in range(search.settings.max_batches)
        if (cell := batch_cell(base, k, search.sweep_seed)).cell_id in results
    ]


class _Writer:
    """The only writer of a results directory during a run: each finished cell is written (and its
    claim released) inside a section a signal cannot cut, counted, and shown."""

    def __init__(
        self, plan: Plan, store: ResultStore, progress: Progress, summary: RunSummary, backend: Backend | None
    ) -> None:
        self.plan, self.store, self.progress, self.summary, self.backend = (
            plan,
            store,
            progress,
            summary,
            backend,
        )
        self.claims = CellClaims(store)
        self.derive: Any = lambda finished: []
        self.stop = GracefulStop()
        self.session: Any = None

    def __enter__(self) -> _Writer:
        self.stop.__enter__()
        return self

    def __exit__(self, kind: Any, exc: Any, trace: Any) -> bool:
        if self.session is not None:
            self.session.close()
        self.claims.release_all()
        self.summary.taken_elsewhere += self.claims.taken_elsewhere
        # A run ended by a signal or an error says so itself: no "done" line.
        self.progress.finish(stopped=exc is not None)
        self.stop.__exit__(kind, exc, trace)
        if isinstance(exc, StopRequested):
            self.summary.stopped_by = exc.signum
            return True  # the stop is the summary's to report, not an exception
        return False

    def write(self, finished: Finished) -> None:
        record = finished.record
        with self.stop.critical():
            self.store.write_cell(record, finished.samples, finished.rope)
            self.claims.release(record.cell_id)
            self.summary.counts[record.status] += 1
        self.progress.cell_finished(record)
        for copy in self.derive(finished):
            self.write(copy)

    def execute(self, cells: list[Cell]) -> list[CellRecord]:
        if self.session is None:
            open_session = session_opener(self.plan.config.executor.kind)
            self.session = open_session(self.plan, self.plan.config.executor, self.progress, self.backend)
        written = []
        for finished in self.session.run(cells, self.claims.claim):
            self.write(finished)
            written.append(finished.record)
        return written


class SharedCells:
    """Cells that compute exactly what another cell computes (`Cell.same_as`) are not run again:
    each gets the other's result under its own coordinates as soon as that one is written. A
    shared cell whose computing cell is neither finished nor in this run (another shard's) runs."""

    def __init__(self, todo: list[Cell], done: set[str]) -> None:
        ids = {c.cell_id for c in todo}
        self.waiting: dict[str, list[Cell]] = defaultdict(list)
        self.to_run: list[Cell] = []
        self.done = done
        for c in todo:
            if c.same_as is not None and (c.same_as in done or c.same_as in ids):
                self.waiting[c.same_as].append(c)
            else:
                self.to_run.append(c)

    def derived_from(self, finished: Finished) -> list[Finished]:
        record = finished.record
        if record.status not in FINISHED:  # a failed computation shares nothing; both run next time
            return []
        return [
            Finished(shared_record(c, record), finished.samples, finished.rope)
            for c in self.waiting.pop(record.cell_id, [])
        ]

    def from_earlier_runs(self, store: ResultStore) -> list[Finished]:
        ready = [cid for cid in self.waiting if cid in self.done]
        if not ready:
            return []
        latest = latest_by_cell(read_records(store.dir))
        out = []
        for cid in ready:
            record = typed_record(latest[cid])
            sample_classes = classes_of(record).samples
            samples = store.read_samples(cid, sample_classes) if record.n_samples else None
            out += self.derived_from(Finished(record, samples))
        return out


class CellClaims:
    """Who computes a cell when several runs share a results directory (the same command started
    twice, shards with overlapping cells): the first to lock `claims/<cell_id>.lock`. The kernel
    drops the lock when its process dies, so a killed run never leaves a cell claimed forever. A
    claim is refused, too, when the cell was finished meanwhile by another process."""

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        store.watch_from_now()
        self.dir = store.dir / "claims"
        self.held: dict[str, Any] = {}
        self.taken_elsewhere = 0

    def claim(self, cell: Cell) -> bool:
        if cell.cell_id in self.held:  # asked again (a retried cell): still ours
            return True
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{cell.cell_id}.lock"
        handle = open(path, "a")  # held (and locked) until the cell is written
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            self.taken_elsewhere += 1
            return False
        if cell.cell_id in self.store.finished_since_start():
            self._drop(cell.cell_id, handle)
            self.taken_elsewhere += 1
            return False
        self.held[cell.cell_id] = handle
        return True

    def release(self, cell_id: str) -> None:
        handle = self.held.pop(cell_id, None)
        if handle is not None:
            self._drop(cell_id, handle)

    def _drop(self, cell_id: str, handle: Any) -> None:
        # Unlink while still holding the lock: a process that opened the old file and locks it
        # later then finds the cell finished (the record is written before this), so it skips it.
        (self.dir / f"{cell_id}.lock").unlink(missing_ok=True)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()

    def release_all(self) -> None:
        for cell_id in list(self.held):
            self.release(cell_id)


def _manifest_base(plan: Plan) -> dict[str, Any]:
    return {
        "format": RESULTS_FORMAT,
        "sweep": plan.config.name,
        "config": plan.config.model_dump(mode="json"),
        "models": [
            {
                "name": m.entry.name,
                "path": m.path,
                "fingerprint": m.fingerprint,
                "original_context": m.base.original_context,
            }
            for m in plan.models
        ],
        "cells": len(plan.cells),
        # The current plan: a cell of it wins its table position over a cell an earlier, edited
        # version of the sweep left in the same directory (see report.results).
        "cell_ids": [c.cell_id for c in (plan.search.all_cells() if plan.search else plan.cells)],
        "longctx_eval": __version__,
        "git_sha": git_sha(),
        "versions": versions(),
        "hardware": hardware(),
    }


def _run_entry(todo: int, shard: Shard | None) -> dict[str, Any]:
    return {
        "started_at": now(),
        "host": socket.gethostname(),
        "cells_to_run": todo,
        "shard": str(shard) if shard else None,
    }
