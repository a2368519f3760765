"""The one summary of a results directory that every rendering prints: `leaderboard.json`.

Markdown, LaTeX, the HTML page and the terminal tables are all drawn from this structure, so they
cannot disagree: per model × method@factor the effective length per task (and overall) with its
range and status, the rule and baseline behind it, the short-context retention; per task the
value table with intervals; and each method's paired difference to the reference method.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from longctx_eval.headline_spec import AppliedHeadline, HeadlineSpec
from longctx_eval.payloads import RetrievalMetrics
from longctx_eval.records import CellRecord
from longctx_eval.reporting import checks, headline, wins
from longctx_eval.reporting.effective import (
    Effective,
    ReportOptions,
    Rule,
    effective_length,
    native_point,
    overall,
    rule_for,
)
from longctx_eval.reporting.paired import ALPHA, PairedDiff, adjust, paired_across_models, paired_differences
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged, Point, Series, arrange
from longctx_eval.reporting.usage_table import UsageSection, usage_sections
from longctx_eval.stats import (
    bootstrap_perplexity,
    mover_mean_interval,
    paired_bootstrap_ppl_ratio,
    wilson_interval,
    z_for,
)

FORMAT = "longctx-eval/leaderboard/v2"  # v2: the headline, Holm-adjusted p-values, interval methods


class ValueCell(BaseModel):
    length: int
    status: str  # ok | failed | skipped | incomplete (a group average missing a member)
    value: float | None
    low: float | None
    high: float | None
    n: int | None
    text: str
    interval_method: str | None = None  # which method gave [low, high]


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
    overall: Effective  # the shortest over every task (format 1's headline; kept for reference)
    rank: int  # = rank_low
    retention: dict[str, float | None]  # native-length score relative to the reference method
    min_retention: float | None
    headline: Effective | None = None  # the effective length of the headline (see `headline`)
    headline_values: list[ValueCell | None] = Field(default_factory=list)  # per Summary.headline_lengths
    headline_tasks: list[str] = Field(default_factory=list)  # the headline tasks this row was tested on
    rank_low: int = 0  # 1 + the rows certainly ahead of it
    rank_high: int = 0  # the number of rows − the rows certainly behind it
    marks: list[str] = Field(default_factory=list)  # e.g. "tested on 2 of 4 headline tasks"

    @property
    def rank_text(self) -> str:
        return str(self.rank_low) if self.rank_low == self.rank_high else f"{self.rank_low}–{self.rank_high}"


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
    headline: AppliedHeadline = Field(default_factory=AppliedHeadline)  # as applied, defaults filled in
    headline_lengths: list[int] = Field(default_factory=list)
    headline_comparisons: list[PairedDiff] = Field(default_factory=list)  # row pairs, Holm-adjusted
    sentences: list[str] = Field(default_factory=list)  # who wins where, generated from the data
    warnings: list[str] = Field(default_factory=list)  # what compare/report found suspicious
    # The numbers behind the page's frequency-usage pictures (reporting.usage_table).
    usage: list[UsageSection] = Field(default_factory=list)


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
    spec, left_out = headline.resolve(options.headline, arranged, board_tasks)
    rows, comparisons, lengths = _leaderboard(results, arranged, board_tasks, options, spec)
    paired = []
    for t in arranged.tasks:
        if t in arranged.groups:
            continue
        mine = paired_differences(results, arranged.series[t], options.against)
        adjust(mine, f"the {len(mine)} comparisons with {options.against} on {t}")
        paired += mine
    across = []
    for t in arranged.tasks:
        if t in arranged.groups:
            continue
        mine = paired_across_models(results, arranged.series[t])
        adjust(mine, f"the {len(mine)} comparisons across models on {t}")
        across += mine
    return Summary(
        title=title,
        options=options,
        tasks=arranged.tasks,
        leaderboard_tasks=board_tasks,
        leaderboard=rows,
        tables=tables,
        paired=paired,
        paired_across=across,
        scoring_gaps=_scoring_gaps(results),
        notes=_notes(results, arranged, rows, options),
        superseded=len(results.superseded),
        headline=spec,
        headline_lengths=lengths,
        headline_comparisons=comparisons,
        sentences=wins.sentences(results, arranged, spec, rows, options),
        warnings=left_out + checks.warnings(results, arranged, spec),
        usage=usage_sections(results, arranged, options.against),
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
            values.append(_value_cell(p, metric))
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
    results: Results, arranged: Arranged, tasks: list[str], options: ReportOptions, spec: HeadlineSpec
) -> tuple[list[LeaderRow], list[PairedDiff], list[int]]:
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
            intervals, method = simultaneous_intervals(results, s, ref, rule)
            row.effective[task] = effective_length(s, rule, intervals).model_copy(
                update={"interval_method": method}
            )
            row.retention[task] = _retention(s, ref)
    for row in rows.values():
        row.overall = overall(list(row.effective.values()))
        kept = [v for v in row.retention.values() if v is not None]
        row.min_retention = min(kept) if kept else None

    def effective_of(mean: Series, ref: Series | None) -> Effective:
        rule = rule_for(mean, ref, options)
        intervals, method = simultaneous_intervals(results, mean, ref, rule)
        return effective_length(mean, rule, intervals).model_copy(update={"interval_method": method})

    heads = headline.row_headlines(
        arranged, spec, options, effective_of, {k: r.effective for k, r in rows.items()}
    )
    comparer = headline.Comparer(results, arranged, spec)
    comparisons: list[PairedDiff] = []
    placed: list[tuple[tuple[str, str], int, int]] = []
    for model, group in headline.by_model(heads).items():
        tests = comparer.rows(group, model) if spec.rule == "mean" else []
        comparisons += tests
        placed += headline.order(group, headline.ahead(group, tests))
    lengths = sorted({p.length for h in heads.values() for p in h.series.points})
    n_tasks = len(spec.tasks or ())
    for key, low, high in placed:
        row, h = rows[key], heads[key]
        row.headline, row.headline_tasks = h.effective, h.tested
        row.rank_low, row.rank_high, row.rank = low, high, low
        row.headline_values = [_value_cell(h.series.value_at(n), "accuracy") for n in lengths]
        if len(h.tested) < n_tasks:
            row.marks.append(f"tested on {len(h.tested)} of the headline's {n_tasks} tasks")
    # Rows without any headline task (perplexity only, say) follow, unranked.
    ranked = [rows[k] for k, _, _ in placed]
    rest = sorted(
        (r for k, r in rows.items() if k not in heads),
        key=lambda r: (-(r.overall.effective_length or 0), r.model, r.method_label),
    )
    for r in rest:
        r.rank_low = r.rank_high = r.rank = sum(1 for k in rows if k[0] == r.model)
        r.marks.append("tested on none of the headline's tasks")
    return ranked + rest, comparisons, lengths


def _value_cell(p: Point | None, metric: str) -> ValueCell | None:
    if p is None:
        return None
    return ValueCell(
        length=p.length,
        status=p.status,
        value=p.value,
        low=p.low,
        high=p.high,
        n=p.n,
        text=value_text(p, metric),
        interval_method=interval_method(p, metric),
    )


def interval_method(p: Point, metric: str) -> str | None:
    if p.low is None:
        return None
    if p.parts is not None or (p.record is None and metric == "accuracy"):
        return headline.AGGREGATE_INTERVAL
    return "Wilson score" if metric == "accuracy" else "bootstrap over documents"


def simultaneous_intervals(
    results: Results, s: Series, ref: Series | None, rule: Rule
) -> tuple[dict[int, tuple[float, float]], str]:
    """Each length's interval at 1 − α/k (Bonferroni over the series' k measured lengths), so that
    "certainly passes up to ℓ" holds for all of its lengths at once; and how they were drawn.

    Accuracy: Wilson at that level (a group's mean: MOVER over its members' Wilson intervals).
    Perplexity: the ratio to the baseline cell over the same documents, bootstrapped over documents
    at that level and put back on the perplexity scale; else the cell's own documents bootstrapped.
    A length left out here keeps its cell's own 95% interval (the method string says so)."""
    measured = [p for p in s.points if p.value is not None]
    k = max(1, len(measured))
    level = 1 - ALPHA / k
    z = z_for(level)
    out: dict[int, tuple[float, float]] = {}
    if s.metric != "ppl":
        for p in measured:
            if p.parts:
                members = [wilson_interval(v * n, n, z) for v, n, _ in p.parts]
                _, low, high = mover_mean_interval(
                    [v for v, _, _ in p.parts], members, [w for *_, w in p.parts]
                )
                out[p.length] = (max(0.0, low), min(1.0, high))
            elif p.n:
                out[p.length] = wilson_interval(float(p.value or 0.0) * p.n, p.n, z)
        what = "Wilson" if not any(p.parts for p in measured) else "MOVER over members' Wilson"
    else:
        base = ref.value_at(rule.baseline.length) if ref is not None and rule.baseline is not None else None
        base_docs = _documents(results, base.record) if base is not None and base.record is not None else None
        for p in measured:
            docs = _documents(results, p.record) if p.record is not None else None
            if not docs or len(docs) < 2:
                continue
            keys = sorted(docs)
            if base_docs and rule.baseline is not None and docs.keys() == base_docs.keys():
                low, high = paired_bootstrap_ppl_ratio(
                    [docs[d][0] for d in keys],
                    [base_docs[d][0] for d in keys],
                    [docs[d][1] for d in keys],
                    [base_docs[d][1] for d in keys],
                    seed=p.length,
                    level=level,
                )
                out[p.length] = (low * rule.baseline.value, high * rule.baseline.value)
            else:
                out[p.length] = bootstrap_perplexity(
                    [docs[d][0] for d in keys], [docs[d][1] for d in keys], seed=p.length, level=level
                )
        what = "bootstrap over documents (paired with the baseline where they share documents)"
    method = f"simultaneous over {k} lengths (Bonferroni, each at {level:.4g}): {what}"
    if len(out) < len(measured):
        method += f"; {len(measured) - len(out)} lengths without one keep their cell's own 95% interval"
    return out, method


