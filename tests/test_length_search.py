"""The adaptive length search: its grid, its bisection (against a known breaking length), the
sequential batches, resume after losing records, and the report pooling batches."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

import longctx_eval as lce
from longctx_eval.config import ConfigError, LengthSearch, parse_sweep
from longctx_eval.store import read_records

from .conftest import PLUGINS, sweep_dict


def search_sweep(model_dir: Path, **search: Any) -> dict[str, Any]:
    return sweep_dict(
        model_dir,
        methods=["none", {"method": "pi", "factors": [2]}],
        lengths={"search": {"from": 32, "to": 512, "resolution": 0.1, **search}},
        tasks=[{"task": "cutoff", "cutoff": 150, "samples": 40}],
        tasks_path=[str(PLUGINS / "cutoff.py")],
    )


def test_the_grid_is_geometric_and_keeps_both_ends():
    grid = LengthSearch.model_validate({"from": 256, "to": 2048, "resolution": 0.1}).grid()
    assert grid[0] == 256 and grid[-1] == 2048 and len(grid) == 23
    ratios = [b / a for a, b in itertools.pairwise(grid)]
    assert all(1.0 < r <= 1.1 + 0.01 for r in ratios[:-1]) and ratios[-1] <= 1.1 + 0.01


@pytest.mark.parametrize(
    ("lengths", "field", "message"),
    [
        ({"search": {"from": 512, "to": 256}}, "lengths.search.to", "`to` must be longer than `from`"),
        ({"search": {"from": 256, "to": 512, "resolutoin": 0.1}}, "lengths.search.resolutoin", "unknown key"),
        (
            {"search": {"from": 256, "to": 512, "resolution": 0}},
            "lengths.search.resolution",
            "greater than 0",
        ),
        ([], "lengths", "give at least one length"),
    ],
)
def test_bad_searches_name_their_field(tiny_model_dir: Path, lengths: Any, field: str, message: str):
    with pytest.raises(ConfigError) as err:
        parse_sweep(sweep_dict(tiny_model_dir, lengths=lengths))
    assert any(loc.startswith(field) and message in msg for loc, msg in err.value.problems), (
        err.value.problems
    )


def test_the_search_needs_accuracy_tasks(tiny_model_dir: Path, docs_file: Path):
    data = sweep_dict(
        tiny_model_dir,
        lengths={"search": {"from": 64, "to": 256}},
        tasks=[{"task": "perplexity", "dataset": str(docs_file)}],
    )
    with pytest.raises(ConfigError, match="the length search needs accuracy tasks; perplexity"):
        lce.validate(data)


def test_bisection_brackets_the_break_with_fewer_cells_than_the_grid(tmp_path: Path, tiny_model_dir: Path):
    data = search_sweep(tiny_model_dir)
    plan = lce.validate(data)
    assert plan.search is not None
    grid = plan.config.lengths
    out = tmp_path / "out"
    summary = lce.run(data, output=out, progress="none")
    records = read_records(out)
    assert summary.counts["ok"] == len(records)
    search = plan.search
    finished = {r.cell_id: r for r in records}
    for series in search.series:
        lo, hi = search.bracket(series, finished)
        # Every sample is right up to 150 tokens, none beyond: the bracket holds 150.
        assert lo is not None and hi is not None and lo <= 150 < hi
        assert grid.index(hi) == grid.index(lo) + 1  # neighbours on the grid: within its resolution
    # The fixed grid at the same resolution is one cell per length and series.
    assert len(records) <= len(grid) * len(search.series) / 2
    # The report pools and bisects like the search: its effective length is the bracket's low end.
    board = lce.load_results(out)
    summary_table = __import__("longctx_eval.reporting", fromlist=["build_summary"]).build_summary(board)
    assert {r.overall.effective_length for r in summary_table.leaderboard} == {lo}


def test_undecided_lengths_get_more_batches_and_the_pool_decides(tmp_path: Path, tiny_model_dir: Path):
    # Beyond 150, 92% of samples are right: at 40 samples the interval straddles 0.9, so the
    # search adds batches there (up to max_batches) before the point estimate decides.
    data = search_sweep(tiny_model_dir, max_batches=3)
    data["tasks"][0]["beyond"] = 0.92
    out = tmp_path / "out"
    lce.run(data, output=out, progress="none")
    records = read_records(out)
    batches = {(r.method_label, r.length): r.sample_batch for r in records}
    assert max(batches.values()) == 2  # three batches somewhere
    pooled = [r for r in records if r.sample_batch > 0]
    assert all(
        r.seed != next(x.seed for x in records if x.length == r.length and x.sample_batch == 0)
        for r in pooled
    )
    results = lce.load_results(out)
    from longctx_eval.reporting.series import arrange

    (series, *_) = arrange(results).series["cutoff"]
    n_at = {p.length: p.n for p in series.points}
    assert max(n_at.values()) == 120  # three batches of 40 pooled into one point


def test_a_killed_search_resumes_to_the_same_answer(tmp_path: Path, tiny_model_dir: Path):
    data = search_sweep(tiny_model_dir)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    lce.run(data, output=whole, progress="none")
    full = (whole / "records.jsonl").read_text().splitlines()
    # A run killed half-way: only its first records made it to disk.
    cut.mkdir()
    (cut / "records.jsonl").write_text("\n".join(full[: len(full) // 2]) + "\n")
    for f in (whole / "samples").iterdir():
        (cut / "samples").mkdir(exist_ok=True)
        (cut / "samples" / f.name).write_bytes(f.read_bytes())
    resumed = lce.run(data, output=cut, progress="none")
    assert resumed.already_done == len(full) // 2 and resumed.counts["ok"] == len(full) - len(full) // 2
    key = lambda d: sorted((r.cell_id, r.metrics.accuracy) for r in read_records(d))  # noqa: E731
    assert key(cut) == key(whole)
