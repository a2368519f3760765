"""What a report says, computed from records alone: per-task series and effective context length.

Effective context length (RULER's notion, computed here in code): the longest evaluated length ℓ
such that the score passes at ℓ and at every shorter evaluated length. Retrieval tasks pass when
accuracy ≥ `threshold` (default 0.9). Perplexity passes when ppl ≤ `ppl_multiple` × the model's
native-length value: the `none` method's ppl at the longest evaluated length ≤ its original
context (or, without such a cell, the row's own ppl at its shortest length). A cell that failed or
was skipped does not pass. 0 means not even the shortest length passed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from longctx_eval.report.results import Results, backend_kind


@dataclass(frozen=True)
class ReportOptions:
    threshold: float = 0.9
    ppl_multiple: float = 1.5


@dataclass(frozen=True)
class Point:
    length: int
    status: str
    value: float | None
    low: float | None
    high: float | None
    record: dict[str, Any]


@dataclass
class Series:
    """One table row / plot line: a model (and backend) × method@factor on one task."""

    model: str  # display label
    model_name: str
    backend: str
    method_label: str
    method: str
    task: str
    metric: str  # accuracy | ppl
    original_context: int
    points: list[Point] = field(default_factory=list)

    @property
    def higher_is_better(self) -> bool:
        return self.metric != "ppl"

    def value_at(self, length: int) -> Point | None:
        return next((p for p in self.points if p.length == length), None)


def task_metric(records: list[dict[str, Any]]) -> str:
    for r in records:
        m = r.get("metrics") or {}
        if "accuracy" in m:
            return "accuracy"
        if "ppl" in m:
            return "ppl"
    return "accuracy"


def tasks_in(results: Results) -> list[str]:
    return list(dict.fromkeys(r["task"] for r in results.records))


def all_series(results: Results, task: str) -> list[Series]:
    recs = [r for r in results.records if r["task"] == task]
    metric = task_metric(recs)
    out: dict[tuple[str, str, str], Series] = {}
    for r in recs:
        key = (r["model"], backend_kind(r), r["method_label"])
        if key not in out:
            out[key] = Series(
                model=results.model_label(r),
                model_name=r["model"],
                backend=backend_kind(r),
                method_label=r["method_label"],
                method=r["method"],
                task=task,
                metric=metric,
                original_context=int(r.get("original_context") or 0),
            )
        m = r.get("metrics") or {}
        ok = r["status"] == "ok" and m.get(metric) is not None
        out[key].points.append(
            Point(
                int(r["length"]),
                r["status"],
                m.get(metric) if ok else None,
                m.get("ci_low") if ok else None,
                m.get("ci_high") if ok else None,
                r,
            )
        )
    for s in out.values():
        s.points.sort(key=lambda p: p.length)
    return list(out.values())


def native_ppl(series: Series, siblings: list[Series]) -> float | None:
    """The model's perplexity at its native length (see the module docstring)."""
    base = next(
        (
            s
            for s in siblings
            if s.method == "none" and (s.model, s.backend) == (series.model, series.backend)
        ),
        None,
    )
    if base is not None:
        native = [p for p in base.points if p.length <= base.original_context and p.value is not None]
        if native:
            return native[-1].value
    own = [p for p in series.points if p.value is not None]
    return own[0].value if own else None


def effective_length(series: Series, siblings: list[Series], options: ReportOptions) -> int:
    if series.metric == "ppl":
        ref = native_ppl(series, siblings)
        if ref is None:
            return 0
        limit = options.ppl_multiple * ref

        def passes(p: Point) -> bool:
            return p.value is not None and p.value <= limit
    else:

        def passes(p: Point) -> bool:
            return p.value is not None and p.value >= options.threshold

    best = 0
    for p in series.points:
        if not passes(p):
            break
        best = p.length
    return best


@dataclass
class LeaderRow:
    model: str
    method_label: str
    method: str
    effective: dict[str, int]  # task -> effective length
    overall: int  # the shortest of the tasks' effective lengths
    mean_accuracy: float | None


def leaderboard(results: Results, options: ReportOptions) -> list[LeaderRow]:
    """One row per model × method@factor, sorted by effective length (longest first)."""
    rows: dict[tuple[str, str], LeaderRow] = {}
    accuracies: dict[tuple[str, str], list[float]] = {}
    for task in tasks_in(results):
        series = all_series(results, task)
        for s in series:
            key = (s.model, s.method_label)
            row = rows.setdefault(key, LeaderRow(s.model, s.method_label, s.method, {}, 0, None))
            row.effective[task] = effective_length(s, series, options)
            if s.metric == "accuracy":
                accuracies.setdefault(key, []).extend(p.value for p in s.points if p.value is not None)
    for key, row in rows.items():
        row.overall = min(row.effective.values()) if row.effective else 0
        acc = accuracies.get(key)
        row.mean_accuracy = sum(acc) / len(acc) if acc else None
    return sorted(
        rows.values(), key=lambda r: (-r.overall, -(r.mean_accuracy or 0.0), r.model, r.method_label)
    )


def plus_minus(p: Point, metric: str) -> str:
    """'0.95 ±0.05': the value and the half-width of its 95% interval."""
    if p.status == "failed":
        return "fail"
    if p.status == "skipped":
        return "skip"
    if p.value is None:
        return "–"
    text = f"{p.value:.2f}" if metric == "accuracy" else f"{p.value:.3g}"
    if p.low is not None and p.high is not None:
        half = (p.high - p.low) / 2
        text += f" ±{half:.2f}" if metric == "accuracy" else f" ±{half:.2g}"
    return text
