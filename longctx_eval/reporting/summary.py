"""The one summary of a results directory that every rendering prints: `leaderboard.json`.

Markdown, LaTeX, the HTML page and the terminal tables are all drawn from this structure, so they
cannot disagree: per model × method@factor the effective length per task (and overall) with its
range and status, the rule and baseline behind it, the short-context retention; per task the
value table with intervals; and each method's paired difference to the reference method.
"""

from __future__ import annotations

import bisect

from pydantic import BaseModel, Field

from longctx_eval.records import CellRecord
from longctx_eval.reporting.effective import (
    Effective,
    ReportOptions,
    Rule,
    effective_length,
    native_point,
    overall,
    rule_for,
)
from longctx_eval.reporting.paired import PairedDiff, paired_across_models, paired_differences
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged, Point, Series, arrange
from longctx_eval.stats import paired_bootstrap_ppl_ratio

FORMAT = "longctx-eval/leaderboard/v1"


class ValueCell(BaseModel):
    length: int
    status: str  # ok | failed | skipped | incomplete (a group average missing a member)
    value: float | None
    low: float | None
    high: float | None
    n: int | None
    text: str


class TableRow(BaseModel):
    model: str
    backend: str
    method_label: str
    method: str
    values: list[ValueCell | None]  # one per table length (None: not evaluated there)
    # Length-dependent methods: how they generated (the records' generation_policy), shown beside
    # the row so a favourable reading never passes for what a served engine gives.
    generation_policy: str | None = None

    def label(self) -> str:
        """The method label, with the generation policy where the label does not name it."""
        policy = self.generation_policy
        return (
            f"{self.method_label} ({policy})"
            if policy and "generation=" not in self.method_label
            else self.method_label
        )


class TaskTable(BaseModel):
    task: str
    metric: str  # accuracy | ppl
    higher_is_better: bool
    lengths: list[int]
    rows: list[TableRow]
    members: list[str] | None = None  # a task group's average: the tasks it averages
    # What the numbers are comparable to (longctx_eval.protocols): the protocol and the deviations
    # from the benchmark the task is named after; `comparability` says both in one sentence.
    protocol: str | None = None
    deviations: list[str] = Field(default_factory=list)
    comparability: str | None = None


class LeaderRow(BaseModel):
    model: str
    backend: str
    method_label: str
    method: str
    effective: dict[str, Effective]  # leaderboard task -> effective length
    overall: Effective
    rank: int  # 1 + the rows whose effective length is certainly longer; equal ranks: not separable
    retention: dict[str, float | None]  # native-length score relative to the reference method
    min_retention: float | None


class ScoringGap(BaseModel):
    """A retrieval cell whose lenient and strict accuracies differ: the model answers the target
    with something around it (extra digits, say), which a lenient rule counts and a strict one
    does not."""

    model: str
    task: str
    length: int
    method_label: str
    strict: float
    lenient: float

    @property
    def gap(self) -> float:
        return self.lenient - self.strict


class Summary(BaseModel):
    format: str = FORMAT
    title: str
    options: ReportOptions
    tasks: list[str]  # every task and group with a table
    leaderboard_tasks: list[str]  # the leaderboard's columns: tasks outside groups, and groups
    leaderboard: list[LeaderRow]
    tables: list[TaskTable]
    paired: list[PairedDiff] = Field(default_factory=list)
    # Several models or backends (compare): each against the first, the same method on the same samples.
    paired_across: list[PairedDiff] = Field(default_factory=list)
    scoring_gaps: list[ScoringGap] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    superseded: int = 0  # cells a later run of an edited sweep replaced (report --all lists them)


def value_text(p: Point, metric: str) -> str:
    """'0.95 [0.83, 0.99]': the value and its 95% interval, never a ± that runs past 0 or 1."""
    if p.status in ("failed", "skipped", "incomplete"):
        return {"failed": "fail", "skipped": "skip", "incomplete": "–"}[p.status]
    if p.value is None:
        return "–"
    fmt = "{:.2f}" if metric == "accuracy" else "{:.3g}"
    text = fmt.format(p.value)
    if metric == "ppl" and (p.n or 0) < 2:
        return f"{text} (n = {p.n or 0}, no interval)"
    if p.low is not None and p.high is not None:
        text += f" [{fmt.format(p.low)}, {fmt.format(p.high)}]"
    return text


