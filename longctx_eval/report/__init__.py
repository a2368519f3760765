"""Reports from results directories alone (no model, no GPU).

`write_report(dir)` writes leaderboard.md / .csv / .tex, report.html (self-contained) and the
pictures under plots/; `compare(dirs, out)` merges several results directories into `out` first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from longctx_eval.report.html import render
from longctx_eval.report.plots import make_figures
from longctx_eval.report.results import MergeError, Results, load_results
from longctx_eval.report.summary import ReportOptions, leaderboard
from longctx_eval.report.tables import csv_text, latex, markdown
from longctx_eval.store import RECORDS, SAMPLES, atomic_write, dumps

_MARKER = "merged_from.json"  # marks a directory `compare` made (and may overwrite)

__all__ = ["MergeError", "ReportOptions", "Results", "compare", "leaderboard", "load_results", "write_report"]


def write_report(
    directory: Path, options: ReportOptions | None = None, title: str | None = None, pictures: bool = True
) -> list[Path]:
    """Write the leaderboards, and (with `pictures`) plots/*.png and report.html, into `directory`."""
    directory = Path(directory)
    results = load_results([directory])
    if not results.records:
        raise FileNotFoundError(f"no records in {directory} (expected {directory / RECORDS})")
    return _write(
        results, directory, options or ReportOptions(), title or f"longctx-eval: {directory.name}", pictures
    )


def _write(results: Results, out: Path, options: ReportOptions, title: str, pictures: bool) -> list[Path]:
    written = {
        out / "leaderboard.md": markdown(results, title, options),
        out / "leaderboard.csv": csv_text(results),
        out / "leaderboard.tex": latex(results, options),
    }
    for path, text in written.items():
        atomic_write(path, text)
    paths = list(written)
    if pictures:
        figures = make_figures(results)
        (out / "plots").mkdir(parents=True, exist_ok=True)
        for f in figures:
            path = out / "plots" / f"{f.name}.png"
            path.write_bytes(f.png)
            paths.append(path)
        atomic_write(out / "report.html", render(results, title, options, figures))
        paths.append(out / "report.html")
    return paths


def compare(dirs: Sequence[Path], out: Path, options: ReportOptions | None = None) -> list[Path]:
    """Merge results directories (runs, models, backends, shards) into `out`, then report there."""
    out = Path(out)
    if any(out.resolve() == Path(d).resolve() for d in dirs):
        raise MergeError(f"the output directory {out} is one of the inputs: choose a new one")
    if (out / RECORDS).exists() and not (out / _MARKER).exists():
        raise MergeError(f"{out} holds a run's results: compare writes into a new directory")
    results = load_results([Path(d) for d in dirs])  # raises MergeError on disagreement
    if not results.records:
        raise FileNotFoundError("no records in " + ", ".join(str(d) for d in dirs))
    (out / SAMPLES).mkdir(parents=True, exist_ok=True)
    for r in results.records:
        src = results.source[r["cell_id"]] / SAMPLES / f"{r['cell_id']}.jsonl"
        if src.exists():
            atomic_write(out / SAMPLES / src.name, src.read_text(encoding="utf-8"))
    atomic_write(out / RECORDS, "".join(dumps(r) + "\n" for r in results.records))
    atomic_write(out / _MARKER, dumps({"merged_from": [str(d) for d in dirs]}) + "\n")
    merged = Results(results.records, {r["cell_id"]: out for r in results.records}, results.manifests)
    return _write(
        merged,
        out,
        options or ReportOptions(),
        f"longctx-eval: {' + '.join(Path(d).name for d in dirs)}",
        True,
    )
