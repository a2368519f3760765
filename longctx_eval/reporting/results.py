"""Loading results directories for a report, and merging several of them (`compare`, shards).

Within one directory the last record of each cell wins (a failed cell re-run later), and when two
different cells claim one table position — the sweep was edited (`documents: 2` → `3`) and run
again into the same directory — the cell of the latest run's plan (the manifest's `cell_ids`), else
the one written last, wins; the other is kept as `superseded` (shown by `report --all`). Across
directories a cell may appear more than once (shards that overlap, a copy of a run): the copies
must agree. Two different cells may not claim the same table position (model, backend, method,
task, length): that happens when task versions or settings differ, and a merged table would then
compare unlike things, so the merge is refused with the reason.
"""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longctx_eval.payloads import classes_of, typed_record
from longctx_eval.records import CellRecord, RopeFrequencies, Sample
from longctx_eval.reporting.cell_samples import CellSamples
from longctx_eval.store import (
    MANIFEST,
    gc_paused,
    latest_by_cell,
    read_frequencies,
    read_record_file,
    read_samples,
    read_task_params,
)


class MergeError(ValueError):
    pass


SAMPLES_HELD = 200_000  # samples kept in memory by `Results.samples` (about 0.8 GB at most)


@dataclass
class Results:
    """The records of one or more results directories, ready for tables and pictures."""

    records: list[CellRecord]
    source: dict[str, Path] = field(default_factory=dict)  # cell id -> the directory it came from
    manifests: list[dict[str, Any]] = field(default_factory=list)
    frequencies: dict[str, RopeFrequencies] = field(default_factory=dict)  # rope key -> frequencies
    superseded: list[CellRecord] = field(default_factory=list)  # replaced by a later run's cell

    def __post_init__(self) -> None:
        # Computed once: a per-record scan here made reports quadratic in the number of records.
        self.backends = sorted({r.backend_kind for r in self.records})
        # The most recently read cells' samples: a report pairs every method's cell with the
        # reference method's cell at the same length, and reads a cell in several passes (paired
        # differences, across models, intervals, pictures). Bounded, because all samples of 100k
        # cells take about 8 GB as objects (4 KB a sample).
        self._samples: OrderedDict[str, list[Sample]] = OrderedDict()
        self._samples_held = 0
        self.samples_files_read = 0  # how many times a samples file was parsed (benchmarks count it)
        # Every cell's samples as the report's passes use them, each from one read (kept for the
        # whole report: a few hundred bytes a cell).
        self._cell_samples: dict[str, CellSamples] = {}

    def model_label(self, record: CellRecord) -> str:
        """The model's name, with its backend when several backends are compared."""
        return f"{record.model} [{record.backend_kind}]" if len(self.backends) > 1 else record.model

    def samples(self, record: CellRecord) -> list[Sample]:
        """The cell's samples ([] when its directory has none). Do not modify the list: it is
        shared with later callers."""
        cid = record.cell_id
        cached = self._samples.get(cid)
        if cached is not None:
            self._samples.move_to_end(cid)
            return cached
        if cid not in self.source:
            return []
        found = self._read(record)
        self._samples[cid] = found
        self._samples_held += len(found)
        while self._samples_held > SAMPLES_HELD and len(self._samples) > 1:
            _, dropped = self._samples.popitem(last=False)
            self._samples_held -= len(dropped)
        return found

    def cell_samples(self, record: CellRecord) -> CellSamples:
        """The cell's samples reduced to what tables, tests and heatmaps use (see
        `reporting.cell_samples`); its file is parsed once for the whole report."""
        found = self._cell_samples.get(record.cell_id)
        if found is None:
            held = self._samples.get(record.cell_id)
            found = self._cell_samples[record.cell_id] = CellSamples.of(
                held if held is not None else self._read(record)
            )
        return found

    def _read(self, record: CellRecord) -> list[Sample]:
        directory = self.source.get(record.cell_id)
        if directory is None:
            return []
        self.samples_files_read += 1
        return read_samples(directory, record.cell_id, classes_of(record).samples)

    def rope(self, record: CellRecord) -> RopeFrequencies | None:
        """The rotary frequencies the cell ran with, if recorded."""
        if record.rope_key is None:
            return None
        if record.rope_key not in self.frequencies:
            directory = self.source.get(record.cell_id)
            found = read_frequencies(directory, record.rope_key) if directory is not None else None
            if found is None:
                return None
            self.frequencies[record.rope_key] = found
        return self.frequencies[record.rope_key]

    def task_params(self, record: CellRecord) -> dict[str, Any]:
        """The settings of the record's task entry (stored once per entry, see store)."""
        if record.task_params or record.task_params_key is None:
            return record.task_params
        directory = self.source.get(record.cell_id)
        found = read_task_params(directory, record.task_params_key) if directory is not None else None
        return found or {}

    def to_pandas(self, samples: bool = False) -> Any:
        """One row per cell (its coordinates, status and scalar metrics), or with `samples=True` one
        row per sample with its cell's coordinates. Needs pandas (`pip install pandas`)."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("to_pandas needs pandas: pip install pandas") from None
        rows = []
        for r in self.records:
            cell = cell_row(r)
            if not samples:
                rows.append(cell)
                continue
            for s in self.samples(r):
                rows.append({**cell, **{f"sample_{k}": v for k, v in s.model_dump(mode="json").items()}})
        return pd.DataFrame(rows)


_CELL_COLUMNS = (
    "cell_id",
    "model",
    "method",
    "method_label",
    "factor",
    "factor_mode",
    "task",
    "task_name",
    "task_version",
    "task_group",
    "length",
    "seed",
    "status",
    "error",
    "duration_s",
    "original_context",
)


def cell_row(record: CellRecord) -> dict[str, Any]:
    """A record flattened to one table row: coordinates, backend kind and every scalar metric."""
    row: dict[str, Any] = {k: getattr(record, k) for k in _CELL_COLUMNS}
    row["backend"] = record.backend_kind
    for name, value in record.metrics.model_dump().items():
        if value is None or isinstance(value, (int, float, str, bool)):
            row[name] = value
    return row


def position(record: CellRecord) -> tuple[Any, ...]:
    """Where a record sits in the tables (batches of a length search are pooled there)."""
    return (
        record.model,
        record.backend_kind,
        record.method_label,
        record.task,
        record.length,
        record.sample_batch,
    )


def load_results(dirs: Path | str | Sequence[Path | str]) -> Results:
    """The records of one results directory, or of several merged (see the module docstring)."""
    # The collector paused throughout, not only while lines are parsed: typing, superseding and
    # merging allocate small objects, and every collection they trigger walks all the records
    # already loaded (at 10k cells these passes took 0.35 s of collections). Loading makes no cycles.
    with gc_paused():
        return _load(dirs)


def _load(dirs: Path | str | Sequence[Path | str]) -> Results:
    paths = [Path(dirs)] if isinstance(dirs, (str, Path)) else [Path(d) for d in dirs]
    merged: dict[str, CellRecord] = {}
    source: dict[str, Path] = {}
    manifests = []
    frequencies: dict[str, RopeFrequencies] = {}
    superseded: list[CellRecord] = []
    for d in paths:
        manifest = _manifest(d)
        if manifest is not None:
            manifests.append(manifest)
        loaded = read_record_file(d)
        for key, rope in loaded.inline_frequencies.items():
            frequencies.setdefault(key, RopeFrequencies.model_validate(rope))
        current = set((manifest or {}).get("cell_ids") or ())
        kept, replaced = _supersede(list(latest_by_cell(loaded.records).values()), current)
        superseded += replaced
        for rec in map(typed_record, kept):
            cid = rec.cell_id
            if cid in merged:
                merged[cid] = _reconcile(merged[cid], rec, source[cid], d)
                if merged[cid] is rec:
                    source[cid] = d
            else:
                merged[cid], source[cid] = rec, d
    _refuse_collisions(list(merged.values()), source)
    return Results(list(merged.values()), source, manifests, frequencies, superseded)


def _manifest(directory: Path) -> dict[str, Any] | None:
    try:
        value = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None  # the manifest only adds facts to the page; records are what count
    return value if isinstance(value, dict) else None


def _supersede(records: list[CellRecord], current: set[str]) -> tuple[list[CellRecord], list[CellRecord]]:
    """One cell per table position within a directory: the current plan's, else the latest."""
    by_position: dict[tuple[Any, ...], CellRecord] = {}
    replaced = []
    for rec in records:  # file order: later lines were written later
        key = position(rec)
        prev = by_position.get(key)
        if prev is not None:
            keep_prev = prev.cell_id in current and rec.cell_id not in current
            winner, loser = (prev, rec) if keep_prev else (rec, prev)
            replaced.append(loser)
            rec = winner
        by_position[key] = rec
    return list(by_position.values()), replaced


