"""The summary and the per-pair rope table as terminal tables (rich), for the command line."""

from __future__ import annotations

import json
from typing import Any

from longctx_eval.reporting.summary import Summary
from longctx_eval.reporting.table_model import Table as TableModel
from longctx_eval.reporting.table_model import leaderboard_table, task_table
from longctx_eval.reporting.tables import heading


def print_summary(summary: Summary, console: Any) -> None:
    """The effective lengths, then every task's values by length (the report's table model)."""
    for table in [leaderboard_table(summary), *(task_table(t, heading(t)) for t in summary.tables)]:
        console.print(_rich(table))


def _rich(model: TableModel) -> Any:
    from rich.table import Table

    table = Table(title=_plain(model.title), title_justify="left", caption=model.caption or None)
    for column in model.columns:
        table.add_column(_plain(column.name), justify=column.align)
    for texts in model.texts():
        table.add_row(*map(_plain, texts))
    return table


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
