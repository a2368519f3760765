"""Loading results directories for a report, and merging several of them (`compare`, shards).

Within one directory the last record of each cell wins (a failed cell re-run later). Across
directories a cell may appear more than once (shards that overlap, a copy of a run): the copies
must agree. Two different cells may not claim the same table position (model, backend, method,
task, length): that happens when task versions or settings differ, and a merged table would then
compare unlike things, so the merge is refused with the reason.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longctx_eval.store import MANIFEST, SAMPLES, latest_by_cell, read_records


class MergeError(ValueError):
    pass


@dataclass
class Results:
    records: list[dict[str, Any]]
    source: dict[str, Path] = field(default_factory=dict)  # cell id -> the directory it came from
    manifests: list[dict[str, Any]] = field(default_factory=list)

    @property
    def backends(self) -> list[str]:
        return sorted({backend_kind(r) for r in self.records})

    def model_label(self, record: dict[str, Any]) -> str:
        """The model's name, with its backend when several backends are compared."""
        return (
            f"{record['model']} [{backend_kind(record)}]" if len(self.backends) > 1 else str(record["model"])
        )

    def samples(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        path = self.source[record["cell_id"]] / SAMPLES / f"{record['cell_id']}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def backend_kind(record: dict[str, Any]) -> str:
    return str((record.get("backend") or {}).get("kind", "hf"))


def position(record: dict[str, Any]) -> tuple[Any, ...]:
    """Where a record sits in the tables."""
    return (
        record["model"],
        backend_kind(record),
        record["method_label"],
        record["task"],
        int(record["length"]),
    )


def load_results(dirs: Sequence[Path]) -> Results:
    merged: dict[str, dict[str, Any]] = {}
    source: dict[str, Path] = {}
    manifests = []
    for d in dirs:
        d = Path(d)
        if (d / MANIFEST).exists():
            manifests.append(json.loads((d / MANIFEST).read_text()))
        for cid, rec in latest_by_cell(read_records(d)).items():
            if cid in merged:
                merged[cid] = _reconcile(merged[cid], rec, source[cid], d)
                if merged[cid] is rec:
                    source[cid] = d
            else:
                merged[cid], source[cid] = rec, d
    _refuse_collisions(list(merged.values()), source)
    return Results(list(merged.values()), source, manifests)


def _reconcile(a: dict[str, Any], b: dict[str, Any], da: Path, db: Path) -> dict[str, Any]:
    """One record for a cell found in two directories."""
    finished = ("ok", "skipped")
    if a["status"] in finished and b["status"] not in finished:
        return a
    if b["status"] in finished and a["status"] not in finished:
        return b
    if a["status"] == b["status"] == "ok" and not _same_metrics(a["metrics"], b["metrics"]):
        raise MergeError(
            f"cell {a['cell_id']} ({_describe(a)}) has different results in {da} and {db}; "
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


def _describe(r: dict[str, Any]) -> str:
    return f"{r['model']} {r['method_label']} {r['task']} {r['length']}"


def _refuse_collisions(records: list[dict[str, Any]], source: dict[str, Path]) -> None:
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        key = position(r)
        other = seen.get(key)
        if other is None:
            seen[key] = r
            continue
        where = f"{source[other['cell_id']]} and {source[r['cell_id']]}"
        if other.get("task_version") != r.get("task_version"):
            raise MergeError(
                f"{_describe(r)}: task {r['task']!r} has version {other.get('task_version')} and "
                f"{r.get('task_version')} ({where}); results of different task versions do not compare"
            )
        raise MergeError(
            f"{_describe(r)}: two different cells ({other['cell_id']}, {r['cell_id']}, in {where}) — "
            "task settings, seed, model files or dtype differ; give them distinct task labels or model names"
        )
