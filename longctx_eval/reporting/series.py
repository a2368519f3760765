"""Records arranged for tables and pictures: one series per model × backend × method@factor × task.

Built once per report (records are grouped in one pass), so a report stays linear in records. A
task group (RULER's suite, say) adds one more series per model × method: the weighted average of
its members' accuracy at every length where each member has a result.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from longctx_eval.records import CellRecord
from longctx_eval.reporting.results import Results
from longctx_eval.stats import mover_mean_interval, wilson_interval


@dataclass(frozen=True)
class Point:
    length: int
    status: str  # ok | failed | skipped
    value: float | None  # the headline metric, None unless the cell is ok and has it
    low: float | None  # its 95% interval, None when there is none (one document, say)
    high: float | None
    record: CellRecord | None  # None for a group average
    n: int | None = None  # samples or documents behind the value
    # A group average: its members' (value, samples, weight), so that its interval can be redrawn
    # at another level (simultaneous intervals over a series' lengths).
    parts: tuple[tuple[float, int, float], ...] | None = None


@dataclass
class Series:
    """One table row / plot line: a model (and backend) × method@factor on one task."""

    model: str  # display label (with the backend when several are compared)
    backend: str
    method_label: str
    method: str
    task: str
    metric: str  # accuracy | ppl
    original_context: int
    points: list[Point] = field(default_factory=list)
    group: str | None = None  # the task group the task belongs to
    # value_at's index: (the points list it was built from, its length, length -> first point).
    # Tables, group averages and paired differences look up every length of every series: a scan
    # of the points each time made them quadratic in the number of lengths. Rebuilt when the list
    # is replaced or grows; so points are only ever appended or the list replaced, never edited
    # in place (Point is frozen; do not sort or assign into `points`).
    _index: tuple[list[Point], int, dict[int, Point]] | None = field(default=None, repr=False, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        """The leaderboard row this series belongs to."""
        return self.model, self.method_label

    def value_at(self, length: int) -> Point | None:
        """The first point at `length` (after pooling there is one per length), or None."""
        index = self._index
        if index is None or index[0] is not self.points or index[1] != len(self.points):
            first = {p.length: p for p in reversed(self.points)}  # the earliest of each length wins
            index = self._index = (self.points, len(self.points), first)
        return index[2].get(length)

    @property
    def lengths(self) -> list[int]:
        return [p.length for p in self.points]


def headline_metric(records: list[CellRecord]) -> str | None:
    """accuracy or ppl: what a task's tables and effective length are about. None for a task that
    measures neither (the frequency-usage analysis): it gets its own section, not a leaderboard
    column. A task whose cells all failed counts as accuracy, so its failures still show."""
    for r in records:
        if r.metrics.accuracy is not None:
            return "accuracy"
        if r.metrics.ppl is not None:
            return "ppl"
    return "accuracy" if all(r.status != "ok" for r in records) else None


@dataclass
class Arranged:
    """Every series of a report, by task (task groups' averages included, after their members)."""

    tasks: list[str]  # task labels in first-seen order, each group's label after its members
    series: dict[str, list[Series]]  # task label -> series
    groups: dict[str, list[str]]  # group label -> member task labels
    other: dict[str, list[CellRecord]]  # tasks with no accuracy or perplexity (analysis), by label

    def lengths(self, task: str) -> list[int]:
        return sorted({p.length for s in self.series[task] for p in s.points})


def arrange(results: Results) -> Arranged:
    by_task: dict[str, list[CellRecord]] = defaultdict(list)
    groups: dict[str, list[str]] = {}
    for r in results.records:
        by_task[r.task].append(r)
        if r.task_group is not None:
            members = groups.setdefault(r.task_group, [])
            if r.task not in members:
                members.append(r.task)
    other = {task: recs for task, recs in by_task.items() if headline_metric(recs) is None}
    series = {task: _task_series(results, recs) for task, recs in by_task.items() if task not in other}
    tasks = [t for t in by_task if t not in other]
    for group, members in groups.items():
        if group in series:  # a task with the group's label exists: keep the task, skip the average
            continue
        series[group] = _group_series(group, [s for m in members for s in series[m]], members)
        tasks.insert(max(tasks.index(m) for m in members) + 1, group)
    return Arranged(tasks, series, groups, other)


def _task_series(results: Results, records: list[CellRecord]) -> list[Series]:
    metric = headline_metric(records) or "accuracy"
    out: dict[tuple[str, str, str], Series] = {}
    for r in records:
        key = (r.model, r.backend_kind, r.method_label)
        if key not in out:
            out[key] = Series(
                model=results.model_label(r),
                backend=r.backend_kind,
                method_label=r.method_label,
                method=r.method,
                task=r.task,
                metric=metric,
                original_context=r.original_context,
                group=r.task_group,
            )
        m = r.metrics
        value = m.get(metric) if r.status == "ok" else None
        ok = value is not None
        n = m.n if metric == "accuracy" else m.n_documents
        out[key].points.append(
            Point(r.length, r.status, value, m.ci_low if ok else None, m.ci_high if ok else None, r, n)
        )
    for s in out.values():
        s.points = _pooled(
            sorted(s.points, key=lambda p: (p.length, p.record.sample_batch if p.record else 0))
        )
    return list(out.values())


def _pooled(points: list[Point]) -> list[Point]:
    """One point per length: the batches of a length search pooled (accuracy over all their
    samples, Wilson interval of the pool); the point keeps batch 0's record."""
    out: list[Point] = []
    for p in points:
        prev = out[-1] if out else None
        if prev is None or prev.length != p.length:
            out.append(p)
            continue
        if prev.value is None or p.value is None or not prev.n or not p.n:
            continue  # a failed batch adds nothing; the search treats it as a failure itself
        n = prev.n + p.n
        correct = prev.value * prev.n + p.value * p.n
        low, high = wilson_interval(correct, n)
        out[-1] = Point(p.length, "ok", correct / n, low, high, prev.record, n)
    return out


def member_interval(p: Point) -> tuple[float, float]:
    """A group member's own 95% interval: the cell's, else Wilson from its value and count."""
    if p.low is not None and p.high is not None:
        return p.low, p.high
    return wilson_interval(float(p.value or 0.0) * (p.n or 0), p.n or 0)


def _group_series(group: str, members: list[Series], member_tasks: list[str]) -> list[Series]:
    """Per model × method, the weighted mean accuracy over the group's members at each length."""
    rows: dict[tuple[str, str, str], list[Series]] = defaultdict(list)
    for s in members:
        rows[(s.model, s.backend, s.method_label)].append(s)
    out = []
    for parts in rows.values():
        first = parts[0]
        avg = Series(
            first.model,
            first.backend,
            first.method_label,
            first.method,
            group,
            "accuracy",
            first.original_context,
            group=None,
        )
        lengths = sorted({p.length for s in parts for p in s.points})
        for n in lengths:
            points = [s.value_at(n) for s in parts]
            complete = len(parts) == len(member_tasks) and all(p is not None for p in points)
            ok = [p for p in points if p is not None and p.value is not None and p.record is not None]
            if not complete or len(ok) != len(parts):
                avg.points.append(Point(n, "incomplete", None, None, None, None))
                continue
            # MOVER over the members' own intervals: each member's uncertainty is carried into
            # the mean (resampling sample indices shared by all members gave a zero-width interval
            # when every member was all right or all wrong).
            mean, low, high = mover_mean_interval(
                [float(p.value) for p in ok if p.value is not None],
                [member_interval(p) for p in ok],
                [p.record.task_weight for p in ok if p.record is not None],
            )
            parts_ = tuple(
                (float(p.value or 0.0), p.n or 0, p.record.task_weight) for p in ok if p.record is not None
            )
            avg.points.append(Point(n, "ok", mean, low, high, None, sum(p.n or 0 for p in ok), parts_))
        out.append(avg)
    return out