def _documents(results: Results, record: CellRecord) -> dict[int, tuple[float, int]] | None:
    """doc_index -> (NLL sum, scored tokens) of a perplexity cell, if its samples say so."""
    return results.cell_samples(record).documents()


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
        if r.status != "ok" or not isinstance(r.metrics, RetrievalMetrics):
            continue
        strict, lenient = r.metrics.accuracy_strict, r.metrics.accuracy_lenient
        if strict is not None and lenient is not None and strict != lenient:
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
        "length, with in brackets the range the intervals allow (from the longest length that "
        "certainly passes to the last one before a certain failure). The range is drawn from "
        "simultaneous intervals over the series' k lengths (Bonferroni: each at 1 − 0.05/k), so "
        "'certainly' holds for all of its lengths at once. Rules: " + "; ".join(rules) + ". "
        "Headline: see above; the per-task columns beside it include the quality guards. Retention: "
        f"the score at the native length relative to {options.against} there (perplexity as "
        f"{options.against}/method), the lowest over the tasks.",
        "Value tables' intervals are 95%: Wilson for accuracy, bootstrap over documents for perplexity"
        + (
            ", MOVER over the members' own intervals for a task group's weighted average."
            if arranged.groups
            else "."
        ),
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
    drifts = [
        r.metrics.depth_drift or 0.0
        for r in results.records
        if isinstance(r.metrics, RetrievalMetrics) and r.metrics.depth_warning
    ]
    if drifts:
        out.append(
            f"In {len(drifts)} cells the needles landed up to {max(drifts):.2f} of the filler before the "
            "depth asked for (the haystack has few sentence ends; a needle goes at the last one before its "
            "depth): the heatmaps' rows say where they really were."
        )
    if results.superseded:
        out.append(
            f"{len(results.superseded)} cells of an earlier version of the sweep were replaced by this "
            "run's and are left out (`report --all` lists them)."
        )
    return out
