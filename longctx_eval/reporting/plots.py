"""The report's pictures (matplotlib, PNG), from records and samples only.

- NIAH-style heatmap per model × method@factor: requested depth (y) × length (x), red → yellow →
  green, each cell annotated with its accuracy;
- accuracy vs length per model and retrieval task, one line per method@factor, Wilson band;
- perplexity vs length (log y) per model, one line per method@factor, bootstrap band;
- loss by position within the context, at the longest length each method reached;
- the rotary frequency picture per model: wavelength of each pair before and after each method,
  with the original context marked.

Every method is drawn in its colour from the report's one `Palette` (longctx_eval/colors.py), each
artist tagged with its label (`gid`), so `Figure.colors` records what was really drawn.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from longctx_eval import pictures
from longctx_eval.colors import Palette
from longctx_eval.payloads import PerplexityMetrics
from longctx_eval.pictures import png, pyplot
from longctx_eval.records import RopeFrequencies
from longctx_eval.reporting.results import Results
from longctx_eval.reporting.series import Arranged, Series


@dataclass(frozen=True)
class Figure:
    name: str  # file name stem, safe for a path
    title: str
    kind: str  # heatmap | accuracy | perplexity | perplexity_relative | loss_by_position | rope | usage
    task: str | None  # None for the per-model rope picture
    png: bytes
    caption: str = ""  # what is plotted, beyond the title (shown under the picture)
    model: str | None = None  # the model it shows (the page's "show one model" filter)
    # method label -> the colour its artists were drawn in, read back from the figure (`drawn`)
    colors: dict[str, str] = field(default_factory=dict)


def drawn(fig: Any) -> tuple[bytes, dict[str, str]]:
    """The figure as PNG, and method label -> the colour it was drawn in (`pictures.colours`)."""
    colours = pictures.colours(fig)
    return png(fig), colours


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


def palette_of(results: Results) -> Palette:
    """The report's one palette: every method label of its records (see `colors`)."""
    return Palette({r.method_label for r in results.records})


def make_figures(results: Results, arranged: Arranged, palette: Palette | None = None) -> list[Figure]:
    palette = palette or palette_of(results)
    figures: list[Figure] = []
    for task in arranged.tasks:
        series = arranged.series[task]
        if series[0].metric == "accuracy":
            if task not in arranged.groups:
                figures += heatmaps(results, series)
            figures += curves(series, "accuracy", palette)
        else:
            figures += curves(series, "perplexity", palette)
            figures += loss_by_position(series, palette)
    figures += rope_pictures(results, palette)
    return figures


_GRID_MAX = 12  # more distinct requested depths than this: bin them (passkey's random depths)
_BINS = 5


def heatmaps(results: Results, series: list[Series]) -> list[Figure]:
    """Depth × length accuracy, for every retrieval task whose samples record their depth.

    NIAH places needles on a grid of depths, which become the rows; passkey draws a random depth
    per sample, so its depths are binned into fifths of the context. Each row is labelled with the
    requested depth and where the needles really landed on average (`filler_depth`: needles snap
    back to a sentence end, far back in a haystack with few of them).
    """
    out = []
    for s in series:
        scored: list[tuple[float, float, int, float]] = []
        for p in s.points:
            if p.status == "ok" and p.record is not None:
                c = results.cell_samples(p.record)
                for depth, real, score in zip(c.depth_requested, c.landed, c.depth_scores, strict=True):
                    scored.append((depth, real, p.length, score))
        if not scored:
            continue
        exact = len({round(d, 4) for d, _, _, _ in scored}) <= _GRID_MAX
        grid: dict[tuple[float, int], list[float]] = defaultdict(list)
        landed: dict[float, list[float]] = defaultdict(list)
        for d, real, n, score in scored:
            row = round(d, 4) if exact else min(int(d * _BINS), _BINS - 1) / _BINS
            grid[(row, n)].append(score)
            landed[row].append(real)
        depths = sorted({d for d, _ in grid})
        lengths = sorted({n for _, n in grid})
        out.append(_heatmap(s, depths, depth_labels(depths, landed, exact), lengths, grid))
    return out


def depth_labels(depths: list[float], landed: dict[float, list[float]], exact: bool) -> list[str]:
    """Row labels: the depth asked for, and where the needles of that row landed on average."""
    labels = []
    for d in depths:
        asked = f"{100 * d:g}%" if exact else f"{100 * d:g}–{100 * (d + 1 / _BINS):g}%"
        labels.append(f"{asked} (at {100 * sum(landed[d]) / len(landed[d]):.0f}%)")
    return labels