def build_summary(results: Results, options: ReportOptions | None = None, title: str = "") -> Summary:
    options = options or ReportOptions()
    arranged = arrange(results)
    grouped = {m for members in arranged.groups.values() for m in members}
    board_tasks = [t for t in arranged.tasks if t not in grouped]
    tables = _with_protocols(results, [_table(arranged, t) for t in arranged.tasks])
    rows = _leaderboard(results, arranged, board_tasks, options)
    paired = [
        d
        for t in arranged.tasks
        if t not in arranged.groups
        for d in paired_differences(results, arranged.series[t], options.against)
    ]
    return Summary(
        title=title,
        options=options,
        tasks=arranged.tasks,
        leaderboard_tasks=board_tasks,
        leaderboard=rows,
        tables=tables,
        paired=paired,
        paired_across=[
            d
            for t in arranged.tasks
            if t not in arranged.groups
            for d in paired_across_models(results, arranged.series[t])
        ],
        scoring_gaps=_scoring_gaps(results),
        notes=_notes(results, arranged, rows, options),
        superseded=len(results.superseded),
    )


def _table(arranged: Arranged, task: str) -> TaskTable:
    series = arranged.series[task]
    lengths = arranged.lengths(task)
    metric = series[0].metric
    rows = []
    for s in series:
        values: list[ValueCell | None] = []
        for n in lengths:
            p = s.value_at(n)
            values.append(
                None
                if p is None
                else ValueCell(
                    length=n,
                    status=p.status,
                    value=p.value,
                    low=p.low,
                    high=p.high,
                    n=p.n,
                    text=value_text(p, metric),
                )
            )
        policy = next(
            (p.record.generation_policy for p in s.points if p.record and p.record.generation_policy), None
        )
        rows.append(
            TableRow(
                model=s.model,
                backend=s.backend,
                method_label=s.method_label,
                method=s.method,
                values=values,
                generation_policy=policy,
            )
        )
    return TaskTable(
        task=task,
        metric=metric,
        higher_is_better=metric != "ppl",
        lengths=lengths,
        rows=rows,
        members=arranged.groups.get(task),
    )


def _with_protocols(results: Results, tables: list[TaskTable]) -> list[TaskTable]:
    """Each table with its task's protocol and deviations (longctx_eval.protocols)."""
    from longctx_eval.protocols import of_records

    found = of_records(results.records, results.task_params)
    update = {
        t.task: {"protocol": c.protocol, "deviations": c.deviations, "comparability": c.text()}
        for t in tables
        if (c := found.get(t.task)) is not None
    }
    return [t.model_copy(update=update.get(t.task, {})) for t in tables]


def _leaderboard(
    results: Results, arranged: Arranged, tasks: list[str], options: ReportOptions
) -> list[LeaderRow]:
    rows: dict[tuple[str, str], LeaderRow] = {}
    for task in tasks:
        series = arranged.series[task]
        refs = {(s.model, s.backend): s for s in series if s.method_label == options.against}
        for s in series:
            ref = refs.get((s.model, s.backend))
            row = rows.setdefault(
                s.key,
                LeaderRow(
                    model=s.model,
                    backend=s.backend,
                    method_label=s.method_label,
                    method=s.method,
                    effective={},
                    overall=overall([]),
                    rank=0,
                    retention={},
                    min_retention=None,
                ),
            )
            rule = rule_for(s, ref, options)
            row.effective[task] = effective_length(s, rule, _paired_to_baseline(results, s, ref, rule))
            row.retention[task] = _retention(s, ref)
    for row in rows.values():
        row.overall = overall(list(row.effective.values()))
        kept = [v for v in row.retention.values() if v is not None]
        row.min_retention = min(kept) if kept else None
    # Rank: 1 + the rows whose effective length is certainly longer, i.e. whose lower bound is
    # above this row's upper bound (rows untested or without a baseline rank nothing and are
    # outranked by nothing). Counted by bisection over the sorted lower bounds: comparing every
    # pair of rows made the leaderboard quadratic in its rows.
    lows = sorted((r.overall.effective_low or 0) for r in rows.values() if _ranked(r.overall))
    for row in rows.values():
        above = len(lows) - bisect.bisect_right(lows, row.overall.effective_high or 0)
        row.rank = 1 + (above if _ranked(row.overall) else 0)
    return sorted(
        rows.values(),
        key=lambda r: (
            r.rank,
            -(r.overall.effective_length or 0),
            -(r.overall.effective_low or 0),
            r.model,
            r.method_label,
        ),
    )


def _paired_to_baseline(
    results: Results, s: Series, ref: Series | None, rule: Rule
) -> dict[int, tuple[float, float]]:
    """Perplexity: each length's interval from the ratio to the baseline cell on the same documents,
    bootstrapped over documents and put back on the perplexity scale (empty without samples)."""
    if s.metric != "ppl" or rule.baseline is None or ref is None:
        return {}
    base = ref.value_at(rule.baseline.length)
    if base is None or base.record is None:
        return {}
    base_docs = _documents(results, base.record)
    out = {}
    for p in s.points:
        docs = _documents(results, p.record) if p.record is not None and p.value is not None else None
        if not docs or not base_docs or docs.keys() != base_docs.keys() or len(docs) < 2:
            continue
        keys = sorted(docs)
        low, high = paired_bootstrap_ppl_ratio(
            [docs[k][0] for k in keys],
            [base_docs[k][0] for k in keys],
            [docs[k][1] for k in keys],
            [base_docs[k][1] for k in keys],
            seed=p.length,
        )
        out[p.length] = (low * rule.baseline.value, high * rule.baseline.value)
    return out


