"""The report's pictures (matplotlib, PNG), from records and samples only.

- NIAH-style heatmap per model × method@factor: requested depth (y) × length (x), red → yellow →
  green, each cell annotated with its accuracy;
- accuracy vs length per model and retrieval task, one line per method@factor, Wilson band;
- perplexity vs length (log y) per model, one line per method@factor, bootstrap band;
- loss by position within the context, at the longest length each method reached;
- the rotary frequency picture per model: wavelength of each pair before and after each method,
  with the original context marked.
"""

from __future__ import annotations

import io
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from longctx_eval.records import RopeFrequencies
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged, Series


@dataclass(frozen=True)
class Figure:
    name: str  # file name stem, safe for a path
    title: str
    kind: str  # heatmap | accuracy | perplexity | loss_by_position | rope | usage
    task: str | None  # None for the per-model rope picture
    png: bytes
    caption: str = ""  # what is plotted, beyond the title (shown under the picture)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def _slug(*parts: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@=-]+", "_", "-".join(parts)).strip("_")


def _log_y(ax: Any) -> None:
    """Log scale with readable numbers even when the range spans less than a decade."""
    from matplotlib import ticker

    ax.set_yscale("log")
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    low, high = ax.get_ylim()
    if high / low < 3:  # too narrow for 1-2-5 ticks: label a few evenly spaced values
        ticks = [float(f"{v:.3g}") for v in np.geomspace(low, high, 5)]
        ax.yaxis.set_major_locator(ticker.FixedLocator(ticks))


def _length_axis(ax: Any, lengths: list[int], original: int) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths)
    ax.set_xticklabels([str(n) for n in lengths], rotation=45 if len(lengths) > 6 else 0)
    ax.minorticks_off()
    if original:
        ax.axvline(original, color="grey", linestyle=":", linewidth=1)
        ax.text(original, ax.get_ylim()[1], " L", color="grey", va="top", fontsize=8)
    ax.set_xlabel("context length (tokens)")


def make_figures(results: Results, arranged: Arranged) -> list[Figure]:
    figures: list[Figure] = []
    for task in arranged.tasks:
        series = arranged.series[task]
        if series[0].metric == "accuracy":
            if task not in arranged.groups:
                figures += heatmaps(results, series)
            figures += curves(series, "accuracy")
        else:
            figures += curves(series, "perplexity")
            figures += loss_by_position(series)
    figures += rope_pictures(results)
    return figures


_GRID_MAX = 12  # more distinct requested depths than this: bin them (passkey's random depths)
_BINS = 5


def heatmaps(results: Results, series: list[Series]) -> list[Figure]:
    """Depth × length accuracy, for every retrieval task whose samples record their depth.

    NIAH places needles on a grid of depths, which become the rows; passkey draws a random depth
    per sample, so its depths are binned into fifths of the context.
    """
    out = []
    for s in series:
        scored: list[tuple[float, int, float]] = []
        for p in s.points:
            if p.status == "ok" and p.record is not None:
                for x in results.samples(p.record):
                    depth = getattr(x, "depth_requested", None)
                    if isinstance(depth, (int, float)) and x.score is not None:
                        scored.append((float(depth), p.length, float(x.score)))
        if not scored:
            continue
        exact = len({round(d, 4) for d, _, _ in scored}) <= _GRID_MAX
        grid: dict[tuple[float, int], list[float]] = defaultdict(list)
        for d, n, score in scored:
            row = round(d, 4) if exact else min(int(d * _BINS), _BINS - 1) / _BINS
            grid[(row, n)].append(score)
        depths = sorted({d for d, _ in grid})
        lengths = sorted({n for _, n in grid})
        labels = [f"{100 * d:g}%" if exact else f"{100 * d:g}–{100 * (d + 1 / _BINS):g}%" for d in depths]
        out.append(_heatmap(s, depths, labels, lengths, grid))
    return out


def _heatmap(
    s: Series,
    depths: list[float],
    labels: list[str],
    lengths: list[int],
    grid: dict[tuple[float, int], list[float]],
) -> Figure:
    import numpy as np

    plt = _plt()
    values = np.full((len(depths), len(lengths)), np.nan)
    for (d, n), scores in grid.items():
        values[depths.index(d), lengths.index(n)] = sum(scores) / len(scores)
    fig, ax = plt.subplots(figsize=(1.1 + 0.75 * len(lengths), 1.0 + 0.45 * len(depths)))
    ax.imshow(values, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i in range(len(depths)):
        for j in range(len(lengths)):
            if not math.isnan(values[i, j]):
                ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(lengths)), [str(n) for n in lengths])
    ax.set_yticks(range(len(depths)), labels)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("needle depth")
    title = f"{s.task}: {s.model} {s.method_label}"
    ax.set_title(title, fontsize=10)
    return Figure(_slug("heatmap", s.task, s.model, s.method_label), title, "heatmap", s.task, _png(fig))


