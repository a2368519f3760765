"""The report's frequency-usage section: the `analysis` task's records turned into pictures.

Per model: where the q/k/v norm sits (layer × pair, from the reference method's cell at the native
length), the pairs the most positional layer's heads draw on, the decay curves and the
out-of-distribution share per method at the longest analysed length, beside the method's accuracy
(or perplexity) at that length from the other tasks, and the attention entropy against length.
"""

from __future__ import annotations

from collections import defaultdict

from longctx_eval.records import CellRecord
from longctx_eval.reporting.plots import Figure, _slug
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged, Series
from longctx_eval.usage import plots as usage_plots


def usage_figures(results: Results, arranged: Arranged, against: str = "none") -> list[Figure]:
    out: list[Figure] = []
    series = _series_by_model(arranged)
    for task, records in arranged.other.items():
        ok = [r for r in records if r.status == "ok" and r.metrics.get("entropy_mean") is not None]
        by_model: dict[str, list[CellRecord]] = defaultdict(list)
        for r in ok:
            by_model[results.model_label(r)].append(r)
        for model, recs in by_model.items():
            out += _model_figures(results, arranged, series, task, model, recs, against)
    return out


def _figure(task: str, model: str, kind: str, title: str, png: bytes) -> Figure:
    return Figure(_slug("usage", kind, task, model), title, "usage", task, png)


def _model_figures(
    results: Results,
    arranged: Arranged,
    series: dict[str, dict[str, list[Series]]],
    task: str,
    model: str,
    recs: list[CellRecord],
    against: str,
) -> list[Figure]:
    out = []
    native = min(recs, key=lambda r: (r.method_label != against, abs(r.length - r.original_context)))
    samples = results.samples(native)
    where = f"{native.method_label} at {native.length} tokens"
    if samples:
        grids = usage_plots.grids_from_samples(samples)
        out.append(
            _figure(
                task,
                model,
                "norms",
                f"{model}: mean norm of each rotary pair of q, k and v before rotation, per layer ({where})",
                usage_plots.norm_heatmaps(grids["q_norm"], grids["k_norm"], grids["v_norm"]),
            )
        )
        heads = native.metrics.get("positional_heads") or []
        if heads:
            out.append(
                _figure(
                    task,
                    model,
                    "heads",
                    f"{model}: ‖q^i‖·‖k^i‖ per head and pair in its most positional layer ({where})",
                    usage_plots.head_pair_heatmap(grids["q_norm"], grids["k_norm"], heads),
                )
            )
    longest = max(r.length for r in recs)
    curves = [
        usage_plots.decay_from_samples(s, r.method_label)
        for r in recs
        if r.length == longest and (s := results.samples(r))
    ]
    if curves:
        out.append(
            _figure(
                task,
                model,
                "decay",
                f"{model}: q·R(r)·k over distance r at {longest} tokens, per method",
                usage_plots.decay_plot(curves),
            )
        )
    out.append(
        _figure(
            task,
            model,
            "entropy",
            f"{model}: mean attention entropy against length, per method",
            usage_plots.entropy_plot(usage_plots.entropy_points(recs), native.original_context or None),
        )
    )
    score_name, scores = _scores_at(arranged, series, model, longest)
    rows = usage_plots.ood_rows(recs, scores, longest)
    if rows:
        out.append(
            _figure(
                task,
                model,
                "ood",
                f"{model}: out-of-distribution share of the q·k norm at {longest} tokens, "
                f"beside {score_name}",
                usage_plots.ood_plot(rows, score_name, longest),
            )
        )
    return out


def _scores_at(
    arranged: Arranged, by_model: dict[str, dict[str, list[Series]]], model: str, length: int
) -> tuple[str, dict[str, float | None]]:
    """Each method's headline score at `length` from the first accuracy task (else perplexity);
    `by_model`: task -> model -> series (`_series_by_model`: looking a model's series up instead of
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


def _series_by_model(arranged: Arranged) -> dict[str, dict[str, list[Series]]]:
    """task -> model -> its series, in the arrangement's order."""
    index: dict[str, dict[str, list[Series]]] = {}
    for task, series in arranged.series.items():
        for s in series:
            index.setdefault(task, {}).setdefault(s.model, []).append(s)
    return index