def _reconcile(a: CellRecord, b: CellRecord, da: Path, db: Path) -> CellRecord:
    """One record for a cell found in two directories."""
    finished = ("ok", "skipped")
    if a.status in finished and b.status not in finished:
        return a
    if b.status in finished and a.status not in finished:
        return b
    if a.status == b.status == "ok" and not _same_metrics(a.metrics.model_dump(), b.metrics.model_dump()):
        raise MergeError(
            f"cell {a.cell_id} ({_describe(a)}) has different results in {da} and {db}; "
            "they cannot both be right — remove one"
        )
    return a


def _same_metrics(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_metrics(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_metrics(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _describe(r: CellRecord) -> str:
    return f"{r.model} {r.method_label} {r.task} {r.length}"


def _refuse_collisions(records: list[CellRecord], source: dict[str, Path]) -> None:
    seen: dict[tuple[Any, ...], CellRecord] = {}
    for r in records:
        key = position(r)
        other = seen.get(key)
        if other is None:
            seen[key] = r
            continue
        where = f"{source[other.cell_id]} and {source[r.cell_id]}"
        if other.task_version != r.task_version:
            raise MergeError(
                f"{_describe(r)}: task {r.task!r} has version {other.task_version} and "
                f"{r.task_version} ({where}); results of different task versions do not compare"
            )
        raise MergeError(
            f"{_describe(r)}: two different cells ({other.cell_id}, {r.cell_id}, in {where}) — "
            "task settings, seed, model files or dtype differ; give them distinct task labels or model names"
        )
