"""Leaderboards from the records alone (no model, no GPU): leaderboard.md and leaderboard.csv.

For each task, one table: a row per model × method@factor, a column per length, holding the
task's headline metric (accuracy for retrieval tasks, perplexity otherwise); `fail` and `skip`
mark cells that did not produce a number.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longctx_eval.store import atomic_write, latest_by_cell, read_records

CSV_COLUMNS = [
    "model",
    "method",
    "method_label",
    "factor",
    "factor_mode",
    "task",
    "length",
    "status",
    "accuracy",
    "n",
    "ci_low",
    "ci_high",
    "ppl",
    "nll",
    "n_tokens",
    "n_documents",
    "error",
    "duration_s",
    "backend",
    "cell_id",
]


@dataclass
class TaskTable:
    task: str
    metric: str  # "accuracy" or "ppl"
    lengths: list[int]
    rows: list[tuple[str, str, dict[int, str]]]  # (model, method label, length -> cell text)


def headline_metric(records: Iterable[dict[str, Any]]) -> str:
    for r in records:
        metrics = r.get("metrics") or {}
        if "accuracy" in metrics:
            return "accuracy"
        if "ppl" in metrics:
            return "ppl"
    return "accuracy"


def cell_text(record: dict[str, Any], metric: str) -> str:
    if record["status"] == "failed":
        return "fail"
    if record["status"] == "skipped":
        return "skip"
    value = (record.get("metrics") or {}).get(metric)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.2f}" if metric == "accuracy" else f"{value:.3g}"


def tables(records: list[dict[str, Any]]) -> list[TaskTable]:
    latest = list(latest_by_cell(records).values())
    out = []
    for task in _ordered(r["task"] for r in latest):
        rs = [r for r in latest if r["task"] == task]
        metric = headline_metric(rs)
        lengths = sorted({int(r["length"]) for r in rs})
        rows = []
        for model, label in _ordered((r["model"], r["method_label"]) for r in rs):
            texts = {
                int(r["length"]): cell_text(r, metric)
                for r in rs
                if (r["model"], r["method_label"]) == (model, label)
            }
            rows.append((model, label, texts))
        out.append(TaskTable(task, metric, lengths, rows))
    return out


def _ordered(items: Iterable[Any]) -> list[Any]:
    return list(dict.fromkeys(items))


def markdown(records: list[dict[str, Any]], title: str) -> str:
    lines = [f"# {title}", ""]
    for t in tables(records):
        better = "higher is better" if t.metric == "accuracy" else "lower is better"
        lines += [f"## {t.task} — {t.metric} ({better})", ""]
        lines.append("| model | method | " + " | ".join(str(n) for n in t.lengths) + " |")
        lines.append("|---|---|" + "---:|" * len(t.lengths))
        for model, label, texts in t.rows:
            lines.append(f"| {model} | {label} | " + " | ".join(texts.get(n, "") for n in t.lengths) + " |")
        lines.append("")
    return "\n".join(lines)


def csv_text(records: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in latest_by_cell(records).values():
        metrics = r.get("metrics") or {}
        row = {k: r.get(k) for k in CSV_COLUMNS}
        row.update({k: metrics.get(k) for k in CSV_COLUMNS if k in metrics})
        row["backend"] = (r.get("backend") or {}).get("kind")
        writer.writerow(row)
    return buf.getvalue()


def write_report(directory: Path) -> list[Path]:
    """Write leaderboard.md and leaderboard.csv into `directory` from its records."""
    directory = Path(directory)
    records = read_records(directory)
    if not records:
        raise FileNotFoundError(f"no records in {directory} (expected {directory / 'records.jsonl'})")
    md, csv_path = directory / "leaderboard.md", directory / "leaderboard.csv"
    atomic_write(md, markdown(records, f"longctx-eval leaderboard: {directory.name}"))
    atomic_write(csv_path, csv_text(records))
    return [md, csv_path]
