"""One table model, built once from the summary: columns, and rows of cells holding the text, the
value and its interval. Markdown, LaTeX, the HTML page and the terminal only render these, so every
rendering shows the same columns (they had drifted: "retention at L" was missing from LaTeX and
the terminal). The per-cell CSV is a data export of the records, not a rendering of these tables.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from longctx_eval.reporting.summary import LeaderRow, Summary, TaskTable

Align = Literal["left", "right"]


class TableCell(BaseModel):
    text: str = ""
    value: float | None = None
    low: float | None = None  # the interval the text shows, where it shows one
    high: float | None = None
    mark: str = ""  # "fail" / "skip": how the page colours a value cell


class Column(BaseModel):
    name: str
    align: Align = "right"


class Table(BaseModel):
    title: str
    caption: str | None = None  # what the numbers are comparable to (a task's protocol and deviations)
    columns: list[Column]
    rows: list[list[TableCell]] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)  # each row's model (the page's one-model filter)
    tasks: list[str | None] = Field(default_factory=list)  # each row's task where a row is one task's

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def texts(self) -> list[list[str]]:
        return [[c.text for c in row] for row in self.rows]


def _text(text: str) -> TableCell:
    return TableCell(text=text)


def leaderboard_table(summary: Summary) -> Table:
    """The effective-length table: rank, the headline, each task, retention, the headline's mean
    at each length, and the row's notes."""
    tasks = summary.leaderboard_tasks
    lengths = summary.headline_lengths
    columns = [
        Column(name="model", align="left"),
        Column(name="method", align="left"),
        Column(name="rank"),
        Column(name="headline"),
        *(Column(name=t) for t in tasks),
        Column(name="retention at L"),
        *(Column(name=f"headline @{n}") for n in lengths),
        Column(name="note", align="left"),
    ]
    return Table(
        title="Effective context length",
        columns=columns,
        rows=[_leader_cells(row, tasks, len(lengths)) for row in summary.leaderboard],
        models=[row.model for row in summary.leaderboard],
    )


def _leader_cells(row: LeaderRow, tasks: list[str], n_lengths: int) -> list[TableCell]:
    effective = [
        TableCell(
            text=row.effective[t].text(),
            value=row.effective[t].effective_length,
            low=row.effective[t].effective_low,
            high=row.effective[t].effective_high,
        )
        if t in row.effective
        else TableCell()
        for t in tasks
    ]
    retention = row.min_retention
    means = [
        TableCell(text=v.text, value=v.value, low=v.low, high=v.high) if v else TableCell()
        for v in row.headline_values
    ] or [TableCell() for _ in range(n_lengths)]
    head = row.headline
    return [
        _text(row.model),
        _text(row.method_label),
        _text(row.rank_text),
        TableCell(text=head.text(), value=head.effective_length) if head is not None else TableCell(),
        *effective,
        TableCell(text=f"{retention:.2f}", value=retention) if retention is not None else TableCell(),
        *means,
        _text("; ".join(row.marks)),
    ]


def task_table(table: TaskTable, title: str) -> Table:
    """One task's values by length (model, method, then one column per length)."""
    rows = []
    for row in table.rows:
        cells = [
            TableCell(
                text=v.text,
                value=v.value,
                low=v.low,
                high=v.high,
                mark=v.text if v.text in ("fail", "skip") else "",
            )
            if v
            else TableCell()
            for v in row.values
        ]
        rows.append([_text(row.model), _text(row.label()), *cells])
    return Table(
        title=title,
        caption=table.comparability,
        columns=[
            Column(name="model", align="left"),
            Column(name="method", align="left"),
            *(Column(name=str(n)) for n in table.lengths),
        ],
        rows=rows,
        models=[row.model for row in table.rows],
        tasks=[table.task] * len(table.rows),
    )
