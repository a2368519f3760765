"""What `report` and `compare` warn about: tables that merge what should not be merged silently.

- two model names that hold identical weights (the record's `model_fingerprint`, the content hash
  already behind cell ids; records written before it was kept fall back to the model's path);
- rows of one task that differ in seeds or sample counts at a length, rows tested on different
  sets of tasks;
- cells of one table that ran under different library versions, devices or dtypes.
"""

from __future__ import annotations

from collections import defaultdict

from longctx_eval.headline_spec import HeadlineSpec
from longctx_eval.records import CellRecord
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged

_RUNTIME = ("dtype", "device", "torch", "transformers", "vllm")


def identity(record: CellRecord) -> str | None:
    """The weights a record ran: their content fingerprint, else the model path as written."""
    fp = record.model_fingerprint
    if fp and not fp.startswith("hub:"):
        return fp
    return f"path:{record.model_path}" if record.model_path else None


def warnings(results: Results, arranged: Arranged, spec: HeadlineSpec) -> list[str]:
    return [*_same_weights(results), *_row_differences(results, arranged), *_runtime(results, arranged)]


def _same_weights(results: Results) -> list[str]:
    names: dict[str, set[str]] = defaultdict(set)
    for r in results.records:
        key = identity(r)
        if key is not None:
            names[key].add(r.model)
    out = []
    for key, found in names.items():
        if len(found) > 1:
            how = (
                "the same weights (content fingerprint)"
                if not key.startswith("path:")
                else (f"the same model directory ({key[5:]})")
            )
            out.append(f"model names {', '.join(sorted(found))} hold {how}: their rows are one model twice")
    return out


def _row_differences(results: Results, arranged: Arranged) -> list[str]:
    out = []
    tasks_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for task, series in arranged.series.items():
        if task in arranged.groups:
            continue
        for s in series:
            tasks_of[s.key].add(task)
        seeds, counts = defaultdict(set), defaultdict(set)
        for s in series:
            for p in s.points:
                if p.record is not None and p.record.status == "ok":
                    seeds[p.length].add(p.record.seed)
                    counts[p.length].add(p.n)
        if any(len(v) > 1 for v in seeds.values()):
            out.append(f"{task}: rows ran with different seeds at the same length (not the same samples)")
        if any(len(v) > 1 for v in counts.values()):
            out.append(f"{task}: rows hold different sample counts at the same length")
    sets = {frozenset(v) for v in tasks_of.values()}
    if len(sets) > 1:
        largest = max(len(v) for v in sets)
        fewer = sorted(f"{k[0]} {k[1]}" for k, v in tasks_of.items() if len(v) < largest)
        out.append(
            f"rows were tested on different tasks: {', '.join(fewer)} on fewer than {largest} "
            "(marked in the headline and ranked below rows tested on more)"
        )
    return out


def _runtime(results: Results, arranged: Arranged) -> list[str]:
    out = []
    by_task: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for r in results.records:
        if r.status != "ok":
            continue
        for field in _RUNTIME:
            value = r.backend.get(field)
            if value is not None:
                by_task[r.task][field].add(str(value))
    for task, fields in by_task.items():
        mixed = {f: sorted(v) for f, v in fields.items() if len(v) > 1}
        if mixed:
            what = "; ".join(f"{f} {' / '.join(v)}" for f, v in mixed.items())
            out.append(f"{task}: cells of one table ran under different {', '.join(mixed)} ({what})")
    return out
