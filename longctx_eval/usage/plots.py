"""Pictures of a frequency-usage analysis (matplotlib, Agg), each returned as PNG bytes.

Every function takes plain numbers or `usage.result` models (a `UsageResult`'s fields, or what the
`analysis` task recorded), so the HTML report and a notebook draw the same pictures. The adapters at
the end turn the task's records and samples (read through `usage.records`) into those inputs:

- `norm_heatmaps`: layer × pair mean norm (over heads) of q, k and v, pair 0 (fastest) on the left;
- `head_pair_heatmap`: head × pair Cauchy–Schwarz bound ‖qᵢ‖·‖kᵢ‖ in the most positional layer;
- `decay_plot`: q·R(r)·k against r for all-ones, Gaussian (±2 standard errors) and the model's own
  vectors (mean over layers): small multiples, a row per method (the first method in grey behind
  each), a column per kind of vector;
- `entropy_plot`: mean attention entropy against length, one line per method;
- `ood_plot`: the out-of-distribution norm share per method beside its accuracy or perplexity at
  the same length.

Methods are drawn in the colours `colors` gives (label -> colour; the report passes its one
palette, so a method has one colour in every figure), each artist tagged with its label (`gid`).
The `*_figure` functions return the open figure (for `pictures.colours`), the `*_plot` ones PNG.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from longctx_eval.colors import Palette
from longctx_eval.pictures import png, pyplot
from longctx_eval.records import CellRecord, Sample
from longctx_eval.usage.norms import qk_bound
from longctx_eval.usage.positional import PositionalHead
from longctx_eval.usage.records import Table, analysis_metrics, layer_samples, rope_sample
from longctx_eval.usage.result import DecayCurves

Grid = Sequence[Sequence[Sequence[float]]]


def norm_heatmaps(q_norm: Grid, k_norm: Grid, v_norm: Grid, title: str = "") -> bytes:
    """Three layer × pair heatmaps (mean over heads): where the norm of q, k and v sits."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
    for ax, (name, grid) in zip(axes, (("q", q_norm), ("k", k_norm), ("v", v_norm)), strict=True):
        data = np.asarray(grid, dtype=float).mean(axis=1)
        im = ax.imshow(data, aspect="auto", cmap="viridis", interpolation="nearest")
        ax.set_title(f"{name}: mean norm of each pair before rotation", fontsize=9)
        ax.set_xlabel("pair (0 = highest frequency)")
        ax.set_yticks(range(data.shape[0]))
        fig.colorbar(im, ax=ax, fraction=0.046)
    axes[0].set_ylabel("layer")
    if title:
        fig.suptitle(title, y=1.04)
    return png(fig)


def most_positional_layer(heads: Sequence[PositionalHead]) -> int:
    """The layer of the strongest positional head (heads as `positional_heads` orders them)."""
    return heads[0].layer


def head_pair_heatmap(q_norm: Grid, k_norm: Grid, heads: Sequence[PositionalHead], title: str = "") -> bytes:
    """Head × pair bound ‖q^i‖·‖k^i‖ in the most positional layer, heads labelled with offset and share."""
    plt = pyplot()
    layer = most_positional_layer(heads)
    bound = qk_bound(np.asarray(q_norm, dtype=float), np.asarray(k_norm, dtype=float))[layer]
    labels = [f"head {h}" for h in range(bound.shape[0])]
    for h in heads:
        if h.layer == layer:
            labels[h.head] = f"head {h.head}: offset {h.offset}, {h.share:.2f}"
    fig, ax = plt.subplots(figsize=(9, 0.45 * bound.shape[0] + 1.6))
    im = ax.imshow(bound, aspect="auto", cmap="magma", interpolation="nearest")
    ax.set_yticks(range(bound.shape[0]), labels)
    ax.set_xlabel("pair (0 = highest frequency)")
    ax.set_title(title or f"layer {layer}: " + r"$\Vert q_i\Vert\,\Vert k_i\Vert$ per head and pair $i$")
    fig.colorbar(im, ax=ax, fraction=0.046)
    return png(fig)


def _colours(labels: Sequence[str], colors: Mapping[str, str] | None) -> Mapping[str, str]:
    return colors if colors is not None else Palette(labels).as_dict()


def decay_figure(
    curves: Sequence[DecayCurves], title: str = "", colors: Mapping[str, str] | None = None
) -> Any:
    """Small multiples of the decay curves: a row per method, a
    column per kind of vector (all-ones, Gaussian ±2 s.e., the model's own, mean over layers),
    y shared down each column; the first method is drawn in grey behind the others to read
    them against. One panel holds at most two lines, where one plot of every method was a tangle."""
    plt = pyplot()
    labels = [str(c.label) for c in curves]
    palette = _colours(labels, colors)
    rows = max(1, len(curves))
    fig, axes = plt.subplots(
        rows, 3, figsize=(11, 0.35 + 1.35 * rows), sharex=True, sharey="col", squeeze=False
    )
    kinds = ("all-ones q = k", "Gaussian q, k (±2 s.e.)", "model's q, k (mean over layers)")
    reference = curves[0] if curves else None

    def draw(ax: Any, curve: DecayCurves, kind: int, colour: str, gid: str | None) -> None:
        r = np.asarray(curve.distances)
        if kind == 0:
            ax.plot(r, curve.ones, color=colour, lw=1, gid=gid)
        elif kind == 1:
            mean, se = np.asarray(curve.gaussian_mean), np.asarray(curve.gaussian_se)
            ax.plot(r, mean, color=colour, lw=1, gid=gid)
            ax.fill_between(r, mean - 2 * se, mean + 2 * se, color=colour, alpha=0.15, gid=gid)
        else:
            ax.plot(r, np.asarray(curve.model, dtype=float).mean(axis=0), color=colour, lw=1, gid=gid)

    for row, (curve, label) in enumerate(zip(curves, labels, strict=True)):
        for kind in range(3):
            ax = axes[row][kind]
            if reference is not None and row > 0:
                draw(ax, reference, kind, "#bbbbbb", None)
            draw(ax, curve, kind, palette[label], label)
            ax.axhline(0, color="grey", lw=0.5)
            ax.tick_params(labelsize=7)
            if row == 0:
                ax.set_title(kinds[kind], fontsize=9)
        axes[row][0].set_ylabel(label, fontsize=8, color=palette[label], rotation=0, ha="right", va="center")
    for kind in range(3):
        axes[-1][kind].set_xlabel("distance r (tokens)", fontsize=8)
    heading = r"$q^\top R(r)\,k$ against distance r"
    if reference is not None and len(labels) > 1:
        heading += f"; grey: {labels[0]}"
    fig.suptitle(f"{title}: {heading}" if title else heading, fontsize=10)
    fig.tight_layout()
    return fig


