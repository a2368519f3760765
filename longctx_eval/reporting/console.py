"""The summary and the per-pair rope table as terminal tables (rich), for the command line."""

from __future__ import annotations

import json
from typing import Any

from longctx_eval.reporting.summary import Summary
from longctx_eval.reporting.tables import heading


def print_summary(summary: Summary, console: Any) -> None:
    """The effective lengths, then every task's values by length."""
    from rich.table import Table

    tasks = summary.leaderboard_tasks
    board = Table(title="effective context length", title_justify="left")
    for col in ("model", "method", "rank", "overall", *tasks):
        board.add_column(_plain(col), justify="left" if col in ("model", "method") else "right")
    for row in summary.leaderboard:
        cells = [row.effective[t].text() if t in row.effective else "" for t in tasks]
        board.add_row(*map(_plain, [row.model, row.method_label, str(row.rank), row.overall.text(), *cells]))
    console.print(board)
    for task in summary.tables:
        table = Table(title=_plain(heading(task)), title_justify="left", caption=task.comparability)
        table.add_column("model")
        table.add_column("method")
        for n in task.lengths:
            table.add_column(str(n), justify="right")
        for trow in task.rows:
            texts = [v.text if v else "" for v in trow.values]
            table.add_row(*map(_plain, [trow.model, trow.method_label, *texts]))
        console.print(table)


def _plain(text: str) -> str:
    """Text that rich prints as is (no markup from a label such as '[bold]')."""
    from rich.markup import escape

    return escape(text)


def print_rope_table(result: Any, label: str, console: Any) -> None:
    """`longctx-eval rope`: one row per rotary pair."""
    from rich.table import Table

    table = Table(
        title=f"{label}: L={result.original_context}, target {result.target_length} tokens, "
        f"attention factor {result.attention_factor:.4f}",
        title_justify="left",
    )
    for col in ("pair", "λ before", "λ after", "ratio", f"rotations @ {result.target_length}", "kind"):
        table.add_column(col, justify="right" if col != "kind" else "left")
    for p in result.pairs:
        table.add_row(
            str(p.pair),
            f"{p.wavelength_before:.4g}",
            f"{p.wavelength_after:.4g}",
            f"{p.ratio:.4g}",
            f"{p.rotations_at_target:.4g}",
            p.kind,
        )
    console.print(table)
    console.print(f"rope_parameters: {_plain(json.dumps(result.rope_parameters))}")
