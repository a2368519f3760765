"""Who wins where, in sentences generated from the data (the top of leaderboard.md, report.html
and the README's quickstart narrative).

For each task and length: the leading row (highest accuracy, lowest perplexity) and the rows the
data cannot separate from it, by paired tests against the leader on the same samples (exact
McNemar for 0/1 scores, sign-flip randomisation otherwise), Holm-adjusted over every comparison
with a leader on that task. Nothing here is written by hand: a sentence says only what a test
or an interval printed beside it supports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from longctx_eval.headline_spec import HeadlineSpec
from longctx_eval.reporting.effective import ReportOptions
from longctx_eval.reporting.paired import ALPHA, PairedDiff, adjust, pair_cells
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged, Series

if TYPE_CHECKING:
    from longctx_eval.reporting.summary import LeaderRow

Label = Callable[[str, str], str]  # (model, method) -> how a sentence names the row


def length_text(n: int, original: int) -> str:
    """'2048 (8L)': a length and its multiple of the model's original context."""
    if original <= 0:
        return str(n)
    ratio = n / original
    return f"{n} ({ratio:g}L)" if ratio == int(ratio) else f"{n} ({ratio:.2g}L)"


def _names(labels: list[str], most: int = 8) -> str:
    if len(labels) > most:  # thousands of rows: the first few, and how many more
        labels = [*labels[: most - 1], f"{len(labels) - most + 1} more"]
    if len(labels) <= 1:
        return "".join(labels)
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def sentences(
    results: Results, arranged: Arranged, spec: HeadlineSpec, rows: list[LeaderRow], options: ReportOptions
) -> list[str]:
    models = {r.model for r in rows}
    label: Label = (lambda m, x: f"{m} {x}") if len(models) > 1 else (lambda m, x: x)
    out = [_definition(spec, options)]
    for model in dict.fromkeys(r.model for r in rows):
        ranked = [r for r in rows if r.model == model and r.headline is not None and r.headline_tasks]
        if ranked:
            out.append(_ranking(ranked, label, model if len(models) > 1 else None))
    for task in arranged.tasks:
        if task in arranged.groups or task not in arranged.series:
            continue
        line = _task_sentence(results, task, arranged.series[task], label)
        if line:
            out.append(line)
    return out


def _definition(spec: HeadlineSpec, options: ReportOptions) -> str:
    tasks = list(spec.tasks or ())
    weights = [spec.weights.get(t, 1.0) for t in tasks]
    weighted = "" if len(set(weights)) <= 1 else " (weights " + ", ".join(f"{w:g}" for w in weights) + ")"
    passes = (
        f"≥ {options.threshold:g}"
        if options.relative is None
        else f"≥ {options.relative:g}× {options.against}'s at the native length"
    )
    if spec.rule == "mean":
        how = (
            f"the mean accuracy over {_names(tasks)}{weighted} at each length, as RULER averages its "
            f"tasks; its effective length is the longest length where that mean is {passes} there and "
            "at every shorter length"
        )
    else:
        how = f"the shortest of the effective lengths of {_names(tasks)}"
    guards = list(spec.guards or ())
    beside = f" Quality guards, shown beside it and left out of its rank: {_names(guards)}." if guards else ""
    return f"The headline answers {spec.question}: {how}.{beside}"


def _ranking(rows: list[LeaderRow], label: Label, model: str | None) -> str:
    groups: dict[str, list[str]] = {}
    for r in rows:
        assert r.headline is not None
        mark = " (" + "; ".join(r.marks) + ")" if r.marks else ""
        groups.setdefault(r.rank_text, []).append(
            f"{label(r.model, r.method_label)} {r.headline.text()}{mark}"
        )
    parts = [f"rank {rank}: {', '.join(names)}" for rank, names in groups.items()]
    whose = f"{model}: headline" if model else "Headline"
    return (
        f"{whose} effective length by rank (a range where the data cannot order rows; rows are ordered "
        "only where a Holm-adjusted paired test or disjoint effective-length ranges separate them): "
        + "; ".join(parts)
        + "."
    )


def _task_sentence(results: Results, task: str, series: list[Series], label: Label) -> str:
    higher = series[0].metric != "ppl"
    lengths = sorted({p.length for s in series for p in s.points})
    per_length: list[tuple[int, Series, list[tuple[Series, PairedDiff | None]]]] = []
    family: list[PairedDiff] = []
    for n in lengths:
        ok = [(s, s.value_at(n)) for s in series]
        scored = [(s, p) for s, p in ok if p is not None and p.value is not None]
        if len(scored) < 2:
            continue
        leader, lp = max(scored, key=lambda x: (x[1].value if higher else -(x[1].value or 0.0)) or 0.0)
        others = []
        for s, p in scored:
            if s is leader:
                continue
            assert p is not None
            d = pair_cells(results, s, p, lp, leader.method_label, interval=False) if lp is not None else None
            others.append((s, d))
            if d is not None:
                family.append(d)
        per_length.append((n, leader, others))
    adjust(family, f"the {len(family)} comparisons with a leader on {task}")
    clauses, quiet = [], []
    for n, leader, others in per_length:
        tied = [s for s, d in others if d is None or d.p_adjusted is None or d.p_adjusted >= ALPHA]
        where = length_text(n, leader.original_context)
        if len(tied) == len(others):
            quiet.append(where)
            continue
        value = leader.value_at(n)
        shown = _value(value.value if value else None, higher)
        behind = len(others) - len(tied)
        text = f"at {where} {label(leader.model, leader.method_label)} leads ({shown})"
        if tied:
            text += ", not separable from " + _names(
                [f"{label(s.model, s.method_label)} ({_value(_v(s, n), higher)})" for s in tied]
            )
        text += f"; {behind} {'row is' if behind == 1 else 'rows are'} behind"
        clauses.append(text)
    if not per_length:
        return ""
    if not clauses:
        return f"{task}: no row is separable from the leader at any length ({', '.join(quiet)})."
    tail = f"; at {', '.join(quiet)} no row is separable from the leader" if quiet else ""
    return f"{task}: " + "; ".join(clauses) + tail + "."


def _v(s: Series, n: int) -> float | None:
    p = s.value_at(n)
    return p.value if p is not None else None


def _value(v: float | None, accuracy: bool) -> str:
    if v is None:
        return "–"
    return f"{v:.2f}" if accuracy else f"{v:.3g}"