def _heatmap(
    s: Series,
    depths: list[float],
    labels: list[str],
    lengths: list[int],
    grid: dict[tuple[float, int], list[float]],
) -> Figure:
    import numpy as np

    plt = pyplot()
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
    ax.set_ylabel("needle depth asked (real, mean)")
    title = f"{s.task}: {s.model} {s.method_label}"
    ax.set_title(title, fontsize=10)
    caption = (
        f"accuracy of {s.task} by needle depth (rows: the depth asked for, and in brackets where the "
        "needles really landed on average: they go at the last sentence end before the depth) and "
        "context length (columns)"
    )
    return Figure(
        _slug("heatmap", s.task, s.model, s.method_label),
        title,
        "heatmap",
        s.task,
        png(fig),
        caption,
        model=s.model,
    )


def _by_model(series: list[Series]) -> dict[str, list[Series]]:
    out: dict[str, list[Series]] = defaultdict(list)
    for s in series:
        out[s.model].append(s)
    return out


def _legend_outside(ax: Any) -> None:
    """The legend right of the plot, where it cannot cover a line."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)


def _auto_note(group: list[Series]) -> str:
    """Which factor an `auto` method ran at: length / L, at least 1."""
    auto = [s for s in group if s.method_label.endswith("@auto")]
    if not auto:
        return ""
    L = group[0].original_context
    return f"@auto methods ran at factor max(1, length / {L}) at each length."


def relative_perplexity(summary: Any, palette: Palette | None = None) -> list[Figure]:
    """Perplexity of each method over `against`'s at the same length, on the same documents, with
    the paired 95% band: the document-to-document spread that blurs the absolute plot cancels."""
    plt = pyplot()
    out = []
    ratios = [d for d in summary.paired if d.kind == "ratio"]
    palette = palette or Palette({d.method_label for d in ratios})
    for (task, model), diffs in _grouped(ratios).items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for method, ds in _by_method(diffs).items():
            ds = sorted(ds, key=lambda d: d.length)
            xs = [d.length for d in ds]
            colour = palette[method]
            ax.plot(
                xs, [d.estimate for d in ds], marker="o", markersize=3, label=method, color=colour, gid=method
            )
            if all(d.low is not None and d.high is not None for d in ds):
                ax.fill_between(
                    xs, [d.low for d in ds], [d.high for d in ds], color=colour, alpha=0.15, gid=method
                )
        ax.axhline(1.0, color="black", linewidth=0.8)
        _log_y(ax)
        lengths = sorted({d.length for d in diffs})
        ax.set_xscale("log", base=2)
        ax.set_xticks(lengths)
        ax.set_xticklabels([str(n) for n in lengths], rotation=45 if len(lengths) > 6 else 0)
        ax.minorticks_off()
        ax.set_xlabel("context length (tokens)")
        against = diffs[0].against
        ax.set_ylabel(f"perplexity / {against}'s (log)")
        title = f"{task}: {model}, relative to {against}"
        ax.set_title(title, fontsize=10)
        _legend_outside(ax)
        caption = (
            f"each method's perplexity divided by {against}'s at the same length on the same documents "
            "(below 1: better), with its paired 95% bootstrap band over documents"
        )
        picture, colours = drawn(fig)
        out.append(
            Figure(
                _slug("perplexity_relative", task, model),
                title,
                "perplexity_relative",
                task,
                picture,
                caption,
                model=model,
                colors=colours,
            )
        )
    return out


def _grouped(diffs: list[Any]) -> dict[tuple[str, str], list[Any]]:
    out: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for d in diffs:
        out[(d.task, d.model)].append(d)
    return out


def _by_method(diffs: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = defaultdict(list)
    for d in diffs:
        out[d.method_label].append(d)
    return out


def curves(series: list[Series], kind: str, palette: Palette | None = None) -> list[Figure]:
    """One picture per model: a line per method@factor with its 95% band."""
    plt = pyplot()
    out = []
    palette = palette or Palette({s.method_label for s in series})
    for model, group in _by_model(series).items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        lengths = sorted({p.length for s in group for p in s.points})
        for s in group:
            pts = [p for p in s.points if p.value is not None]
            if not pts:
                continue
            xs = [p.length for p in pts]
            colour, label = palette[s.method_label], s.method_label
            ax.plot(
                xs, [p.value for p in pts], marker="o", markersize=3, label=label, color=colour, gid=label
            )
            if all(p.low is not None and p.high is not None for p in pts):
                ax.fill_between(
                    xs, [p.low for p in pts], [p.high for p in pts], color=colour, alpha=0.15, gid=label
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
        _legend_outside(ax)
        what = "accuracy" if kind != "perplexity" else "perplexity (log scale)"
        band = "Wilson" if kind != "perplexity" else "bootstrap over documents"
        caption = (
            f"{what} of {group[0].task} against context length (log scale), one line per method, "
            f"with its 95% {band} band; the dotted line is the native length L. {_auto_note(group)}"
        )
        picture, colours = drawn(fig)
        out.append(
            Figure(
                _slug(kind, group[0].task, model),
                title,
                kind,
                group[0].task,
                picture,
                caption,
                model=model,
                colors=colours,
            )
        )
    return out


def loss_by_position(series: list[Series], palette: Palette | None = None) -> list[Figure]:
    """Mean NLL by position bin, at the longest length each method reached."""
    plt = pyplot()
    out = []
    palette = palette or Palette({s.method_label for s in series})
    for model, group in _by_model(series).items():
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        any_drawn = False
        for s in group:
            profiles = [
                (p.length, p.record.metrics.loss_by_position)
                for p in s.points
                if p.value is not None
                and p.record is not None
                and isinstance(p.record.metrics, PerplexityMetrics)
                and p.record.metrics.loss_by_position
            ]
            if not profiles:
                continue
            length, profile = profiles[-1]
            bins = [b for b in profile if b.nll is not None]
            ax.plot(
                [(b.start + b.end) / 2 for b in bins],
                [b.nll for b in bins],
                marker=".",
                label=f"{s.method_label} at {length}",
                color=palette[s.method_label],
                gid=s.method_label,
            )
            any_drawn = True
        if not any_drawn:
            plt.close(fig)
            continue
        if group[0].original_context:
            ax.axvline(group[0].original_context, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("position in the context (tokens)")
        ax.set_ylabel("mean NLL (nats)")
        title = f"{group[0].task}: loss by position, {model}"
        ax.set_title(title, fontsize=10)
        _legend_outside(ax)
        caption = (
            "mean NLL of the tokens in each position bin of the context, at the longest length each "
            "method was scored at (the label says which); the dotted line is the native length L"
        )
        picture, colours = drawn(fig)
        out.append(
            Figure(
                _slug("loss_by_position", group[0].task, model),
                title,
                "loss_by_position",
                group[0].task,
                picture,
                caption,
                model=model,
                colors=colours,
            )
        )
    return out


def rope_pictures(results: Results, palette: Palette | None = None) -> list[Figure]:
    """Wavelength per rotary pair before and after each method, per model."""
    plt = pyplot()
    out = []
    palette = palette or palette_of(results)
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
        ax.plot(
            range(len(base)),
            base,
            color=palette["none"],
            linestyle="--",
            linewidth=1.5,
            label="plain RoPE (none)",
            gid="none",
        )
        top = max(base) * 4  # where stopped pairs (frequency 0, wavelength ∞) are drawn
        stopped_any = False
        for label, rope in methods.items():
            if label == "none":
                continue
            inv = rope.inv_freq
            pairs = [i for i, f in enumerate(inv) if f > 0]
            colour = palette[label]
            ax.plot(
                pairs,
                [2 * math.pi / inv[i] for i in pairs],
                linewidth=1,
                label=label,
                color=colour,
                gid=label,
            )
            stopped = [i for i, f in enumerate(inv) if f <= 0]
            if stopped:
                stopped_any = True
                ax.scatter(stopped, [top] * len(stopped), marker="^", color=colour, s=14, zorder=3, gid=label)
        if stopped_any:
            ax.axhline(top, color="grey", linewidth=0.5)
            ax.text(0, top, " ∞: stopped (p-RoPE)", color="grey", va="bottom", fontsize=8)
        if original.get(model):
            ax.axhline(original[model], color="grey", linestyle=":", linewidth=1)
            ax.text(0, original[model], " L (original context)", color="grey", va="bottom", fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel("rotary pair i")
        ax.set_ylabel("wavelength (tokens, log)")
        title = f"rotary wavelengths: {model}"
        ax.set_title(title, fontsize=10)
        _legend_outside(ax)
        caption = (
            "wavelength 2π/θ of each rotary pair (pair 0 turns fastest) under plain RoPE (dashed) and "
            "each method at the longest length it ran; pairs above the dotted line L never complete a "
            "turn within the native context; triangles at the top are pairs a method stops (θ = 0)"
        )
        picture, colours = drawn(fig)
        out.append(
            Figure(_slug("rope", model), title, "rope", None, picture, caption, model=model, colors=colours)
        )
    return out