def _by_model(series: list[Series]) -> dict[str, list[Series]]:
    out: dict[str, list[Series]] = defaultdict(list)
    for s in series:
        out[s.model].append(s)
    return out


def curves(series: list[Series], kind: str) -> list[Figure]:
    """One picture per model: a line per method@factor with its 95% band."""
    plt = _plt()
    out = []
    for model, group in _by_model(series).items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        lengths = sorted({p.length for s in group for p in s.points})
        for s in group:
            pts = [p for p in s.points if p.value is not None]
            if not pts:
                continue
            xs = [p.length for p in pts]
            (line,) = ax.plot(xs, [p.value for p in pts], marker="o", markersize=3, label=s.method_label)
            if all(p.low is not None and p.high is not None for p in pts):
                ax.fill_between(
                    xs, [p.low for p in pts], [p.high for p in pts], color=line.get_color(), alpha=0.15
                )
        if kind == "perplexity":
            _log_y(ax)
            ax.set_ylabel("perplexity (log)")
        else:
            ax.set_ylim(-0.02, 1.02)
            ax.set_ylabel("accuracy")
        _length_axis(ax, lengths, group[0].original_context)
        title = f"{group[0].task}: {model}"
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, ncol=2 if len(group) > 6 else 1)
        out.append(Figure(_slug(kind, group[0].task, model), title, kind, group[0].task, _png(fig)))
    return out


def loss_by_position(series: list[Series]) -> list[Figure]:
    """Mean NLL by position bin, at the longest length each method reached."""
    plt = _plt()
    out = []
    for model, group in _by_model(series).items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        drawn = False
        for s in group:
            pts = [
                p
                for p in s.points
                if p.value is not None and p.record is not None and p.record.metrics.get("loss_by_position")
            ]
            if not pts:
                continue
            p = pts[-1]
            assert p.record is not None
            bins = [b for b in p.record.metrics.get("loss_by_position") if b.get("nll") is not None]
            ax.plot(
                [(b["start"] + b["end"]) / 2 for b in bins],
                [b["nll"] for b in bins],
                marker=".",
                label=f"{s.method_label} @ {p.length}",
            )
            drawn = True
        if not drawn:
            plt.close(fig)
            continue
        if group[0].original_context:
            ax.axvline(group[0].original_context, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("position in the context (tokens)")
        ax.set_ylabel("mean NLL (nats)")
        title = f"{group[0].task}: loss by position, {model}"
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
        out.append(
            Figure(
                _slug("loss_by_position", group[0].task, model),
                title,
                "loss_by_position",
                group[0].task,
                _png(fig),
            )
        )
    return out


def rope_pictures(results: Results) -> list[Figure]:
    """Wavelength per rotary pair before and after each method, per model."""
    plt = _plt()
    out = []
    by_model: dict[str, dict[str, RopeFrequencies]] = defaultdict(dict)
    original: dict[str, int] = {}
    for r in sorted(results.records, key=lambda r: r.length):
        rope = results.rope(r)
        if rope is not None:
            model = results.model_label(r)
            by_model[model][r.method_label] = rope  # the longest length wins
            original[model] = r.original_context
    for model, methods in by_model.items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        first = next(iter(methods.values()))
        base = [2 * math.pi / f for f in first.base_inv_freq]
        ax.plot(range(len(base)), base, color="black", linestyle="--", linewidth=1.5, label="plain RoPE")
        for label, rope in methods.items():
            if label == "none":
                continue
            inv = rope.inv_freq
            pairs = [i for i, f in enumerate(inv) if f > 0]
            ax.plot(pairs, [2 * math.pi / inv[i] for i in pairs], linewidth=1, label=label)
        if original.get(model):
            ax.axhline(original[model], color="grey", linestyle=":", linewidth=1)
            ax.text(0, original[model], " L (original context)", color="grey", va="bottom", fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel("rotary pair i")
        ax.set_ylabel("wavelength (tokens, log)")
        title = f"rotary wavelengths: {model}"
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, ncol=2 if len(methods) > 6 else 1)
        out.append(Figure(_slug("rope", model), title, "rope", None, _png(fig)))
    return out
