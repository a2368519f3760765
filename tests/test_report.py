"""Leaderboards from hand-made records."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from typer.testing import CliRunner

from longctx_eval.cli import app
from longctx_eval.report import csv_text, markdown
from longctx_eval.store import ResultStore


def rec(cid: str, method: str, task: str, length: int, status: str = "ok", **metrics: float) -> dict:
    return {
        "cell_id": cid,
        "model": "m",
        "method": method.split("@")[0],
        "method_label": method,
        "factor": 1.0,
        "factor_mode": "fixed",
        "task": task,
        "length": length,
        "status": status,
        "metrics": metrics,
        "error": "boom" if status == "failed" else None,
        "duration_s": 1.0,
        "backend": {"kind": "hf"},
    }


RECORDS = [
    rec("1", "none", "passkey", 256, accuracy=1.0, n=10, ci_low=0.7, ci_high=1.0),
    rec("2", "none", "passkey", 512, accuracy=0.2, n=10, ci_low=0.05, ci_high=0.5),
    rec("3", "yarn@2", "passkey", 512, "failed"),
    rec("4", "none", "perplexity", 256, ppl=12.3456, nll=2.5, n_tokens=100),
    rec("3", "yarn@2", "passkey", 512, accuracy=0.9, n=10, ci_low=0.6, ci_high=0.98),  # retried later
]


def test_markdown_tables_pivot_lengths_and_keep_the_latest_record():
    md = markdown(RECORDS, "t")
    assert "## passkey — accuracy (higher is better)" in md
    assert "| m | none | 1.00 | 0.20 |" in md
    assert "| m | yarn@2 |  | 0.90 |" in md  # the retry replaced the failure
    assert "## perplexity — ppl (lower is better)" in md and "| m | none | 12.3 |" in md


def test_failed_and_skipped_cells_are_marked():
    md = markdown([*RECORDS[:3], rec("5", "pi@2", "passkey", 256, "skipped")], "t")
    assert "| m | yarn@2 |  | fail |" in md and "| m | pi@2 | skip |  |" in md


def test_csv_has_one_row_per_cell():
    rows = list(csv.DictReader(io.StringIO(csv_text(RECORDS))))
    assert len(rows) == 4
    assert rows[0]["accuracy"] == "1.0" and rows[0]["ci_low"] == "0.7" and rows[0]["backend"] == "hf"


def test_report_command(tmp_path: Path):
    store = ResultStore(tmp_path)
    for r in RECORDS:
        store.write_cell(r, None)
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "| m | none | 1.00 | 0.20 |" in (tmp_path / "leaderboard.md").read_text()
    empty = CliRunner().invoke(app, ["report", str(tmp_path / "nothing")])
    assert empty.exit_code == 2 and "no records" in empty.output
