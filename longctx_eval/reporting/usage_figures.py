"""The report's frequency-usage section: the `analysis` task's records turned into pictures.

Per model: where the q/k/v norm sits (layer × pair, from the reference method's cell at the native
length), the pairs the most positional layer's heads draw on, the decay curves and the
out-of-distribution share per method at the longest analysed length, beside the method's accuracy
(or perplexity) at that length from the other tasks, and the attention entropy against length.
"""

from __future__ import annotations

from typing import Any

from longctx_eval.colors import Palette
from longctx_eval.pictures import colours, png
from longctx_eval.records import CellRecord
from longctx_eval.reporting.plots import Figure, _slug
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged, Series
from longctx_eval.reporting.usage_table import (
    analysis_records,
    positional_heads,
    reference_cell,
    scores_at,
    series_by_model,
)
from longctx_eval.usage import plots as usage_plots


def usage_figures(
    results: Results, arranged: Arranged, against: str = "none", palette: Palette | None = None
) -> list[Figure]:
    out: list[Figure] = []
    palette = palette or Palette({r.method_label for r in results.records})
    series = series_by_model(arranged)
    for (task, model), recs in analysis_records(results, arranged).items():
        out += _model_figures(results, arranged, series, task, model, recs, against, palette)
    return out


def _figure(task: str, model: str, kind: str, title: str, picture: bytes | Any) -> Figure:
    """A usage picture: PNG bytes (no method drawn), or an open figure whose methods' colours are
    read back (`pictures.colours`) before it is turned into PNG."""
    if isinstance(picture, bytes):
        return Figure(_slug("usage", kind, task, model), title, "usage", task, picture, model=model)
    drawn = colours(picture)
    return Figure(
        _slug("usage", kind, task, model), title, "usage", task, png(picture), model=model, colors=drawn
    )


def _model_figures(
    results: Results,
    arranged: Arranged,
    series: dict[str, dict[str, list[Series]]],
    task: str,
    model: str,
    recs: list[CellRecord],
    against: str,
    palette: Palette,
) -> list[Figure]:
    out = []
    native = reference_cell(recs, against)
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
                usage_plots.norm_heatmaps(grids.q_norm, grids.k_norm, grids.v_norm),
            )
        )
        heads = positional_heads(native)
        if heads:
            out.append(
                _figure(
                    task,
                    model,
                    "heads",
                    f"{model}: ‖qᵢ‖·‖kᵢ‖ per head and pair i in its most positional layer ({where})",
                    usage_plots.head_pair_heatmap(grids.q_norm, grids.k_norm, heads),
                )
            )
    longest = max(r.length for r in recs)
    curves = [
        curve
        for r in recs
        if r.length == longest
        and (curve := usage_plots.decay_from_samples(results.samples(r), r.method_label))
    ]
    if curves:
        out.append(
            _figure(
                task,
                model,
                "decay",
                f"{model}: q·R(r)·k over distance r at {longest} tokens, per method",
                usage_plots.decay_figure(curves, colors=palette.as_dict()),
            )
        )
    out.append(
        _figure(
            task,
            model,
            "entropy",
            f"{model}: mean attention entropy against length, per method",
            usage_plots.entropy_figure(
                usage_plots.entropy_points(recs), native.original_context or None, colors=palette.as_dict()
            ),
        )
    )
    score_name, scores = scores_at(arranged, series, model, longest)
    rows = usage_plots.ood_rows(recs, scores, longest)
    if rows:
        out.append(
            _figure(
                task,
                model,
                "ood",
                f"{model}: out-of-distribution share of the q·k norm at {longest} tokens, "
                f"beside {score_name}",
                usage_plots.ood_figure(rows, score_name, longest, colors=palette.as_dict()),
            )
        )
    return out
