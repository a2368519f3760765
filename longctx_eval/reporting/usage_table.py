"""The numbers behind the report's frequency-usage pictures, for `leaderboard.json`.

The page draws, per model and analysis task: the attention entropy of each method at each length,
the out-of-distribution share of the q·k norm at the longest analysed length beside each method's
score there, and the most positional heads of the reference cell. `usage_sections` gives the same
numbers as records, so a script reads them without parsing pictures. (The layer × pair norm grids
stay in the samples files: they are arrays, not figures a table holds.)
"""

from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel, ConfigDict, Field

from longctx_eval.records import CellRecord
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged, Series
from longctx_eval.usage.positional import PositionalHead
from longctx_eval.usage.records import analysis_metrics


class UsagePoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method_label: str = Field(description="method@factor of the analysis cell")
    length: int = Field(description="context length of the analysis cell (tokens)")
    entropy_mean: float | None = Field(description="mean attention entropy over layers (nats)")
    ood_share: float | None = Field(
        description="share of the q·k norm bound on pairs turned beyond what training saw"
    )


class UsageSection(BaseModel):
    """One model's frequency-usage figures from one analysis task."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="model label (with its backend when several are compared)")
    task: str = Field(description="the analysis task's label")
    reference: str = Field(description="the cell the norm and head pictures come from: method at length")
    longest: int = Field(description="the longest analysed length: where OOD shares and scores are compared")
    score_name: str = Field(description="which score `scores` holds: task, metric and length")
    scores: dict[str, float | None] = Field(
        description="method label -> its score (accuracy or perplexity) at `longest` from the other tasks"
    )
    positional_heads: list[PositionalHead] = Field(description="the reference cell's most positional heads")
    points: list[UsagePoint] = Field(description="every ok analysis cell of the model: entropy and OOD share")


def analysis_records(results: Results, arranged: Arranged) -> dict[tuple[str, str], list[CellRecord]]:
    """(task, model) -> the ok analysis cells (those that recorded an attention entropy), their
    metrics as `AnalysisMetrics`."""
    out: dict[tuple[str, str], list[CellRecord]] = defaultdict(list)
    for task, records in arranged.other.items():
        for r in records:
            if analysis_metrics(r) is not None:
                out[(task, results.model_label(r))].append(r)
    return dict(out)


def reference_cell(recs: list[CellRecord], against: str) -> CellRecord:
    """The reference method's cell nearest the native length (else any method's)."""
    return min(recs, key=lambda r: (r.method_label != against, abs(r.length - r.original_context)))


def scores_at(
    arranged: Arranged, by_model: dict[str, dict[str, list[Series]]], model: str, length: int
) -> tuple[str, dict[str, float | None]]:
    """Each method's headline score at `length` from the first accuracy task (else perplexity);
    `by_model`: task -> model -> series (`series_by_model`: looking a model's series up instead of
    scanning every model's keeps the usage section linear in models)."""
    tasks = sorted(arranged.tasks, key=lambda t: arranged.series[t][0].metric != "accuracy")
    for task in tasks:
        scores = {
            s.method_label: p.value
            for s in by_model.get(task, {}).get(model, [])
            if (p := s.value_at(length)) is not None
        }
        if scores:
            metric = arranged.series[task][0].metric
            return f"{task} {metric} at {length}", scores
    return "no score at this length", {}


def series_by_model(arranged: Arranged) -> dict[str, dict[str, list[Series]]]:
    """task -> model -> its series, in the arrangement's order."""
    index: dict[str, dict[str, list[Series]]] = {}
    for task, series in arranged.series.items():
        for s in series:
            index.setdefault(task, {}).setdefault(s.model, []).append(s)
    return index


def usage_sections(results: Results, arranged: Arranged, against: str = "none") -> list[UsageSection]:
    index = series_by_model(arranged)
    out = []
    for (task, model), recs in analysis_records(results, arranged).items():
        native = reference_cell(recs, against)
        longest = max(r.length for r in recs)
        score_name, scores = scores_at(arranged, index, model, longest)
        out.append(
            UsageSection(
                model=model,
                task=task,
                reference=f"{native.method_label} at {native.length} tokens",
                longest=longest,
                score_name=score_name,
                scores=scores,
                positional_heads=positional_heads(native),
                points=[_point(r) for r in sorted(recs, key=lambda r: (r.method_label, r.length))],
            )
        )
    return out


def positional_heads(record: CellRecord) -> list[PositionalHead]:
    """The most positional heads an analysis cell recorded ([] for any other cell)."""
    metrics = analysis_metrics(record)
    return [] if metrics is None else metrics.positional_heads


def _point(record: CellRecord) -> UsagePoint:
    metrics = analysis_metrics(record)
    return UsagePoint(
        method_label=record.method_label,
        length=record.length,
        entropy_mean=None if metrics is None else metrics.entropy_mean,
        ood_share=None if metrics is None else metrics.ood_share,
    )
