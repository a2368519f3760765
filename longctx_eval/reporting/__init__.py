"""Reports from results directories alone (no model, no GPU).

`write_report(dir)` writes leaderboard.json (the one summary every rendering is drawn from),
leaderboard.md / .csv / .tex, report.html and the pictures under plots/ beside it (the page
links the larger ones: docs/report.md);
`compare(dirs, out)` merges several results directories into `out` first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from longctx_eval.headline_spec import HeadlineSpec
from longctx_eval.reporting.effective import ReportOptions
from longctx_eval.reporting.html import render
from longctx_eval.reporting.plots import make_figures, palette_of, relative_perplexity
from longctx_eval.reporting.results import MergeError, Results, load_results
from longctx_eval.reporting.series import arrange
from longctx_eval.reporting.summary import Summary, build_summary
from longctx_eval.reporting.tables import csv_text, latex, markdown
from longctx_eval.reporting.usage_figures import usage_figures
from longctx_eval.store import PARAMS, RECORDS, ROPE, SAMPLES, atomic_write, dumps, gc_frozen

_log = logging.getLogger("longctx_eval.report")
_MARKER = "merged_from.json"  # marks a directory `compare` made (and may overwrite)

__all__ = [
    "MergeError",
    "ReportOptions",
    "Results",
    "Summary",
    "build_summary",
    "compare",
    "load_results",
    "write_report",
]


def write_report(
    directory: Path | str,
    options: ReportOptions | None = None,
    title: str | None = None,
    pictures: bool = True,
    show_superseded: bool = False,
) -> list[Path]:
    """Write the leaderboards, and (with `pictures`) plots/*.png and report.html, into `directory`."""
    directory = Path(directory)
    results = load_results([directory])
    if not results.records:
        raise FileNotFoundError(f"no records in {directory} (expected {directory / RECORDS})")
    return _write(
        results,
        directory,
        options or ReportOptions(),
        title or _title(results, directory),
        pictures,
        show_superseded,
    )


def _title(results: Results, directory: Path) -> str:
    names = list(dict.fromkeys(str(m["sweep"]) for m in results.manifests if m.get("sweep")))
    return f"longctx-eval: {' + '.join(names) if names else directory.name}"


def _write(
    results: Results,
    out: Path,
    options: ReportOptions,
    title: str,
    pictures: bool,
    show_superseded: bool = False,
) -> list[Path]:
    # The loaded records stay out of garbage collections while the report is built: 65 against
    # 69 s, and 69 against 74 s, for report --no-pictures of 10k cells (interleaved, load 12).
    with gc_frozen():
        summary = build_summary(results, _with_headline(options, results), title)
        for warning in summary.warnings:  # also at the top of leaderboard.md and report.html
            _log.warning("warning: %s", warning)
        written = {
            out / "leaderboard.json": summary.model_dump_json(indent=1) + "\n",
            out / "leaderboard.md": markdown(summary),
            out / "leaderboard.csv": csv_text(results),
            out / "leaderboard.tex": latex(summary),
        }
        for path, text in written.items():
            atomic_write(path, text)
        paths = list(written)
        if pictures:
            arranged = arrange(results)
            palette = palette_of(results)  # one colour per method label in every figure
            figures = (
                make_figures(results, arranged, palette)
                + relative_perplexity(summary, palette)
                + usage_figures(results, arranged, options.against, palette)
            )
            plots = out / "plots"
            plots.mkdir(parents=True, exist_ok=True)
            names = {f"{f.name}.png" for f in figures}
            for stale in plots.glob("*.png"):  # pictures of an earlier report that this one no longer has
                if stale.name not in names:
                    stale.unlink()
            for f in figures:
                path = plots / f"{f.name}.png"
                path.write_bytes(f.png)
                paths.append(path)
            atomic_write(out / "report.html", render(summary, results, figures, show_superseded))
            paths.append(out / "report.html")
        return paths


def _with_headline(options: ReportOptions, results: Results) -> ReportOptions:
    """The report's own headline option first, else the sweep's `headline:` (from its manifest)."""
    if options.headline is not None:
        return options
    found = [m["config"]["headline"] for m in results.manifests if (m.get("config") or {}).get("headline")]
    if not found:
        return options
    return options.model_copy(update={"headline": HeadlineSpec.model_validate(found[0])})


def compare(
    dirs: Sequence[Path | str],
    out: Path | str,
    options: ReportOptions | None = None,
    pictures: bool = True,
    show_superseded: bool = False,
) -> list[Path]:
    """Merge results directories (runs, models, backends, shards) into `out`, then report there
    (with `write_report`'s options)."""
    out = Path(out)
    paths = [Path(d) for d in dirs]
    if any(out.resolve() == d.resolve() for d in paths):
        raise MergeError(f"the output directory {out} is one of the inputs: choose a new one")
    if (out / RECORDS).exists() and not (out / _MARKER).exists():
        raise MergeError(f"{out} holds a run's results: compare writes into a new directory")
    results = load_results(paths)  # raises MergeError on disagreement
    if not results.records:
        raise FileNotFoundError("no records in " + ", ".join(str(d) for d in paths))
    (out / SAMPLES).mkdir(parents=True, exist_ok=True)
    written: set[Path] = set()  # rope and params files are shared by many records: each written once
    for r in results.records:
        src = results.source[r.cell_id] / SAMPLES / f"{r.cell_id}.jsonl"
        if src.exists():
            atomic_write(out / SAMPLES / src.name, src.read_text(encoding="utf-8"))
        rope_path = out / ROPE / f"{r.rope_key}.json"
        if r.rope_key is not None and rope_path not in written and (rope := results.rope(r)) is not None:
            atomic_write(rope_path, dumps(rope) + "\n")
            written.add(rope_path)
        params_path = out / PARAMS / f"{r.task_params_key}.json"
        if r.task_params_key is not None and not r.task_params and params_path not in written:
            params = results.task_params(r)
            if params:  # a source without the file gives {}: leave it to one that has it
                atomic_write(params_path, dumps(params) + "\n")
                written.add(params_path)
    atomic_write(out / RECORDS, "".join(dumps(r) + "\n" for r in results.records))
    atomic_write(out / _MARKER, dumps({"merged_from": [str(d) for d in paths]}) + "\n")
    merged = Results(
        results.records,
        {r.cell_id: out for r in results.records},
        results.manifests,
        results.frequencies,
        results.superseded,
    )
    title = f"longctx-eval: {' + '.join(d.name for d in paths)}"
    return _write(merged, out, options or ReportOptions(), title, pictures, show_superseded)