def decay_plot(
    curves: Sequence[DecayCurves], title: str = "", colors: Mapping[str, str] | None = None
) -> bytes:
    """`decay_figure` as PNG."""
    return png(decay_figure(curves, title, colors))


def entropy_figure(
    points: Mapping[str, Sequence[tuple[int, float]]],
    original_context: int | None = None,
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> Any:
    """Mean attention entropy (nats) against length, one line per method; L marked when given."""
    plt = pyplot()
    palette = _colours(list(points), colors)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, series in points.items():
        xs, ys = zip(*sorted(series), strict=True) if series else ((), ())
        ax.plot(xs, ys, marker="o", label=label, color=palette[label], gid=label)
    if original_context:
        ax.axvline(original_context, color="grey", ls="--", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("length (tokens)")
    ax.set_ylabel("attention entropy (nats)")
    ax.set_title(title or "attention entropy by length")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig


def entropy_plot(
    points: Mapping[str, Sequence[tuple[int, float]]],
    original_context: int | None = None,
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> bytes:
    """`entropy_figure` as PNG."""
    return png(entropy_figure(points, original_context, title, colors))


def ood_figure(
    rows: Sequence[tuple[str, float, float | None]],
    score_name: str,
    length: int,
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> Any:
    """(method label, OOD share, score) rows: two bar panels sharing the methods axis, each bar in
    its method's colour."""
    plt = pyplot()
    labels = [row[0] for row in rows]
    palette = _colours(labels, colors)
    y = np.arange(len(rows))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 0.45 * len(rows) + 1.6), sharey=True)
    scores = [np.nan if row[2] is None else row[2] for row in rows]
    for i, (label, share, _) in enumerate(rows):
        left.barh(y[i], share, color=palette[label], gid=label)
        right.barh(y[i], scores[i], color=palette[label], gid=label)
    left.set_xlim(0, 1)
    left.set_xlabel(r"out-of-distribution share of $\Vert q\Vert\,\Vert k\Vert$")
    left.set_yticks(y, labels)
    left.invert_yaxis()
    right.set_xlabel(score_name)
    fig.suptitle(title or f"at {length} tokens")
    return fig


def ood_plot(
    rows: Sequence[tuple[str, float, float | None]],
    score_name: str,
    length: int,
    title: str = "",
    colors: Mapping[str, str] | None = None,
) -> bytes:
    """`ood_figure` as PNG."""
    return png(ood_figure(rows, score_name, length, title, colors))


# Adapters: the `analysis` task's records and samples (read through `usage.records`' models).


class NormGrids(NamedTuple):
    """One cell's mean pair norms, [layer][head][pair] (KV heads for k and v)."""

    q_norm: list[Table]
    k_norm: list[Table]
    v_norm: list[Table]


def grids_from_samples(samples: Sequence[Sample]) -> NormGrids:
    """The norm grids from one cell's layer samples."""
    layers = layer_samples(samples)
    return NormGrids([s.q_norm for s in layers], [s.k_norm for s in layers], [s.v_norm for s in layers])


def decay_from_samples(samples: Sequence[Sample], label: str) -> DecayCurves | None:
    """One cell's decay curves, labelled for `decay_plot` (None: the cell recorded no rotary sample)."""
    rope = rope_sample(samples)
    if rope is None:
        return None
    return DecayCurves(
        label=label,
        method=None,
        factor=None,
        inv_freq=rope.inv_freq,
        attention_factor=rope.attention_factor,
        distances=rope.distances,
        ones=rope.decay_ones,
        gaussian_mean=rope.decay_gaussian_mean,
        gaussian_se=rope.decay_gaussian_se,
        model=[s.decay_model for s in layer_samples(samples)],
    )


def entropy_points(
    records: Sequence[CellRecord], model: str | None = None
) -> dict[str, list[tuple[int, float]]]:
    """{method label: [(length, entropy_mean)]} from the task's ok records (of one model)."""
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for r in records:
        metrics = analysis_metrics(r)
        if metrics is not None and metrics.entropy_mean is not None and model in (None, r.model):
            out[r.method_label].append((r.length, metrics.entropy_mean))
    return dict(out)


def ood_rows(
    records: Sequence[CellRecord], scores: Mapping[str, float | None], length: int, model: str | None = None
) -> list[tuple[str, float, float | None]]:
    """(label, ood_share, score) at `length`; `scores` maps method labels to accuracy or perplexity."""
    rows = []
    for r in records:
        metrics = analysis_metrics(r)
        if metrics is None or metrics.ood_share is None or r.length != length or model not in (None, r.model):
            continue
        rows.append((r.method_label, metrics.ood_share, scores.get(r.method_label)))
    return rows
