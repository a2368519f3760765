"""Effective context length with its uncertainty: what a researcher can quote.

The rule (RULER's notion): the longest evaluated length ℓ such that the score passes at ℓ and at
every shorter evaluated length. A score passes against a limit:
- accuracy ≥ `threshold` (absolute; RULER uses 0.856, its Llama-2 baseline), or ≥ `relative` × the
  model's own accuracy at its native length (NoLiMa's rule);
- perplexity ≤ `ppl_multiple` × the model's own perplexity at its native length.
"The model's own ... at its native length" is the baseline: the reference method's (default
`none`) value at the longest evaluated length ≤ the model's original context L. A rule that needs
a baseline the sweep does not have gives `no_baseline`; it never falls back to another number.

Each length gets two verdicts. The point verdict compares the value with the limit. The interval
verdict is `pass` when the whole 95% interval passes, `fail` when the whole interval fails, and
`undecided` otherwise (a failed or skipped cell, or a value without an interval, is undecided:
it measured nothing). For perplexity the interval is paired when the samples allow it: the ratio
of the cell's perplexity to the baseline's over the same documents, bootstrapped over documents
(documents differ in difficulty far more than methods do, so the unpaired interval would decide
almost nothing). Otherwise the baseline is taken as exact.
From these:
- `effective_length`: the point estimate (None: not even the shortest length passed);
- `effective_low`: "certainly passes up to" — the longest length whose interval passes there and
  at every shorter length;
- `effective_high`: the longest the effective length can be — the last length before the first
  interval `fail` (the longest evaluated length when none fails);
- `status`: `ok` (low = point = high: the data decide it), `undecided` (they do not),
  `fails_at_native` (the point estimate fails already at a length ≤ L), `untested` (no result),
  `no_baseline`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from longctx_eval.headline_spec import HeadlineSpec
from longctx_eval.payloads import RetrievalMetrics
from longctx_eval.reporting.series import Point, Series

Status = Literal["ok", "undecided", "fails_at_native", "untested", "no_baseline"]
Verdict = Literal["pass", "fail", "undecided"]


class ReportOptions(BaseModel):
    """How a length passes; given to `report` and `compare` (--threshold, --relative, ...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threshold: float = Field(0.9, gt=0, le=1, description="accuracy at or above which a length passes")
    relative: float | None = Field(
        None,
        gt=0,
        le=1,
        description="instead of `threshold`: accuracy at or above this × the baseline's native-length value",
    )
    ppl_multiple: float = Field(
        1.5, ge=1, description="perplexity passes at or below this × the baseline's native-length value"
    )
    against: str = Field(
        "none", min_length=1, description="the reference method: baseline of relative rules and paired diffs"
    )
    headline: HeadlineSpec | None = Field(
        None,
        description="the headline's tasks, weights and rule; default: the sweep's `headline:`, else how "
        "far retrieval reaches (the mean accuracy over the retrieval tasks)",
    )


class Baseline(BaseModel):
    method_label: str
    length: int
    value: float


class Rule(BaseModel):
    """The pass rule of one task for one model (and backend), as applied."""

    metric: str
    kind: Literal["absolute", "relative", "ppl_multiple"]
    factor: float  # the threshold, or the multiple of the baseline
    limit: float | None  # the resolved limit (None without a baseline)
    baseline: Baseline | None
    scoring: str | None = None  # retrieval tasks: what a sample counts (strict | lenient)

    def passes(self, value: float) -> bool:
        assert self.limit is not None
        return value <= self.limit if self.metric == "ppl" else value >= self.limit

    def describe(self) -> str:
        accuracy = f"accuracy ({_SCORING[self.scoring]})" if self.scoring in _SCORING else "accuracy"
        if self.kind == "absolute":
            return f"{accuracy} ≥ {self.factor:g}"
        what = f"{accuracy} ≥" if self.kind == "relative" else "ppl ≤"
        if self.baseline is None:
            return f"{what} {self.factor:g}× a baseline the results do not have"
        b = self.baseline
        return f"{what} {self.factor:g}× {b.method_label}@{b.length} ({b.value:.3g}) = {self.limit:.3g}"


_SCORING = {
    "strict": "strict: the answer's first number is the target",
    "lenient": "lenient: the target appears in the answer",
}


class Effective(BaseModel):
    effective_length: int | None  # None: not even the shortest evaluated length passed
    effective_low: int | None
    effective_high: int | None
    shortest: int | None  # the shortest evaluated length (for "< shortest")
    status: Status
    rule: str
    # How the range was drawn: simultaneous over the series' k lengths (Bonferroni, each at
    # 1 − 0.05/k), or the cells' own 95% intervals where no simultaneous one could be drawn.
    interval_method: str | None = None

    def text(self) -> str:
        """How tables print it: '1024', '512 (256–2048)', 'fails at L', 'untested', ..."""
        if self.status in ("untested", "no_baseline"):
            return self.status.replace("_", " ")
        if self.status == "fails_at_native":
            return "fails at L"
        point = self._bound(self.effective_length)
        if self.status == "ok":
            return point
        return f"{point} ({self._bound(self.effective_low)}–{self._bound(self.effective_high)})"

    def _bound(self, n: int | None) -> str:
        return str(n) if n is not None else f"< {self.shortest}"


def native_point(series: Series) -> Point | None:
    """The series' point at the longest evaluated length ≤ its original context, if ok."""
    native = [p for p in series.points if p.length <= series.original_context]
    if not native or native[-1].value is None:
        return None
    return native[-1]


def _scoring(series: Series) -> str | None:
    for p in series.points:
        if (
            p.record is not None
            and isinstance(p.record.metrics, RetrievalMetrics)
            and p.record.metrics.scoring
        ):
            return p.record.metrics.scoring
    return None


def rule_for(series: Series, baseline_series: Series | None, options: ReportOptions) -> Rule:
    scoring = _scoring(series)
    if series.metric == "accuracy" and options.relative is None:
        return Rule(
            metric="accuracy",
            kind="absolute",
            factor=options.threshold,
            limit=options.threshold,
            baseline=None,
            scoring=scoring,
        )
    factor = options.ppl_multiple if series.metric == "ppl" else options.relative
    assert factor is not None
    kind: Literal["relative", "ppl_multiple"] = "ppl_multiple" if series.metric == "ppl" else "relative"
    point = native_point(baseline_series) if baseline_series is not None else None
    if point is None or point.value is None or baseline_series is None:
        return Rule(
            metric=series.metric, kind=kind, factor=factor, limit=None, baseline=None, scoring=scoring
        )
    baseline = Baseline(method_label=baseline_series.method_label, length=point.length, value=point.value)
    return Rule(
        metric=series.metric,
        kind=kind,
        factor=factor,
        limit=factor * point.value,
        baseline=baseline,
        scoring=scoring,
    )


Interval = tuple[float, float]


def verdict(point: Point, rule: Rule, paired: Interval | None = None) -> Verdict:
    """The interval verdict; `paired` replaces the point's own interval when the cell was compared
    with the baseline on the same documents (see `summary`)."""
    low, high = paired if paired is not None else (point.low, point.high)
    if point.value is None or low is None or high is None or (paired is None and (point.n or 0) < 2):
        # No interval (a failed cell, one document, a value without samples): nothing is certain.
        return "undecided"
    if rule.passes(low) and rule.passes(high):
        return "pass"
    if not rule.passes(low) and not rule.passes(high):
        return "fail"
    return "undecided"


def effective_length(series: Series, rule: Rule, paired: dict[int, Interval] | None = None) -> Effective:
    """`paired`: per length, an interval of the value from a paired comparison with the baseline
    (tighter than the cell's own when both scored the same documents)."""
    paired = paired or {}
    points = series.points
    shortest = points[0].length if points else None
    if not any(p.value is not None for p in points):
        return Effective(
            effective_length=None,
            effective_low=None,
            effective_high=None,
            shortest=shortest,
            status="untested",
            rule=rule.describe(),
        )
    if rule.limit is None:
        return Effective(
            effective_length=None,
            effective_low=None,
            effective_high=None,
            shortest=shortest,
            status="no_baseline",
            rule=rule.describe(),
        )
    point_len = _longest_run(points, lambda p: p.value is not None and rule.passes(p.value))
    low = _longest_run(points, lambda p: verdict(p, rule, paired.get(p.length)) == "pass")
    high: int | None = points[-1].length
    for i, p in enumerate(points):
        if verdict(p, rule, paired.get(p.length)) == "fail":
            high = points[i - 1].length if i else None
            break
    if point_len is None and shortest is not None and shortest <= series.original_context:
        status: Status = "fails_at_native"
    elif low == point_len == high:
        status = "ok"
    else:
        status = "undecided"
    return Effective(
        effective_length=point_len,
        effective_low=low,
        effective_high=high,
        shortest=shortest,
        status=status,
        rule=rule.describe(),
    )


def _longest_run(points: Sequence[Point], passes: Callable[[Point], bool]) -> int | None:
    best = None
    for p in points:
        if not passes(p):
            break
        best = p.length
    return best


def overall(parts: Sequence[Effective]) -> Effective:
    """The shortest over a row's tasks (only those with a decided rule and a result count)."""
    usable = [e for e in parts if e.status not in ("untested", "no_baseline")]
    shortest = min((e.shortest for e in parts if e.shortest is not None), default=None)
    if not usable:
        status: Status = "no_baseline" if any(e.status == "no_baseline" for e in parts) else "untested"
        return Effective(
            effective_length=None,
            effective_low=None,
            effective_high=None,
            shortest=shortest,
            status=status,
            rule="the shortest over the tasks",
        )
    point = _min_or_none([e.effective_length for e in usable])
    low = _min_or_none([e.effective_low for e in usable])
    high = _min_or_none([e.effective_high for e in usable])
    if any(e.status == "fails_at_native" for e in usable):
        status = "fails_at_native"
    elif all(e.status == "ok" for e in usable) and low == point == high:
        status = "ok"
    else:
        status = "undecided"
    return Effective(
        effective_length=point,
        effective_low=low,
        effective_high=high,
        shortest=shortest,
        status=status,
        rule="the shortest over the tasks",
    )


def _min_or_none(values: Sequence[int | None]) -> int | None:
    """The minimum, where None ("below the shortest length") is smaller than any length."""
    return None if any(v is None for v in values) else min(v for v in values if v is not None)
