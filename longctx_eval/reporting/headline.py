"""The headline: which method gets furthest, and where, with no more certainty than the data hold.

By default it answers "how far retrieval reaches": at each length, the weighted mean accuracy over
the retrieval tasks (RULER averages its tasks the same way), and the effective length of that mean
with a range drawn from simultaneous intervals. Perplexity tasks stay beside it as quality guards:
a task whose intervals separate nothing cannot erase a separation the retrieval tasks make.

Rows are ordered by what the data support. Row A is certainly ahead of row B when
- their headline means differ at some length by a paired test on the very same samples (exact
  McNemar on the pooled discordant pairs when every score is 0/1 and every sample weighs the same,
  else a paired sign-flip randomisation test), Holm-adjusted over every comparison of the headline,
  and at no length the other way; or
- A's headline effective length certainly passes beyond where B's can reach (low of A > high of B).
A row tested on fewer of the headline's tasks is marked and placed below every row tested on more.
A rank is a range: 1 + the rows certainly ahead, to the rows count − those certainly behind.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from longctx_eval.headline_spec import AppliedHeadline, HeadlineSpec
from longctx_eval.reporting.cell_samples import CellSamples
from longctx_eval.reporting.effective import Effective, ReportOptions, overall
from longctx_eval.reporting.paired import (
    EXACT_TEST,
    SIGN_FLIP_TEST,
    PairedDiff,
    adjust,
)
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged, Point, Series, member_interval
from longctx_eval.stats import mcnemar_exact, mover_mean_interval, paired_difference_exact, sign_flip_p_value

Key = tuple[str, str]  # a leaderboard row: (model label, method label)
AGGREGATE_INTERVAL = "MOVER over the members' own 95% intervals"
AGGREGATE_DIFF_INTERVAL = "MOVER over the tasks' paired 95% intervals"


@dataclass
class RowHeadline:
    series: Series  # the headline mean by length
    tested: list[str]  # the headline tasks this row has results for
    effective: Effective


def resolve(
    spec: HeadlineSpec | None, arranged: Arranged, board_tasks: list[str]
) -> tuple[AppliedHeadline, list[str]]:
    """The definition with its defaults filled in from the results, and what had to be left out
    of it (a task without results; a perplexity task in a mean of accuracies)."""
    spec = spec or HeadlineSpec()
    metric = {t: arranged.series[t][0].metric for t in arranged.series if arranged.series[t]}
    problems = []
    if spec.tasks is None:
        tasks = tuple(t for t in board_tasks if metric.get(t) == "accuracy")
    else:
        missing = [t for t in spec.tasks if t not in metric]
        if missing:
            problems.append(f"headline tasks without results, left out: {', '.join(missing)}")
        tasks = tuple(t for t in spec.tasks if t in metric)
        if spec.rule == "mean":
            ppl = [t for t in tasks if metric[t] != "accuracy"]
            if ppl:
                problems.append(
                    f"a mean of accuracies cannot hold perplexity: {', '.join(ppl)} left out of the "
                    "headline (rule: shortest takes any task)"
                )
            tasks = tuple(t for t in tasks if metric[t] == "accuracy")
    default_guards = tuple(t for t in board_tasks if metric.get(t) == "ppl")
    guards = spec.guards if spec.guards is not None else default_guards
    resolved = AppliedHeadline.model_validate(
        {
            **spec.model_dump(),
            "tasks": tasks,
            "guards": tuple(g for g in guards if g not in tasks),
            "weights": {t: w for t, w in spec.weights.items() if t in tasks},
        }
    )
    return resolved, problems


def leaves(spec: HeadlineSpec, arranged: Arranged) -> dict[str, float]:
    """Headline task -> weight, with a task group replaced by its members (each member's share of
    the group's weight in proportion to its own weight in the group)."""
    out: dict[str, float] = {}
    for task in spec.tasks or ():
        weight = spec.weights.get(task, 1.0)
        members = arranged.groups.get(task)
        if members is None:
            out[task] = out.get(task, 0.0) + weight
            continue
        member_w = {m: _task_weight(arranged, m) for m in members}
        total = sum(member_w.values()) or 1.0
        for m in members:
            out[m] = out.get(m, 0.0) + weight * member_w[m] / total
    return {t: w for t, w in out.items() if t in arranged.series}


def _task_weight(arranged: Arranged, task: str) -> float:
    for s in arranged.series.get(task, []):
        for p in s.points:
            if p.record is not None:
                return p.record.task_weight
    return 1.0


def row_headlines(
    arranged: Arranged,
    spec: HeadlineSpec,
    options: ReportOptions,
    effective_of: Callable[[Series, Series | None], Effective],
    row_effective: dict[Key, dict[str, Effective]],
) -> dict[Key, RowHeadline]:
    """Per leaderboard row: its headline mean series, the tasks it was tested on, its effective length."""
    weights = leaves(spec, arranged)
    by_row: dict[Key, dict[str, Series]] = {}
    for task in weights:
        for s in arranged.series[task]:
            by_row.setdefault(s.key, {})[task] = s
    means = {key: _mean_series(parts, weights) for key, parts in by_row.items()}
    out = {}
    for key in by_row:
        tested = [t for t in (spec.tasks or ()) if t in row_effective.get(key, {})]
        if spec.rule == "shortest":
            eff = overall([row_effective[key][t] for t in tested])
        else:
            mean = means[key]
            ref_key = (key[0], options.against)
            eff = effective_of(mean, means.get(ref_key))
        out[key] = RowHeadline(means[key], tested, eff)
    return out


def _mean_series(parts: dict[str, Series], weights: dict[str, float]) -> Series:
    first = next(iter(parts.values()))
    mean = Series(
        first.model,
        first.backend,
        first.method_label,
        first.method,
        "headline",
        "accuracy",
        first.original_context,
    )
    lengths = sorted({p.length for s in parts.values() for p in s.points})
    for n in lengths:
        points = [(parts[t].value_at(n), weights[t]) for t in parts]
        if any(p is None or p.value is None for p, _ in points):
            mean.points.append(Point(n, "incomplete", None, None, None, None))
            continue
        ok = [(p, w) for p, w in points if p is not None and p.value is not None]
        value, low, high = mover_mean_interval(
            [float(p.value or 0.0) for p, _ in ok], [member_interval(p) for p, _ in ok], [w for _, w in ok]
        )
        flat: list[tuple[float, int, float]] = []
        for p, w in ok:
            if p.parts:  # a group average: its members, each with its share of the weight
                total = sum(pw for *_, pw in p.parts) or 1.0
                flat += [(v, k, w * pw / total) for v, k, pw in p.parts]
            else:
                flat.append((float(p.value or 0.0), p.n or 0, w))
        mean.points.append(
            Point(
                n, "ok", value, max(0.0, low), min(1.0, high), None, sum(k for _, k, _ in flat), tuple(flat)
            )
        )
    return mean


class _Samples:
    """Each ok cell's samples as the tests use them (`Results.cell_samples`: read once a report)."""

    def __init__(self, results: Results) -> None:
        self.results = results

    def of(self, p: Point | None) -> CellSamples | None:
        if p is None or p.record is None or p.status != "ok":
            return None
        return self.results.cell_samples(p.record)


def by_model(rows: dict[Key, RowHeadline]) -> dict[str, dict[Key, RowHeadline]]:
    """The rows of each model (and backend): a rank orders the methods of one model. Comparing
    every row with every other across many models would be quadratic in the models; `compare`'s
    question across models has its own paired section (the same method under each model)."""
    out: dict[str, dict[Key, RowHeadline]] = {}
    for key, row in rows.items():
        out.setdefault(key[0], {})[key] = row
    return out


class Comparer:
    """Paired tests of the headline means of two rows, on the very same samples."""

    def __init__(self, results: Results, arranged: Arranged, spec: HeadlineSpec) -> None:
        self.weights = leaves(spec, arranged)
        self.series = {(t, s.key): s for t in self.weights for s in arranged.series[t]}
        self.cache = _Samples(results)

    def rows(self, rows: dict[Key, RowHeadline], model: str) -> list[PairedDiff]:
        """Every pair of the rows (one model's) tested on the same headline tasks, at every length
        both have a mean; Holm-adjusted over all of them."""
        keys = list(rows)
        out = []
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if rows[a].tested != rows[b].tested:
                    continue
                for p in rows[a].series.points:
                    q = rows[b].series.value_at(p.length)
                    if p.value is None or q is None or q.value is None:
                        continue
                    diff = _aggregate_test(
                        self.cache, self.series, self.weights, a, b, p.length, p.value - q.value
                    )
                    if diff is not None:
                        out.append(diff)
        adjust(out, f"the {len(out)} comparisons of {model}'s rows in the headline")
        return out


def _aggregate_test(
    cache: _Samples,
    series: dict[tuple[str, Key], Series],
    weights: dict[str, float],
    a: Key,
    b: Key,
    length: int,
    estimate: float,
) -> PairedDiff | None:
    total = sum(weights.values())
    coefficients: list[float] = []
    diffs: list[float] = []
    task_diffs: list[tuple[float, tuple[float, float], float]] = []
    binary = True
    for task, w in weights.items():
        sa, sb = series.get((task, a)), series.get((task, b))
        xs = cache.of(sa.value_at(length) if sa else None)
        ys = cache.of(sb.value_at(length) if sb else None)
        if xs is None or ys is None or not xs.pairs_with(ys) or xs.scores is None or ys.scores is None:
            return None
        fx, fy = list(xs.scores), list(ys.scores)
        d = [x - y for x, y in zip(fx, fy, strict=True)]
        binary = binary and all(v in (0.0, 1.0) for v in fx + fy)
        coefficients += [w / total / len(d)] * len(d)
        diffs += d
        if binary:
            b_, c_ = sum(1 for v in d if v > 0), sum(1 for v in d if v < 0)
            task_diffs.append((sum(d) / len(d), paired_difference_exact(b_, c_, len(d)), w))
    if binary and len(set(coefficients)) == 1:
        p_value = mcnemar_exact(sum(1 for v in diffs if v > 0), sum(1 for v in diffs if v < 0))
        method = EXACT_TEST + " on the pooled discordant pairs"
    else:
        seed = int(hashlib.sha256(f"{a}|{b}|{length}".encode()).hexdigest()[:8], 16)
        p_value = sign_flip_p_value([c * v for c, v in zip(coefficients, diffs, strict=True)], seed)
        method = SIGN_FLIP_TEST + " (each sample weighted by its task's share)"
    low = high = None
    if binary:  # part credit has no exact interval per task: the p-value alone
        _, low, high = mover_mean_interval(
            [t for t, _, _ in task_diffs], [iv for _, iv, _ in task_diffs], [w for *_, w in task_diffs]
        )
    return PairedDiff(
        model=a[0],
        task="headline",
        length=length,
        method_label=a[1],
        against=f"{b[0]} {b[1]}",
        kind="difference",
        estimate=estimate,
        low=low,
        high=high,
        p_value=p_value,
        n_pairs=len(diffs),
        interval_method=AGGREGATE_DIFF_INTERVAL if binary else None,
        p_method=method,
    )


def ahead(rows: dict[Key, RowHeadline], tests: list[PairedDiff]) -> dict[Key, set[Key]]:
    """Row -> the rows it is certainly ahead of (see the module's docstring)."""
    wins: dict[tuple[Key, Key], bool] = {}
    for d in tests:
        if not d.significant:
            continue
        a = (d.model, d.method_label)
        b = _key_of(rows, d.against)
        if b is None:
            continue
        winner, loser = (a, b) if d.estimate > 0 else (b, a)
        wins[(winner, loser)] = True
    for a, ra in rows.items():
        for b, rb in rows.items():
            if a == b or len(ra.tested) != len(rb.tested):
                continue
            ea, eb = ra.effective, rb.effective
            if _ranked(ea) and _ranked(eb) and (ea.effective_low or 0) > (eb.effective_high or 0):
                wins[(a, b)] = True
    out: dict[Key, set[Key]] = {k: set() for k in rows}
    for winner, loser in wins:
        if (loser, winner) not in wins:  # the data point both ways: no order between them
            out[winner].add(loser)
    for a, ra in rows.items():  # fewer headline tasks: below every row tested on more
        for b, rb in rows.items():
            if len(ra.tested) > len(rb.tested):
                out[a].add(b)
                out[b].discard(a)
    return out


def _key_of(rows: dict[Key, RowHeadline], label: str) -> Key | None:
    for key in rows:
        if f"{key[0]} {key[1]}" == label:
            return key
    return None


def _ranked(e: Effective) -> bool:
    return e.status not in ("untested", "no_baseline")


def order(rows: dict[Key, RowHeadline], beats: dict[Key, set[Key]]) -> list[tuple[Key, int, int]]:
    """(row, rank low, rank high), best first: no row is placed above a row certainly ahead of it
    (ties broken by the point estimates: tested tasks, effective length, mean at the longest length)."""

    def point_key(k: Key) -> tuple[float, ...]:
        r = rows[k]
        longest = [p.value for p in r.series.points if p.value is not None]
        return (
            -len(r.tested),
            -(r.effective.effective_length or 0),
            -(longest[-1] if longest else -1.0),
        )

    behind_of = {k: {a for a in rows if k in beats[a]} for k in rows}  # rows certainly ahead of k
    remaining = sorted(rows, key=lambda k: (*point_key(k), k))
    placed: list[Key] = []
    while remaining:
        free = [k for k in remaining if not (behind_of[k] & set(remaining))]
        pick = (free or remaining)[0]
        placed.append(pick)
        remaining.remove(pick)
    n = len(rows)
    return [(k, 1 + len(behind_of[k]), n - len(beats[k])) for k in placed]


def rank_text(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}–{high}"