def _documents(results: Results, record: CellRecord) -> dict[int, tuple[float, int]] | None:
    """doc_index -> (NLL sum, scored tokens) of a perplexity cell, if its samples say so."""
    out = {}
    for x in results.samples(record):
        doc, nll, n = (
            getattr(x, "doc_index", None),
            getattr(x, "nll_sum", None),
            getattr(x, "n_scored_tokens", None),
        )
        if not isinstance(doc, int) or not isinstance(nll, (int, float)) or not isinstance(n, int):
            return None
        out[doc] = (float(nll), n)
    return out or None


def _ranked(e: Effective) -> bool:
    """Whether a row takes part in ranking: a's effective length is certainly longer than b's when
    both take part and a certainly passes beyond where b can reach (low of a > high of b)."""
    return e.status not in ("untested", "no_baseline")


def _retention(s: Series, ref: Series | None) -> float | None:
    """Score at the native length relative to the reference method there (1 = nothing lost);
    perplexity as ref/method, so that below 1 means worse for both kinds of task."""
    if ref is None:
        return None
    mine, theirs = native_point(s), native_point(ref)
    if mine is None or theirs is None or mine.length != theirs.length or not mine.value or not theirs.value:
        return None
    return theirs.value / mine.value if s.metric == "ppl" else mine.value / theirs.value


def _scoring_gaps(results: Results) -> list[ScoringGap]:
    out = []
    for r in results.records:
        strict, lenient = r.metrics.get("accuracy_strict"), r.metrics.get("accuracy_lenient")
        if r.status == "ok" and strict is not None and lenient is not None and strict != lenient:
            out.append(
                ScoringGap(
                    model=results.model_label(r),
                    task=r.task,
                    length=r.length,
                    method_label=r.method_label,
                    strict=strict,
                    lenient=lenient,
                )
            )
    return out


def _notes(results: Results, arranged: Arranged, rows: list[LeaderRow], options: ReportOptions) -> list[str]:
    rules = sorted({f"{t}: {e.rule}" for r in rows for t, e in r.effective.items()})
    out = [
        "Effective length: the longest length at which the score passes there and at every shorter "
        "length, with in brackets the range the 95% intervals allow (from the longest length that "
        "certainly passes to the last one before a certain failure). Rules: " + "; ".join(rules) + ". "
        "Overall: the shortest over the tasks. Rank: 1 + the rows whose effective length is certainly "
        "longer; rows of equal rank are not separable by these data. Retention: the score at the "
        f"native length relative to {options.against} there (perplexity as {options.against}/method), "
        "the lowest over the tasks.",
        "Intervals are 95%: Wilson for accuracy, bootstrap over documents for perplexity"
        + (", normal approximation for a task group's weighted average." if arranged.groups else "."),
    ]
    policies = sorted(
        {r.generation_policy for r in results.records if r.generation_policy and r.task_name != "perplexity"}
    )
    if policies:
        meaning = {
            "prompt": "frequencies chosen once for the prompt's length and kept while generating",
            "transformers": "recomputed at every generated token while cached keys keep their old rotation "
            "(plain HF generate, transformers issue #25104)",
            "exact": "the whole sequence re-encoded at every generated token",
            "static": "vLLM: one static scale for every request (dynamic NTK), short or long factors by "
            "request length (LongRoPE)",
            "served": "what a vLLM server uses at every length: LongRoPE's long factors, dynamic NTK's one "
            "base at L·factor (generation and perplexity alike)",
            "short_factor_engine": "vLLM with a second engine of short factors for LongRoPE requests "
            "within L (a server does not do this)",
        }
        out.append(
            "Length-dependent methods (dynamic_ntk, longrope) while generating: "
            + "; ".join(f"{p}: {meaning.get(p, p)}" for p in policies)
            + ". Perplexity is one forward pass per length and depends on this only under served."
        )
    drifted = [r for r in results.records if r.metrics.get("depth_warning")]
    if drifted:
        worst = max(float(r.metrics.get("depth_drift")) for r in drifted)
        out.append(
            f"In {len(drifted)} cells the needles landed up to {worst:.2f} of the filler before the depth "
            "asked for (the haystack has few sentence ends; a needle goes at the last one before its "
            "depth): the heatmaps' rows say where they really were."
        )
    if results.superseded:
        out.append(
            f"{len(results.superseded)} cells of an earlier version of the sweep were replaced by this "
            "run's and are left out (`report --all` lists them)."
        )
    return out
