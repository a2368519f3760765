"""How a run reports progress. The runner talks to this interface only; rich stays out of it."""

from __future__ import annotations

import sys
import time
from typing import Any, Protocol

from longctx_eval.records import CellRecord


def describe_record(record: CellRecord) -> str:
    """One short line about a finished cell: its coordinates and headline number."""
    where = f"{record.model} {record.method_label} {record.task} {record.length}"
    m = record.metrics
    if record.status == "ok":
        if m.accuracy is not None:
            value = f"acc {m.accuracy:.2f}"
        elif m.ppl is not None:
            value = f"ppl {m.ppl:.3g}"
        else:
            value = "ok"
    elif record.status == "skipped":
        value = f"skipped: {record.error}"
    else:
        value = f"FAILED: {record.error}"
    return f"{where}: {value}"


class Progress(Protocol):
    def start(self, total: int, already_done: int, title: str) -> None: ...
    def extend(self, more: int) -> None:
        """More cells to run than announced (a length search finds out as it goes)."""
        ...

    def cell_started(self, description: str) -> None: ...
    def cell_finished(self, record: CellRecord) -> None: ...
    def note(self, message: str) -> None: ...
    def finish(self, stopped: bool = False) -> None:
        """The run is over (`stopped`: by a signal or an error; the command says so itself)."""
        ...


class PlainProgress:
    """One line per event on stderr: for logs, batch jobs and tests."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.total = self.count = 0
        self.t0 = time.monotonic()

    def start(self, total: int, already_done: int, title: str) -> None:
        self.total, self.count = total, already_done
        self.t0 = time.monotonic()
        print(f"{title}: {total} cells, {already_done} already finished", file=self.stream, flush=True)

    def extend(self, more: int) -> None:
        self.total += more

    def cell_started(self, description: str) -> None:
        pass

    def cell_finished(self, record: CellRecord) -> None:
        self.count += 1
        print(
            f"[{self.count}/{self.total}] {describe_record(record)} ({record.duration_s:.1f}s)",
            file=self.stream,
            flush=True,
        )

    def note(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def finish(self, stopped: bool = False) -> None:
        if not stopped:
            print(f"done in {time.monotonic() - self.t0:.1f}s", file=self.stream, flush=True)


class SilentProgress:
    """No output (a notebook that only wants the results)."""

    def start(self, total: int, already_done: int, title: str) -> None:
        pass

    def extend(self, more: int) -> None:
        pass

    def cell_started(self, description: str) -> None:
        pass

    def cell_finished(self, record: CellRecord) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    def finish(self, stopped: bool = False) -> None:
        pass


class RichProgress:
    """A progress bar over cells with ETA; finished cells scroll above it."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichBar

        self.console = Console(stderr=True)
        self.bar = RichBar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self.task_id: Any = None
        self.title = ""

    def start(self, total: int, already_done: int, title: str) -> None:
        self.title = title
        self.bar.start()
        self.task_id = self.bar.add_task(title, total=total, completed=already_done)
        if already_done:
            self.console.print(f"{already_done} of {total} cells already finished: resuming")

    def extend(self, more: int) -> None:
        total = self.bar.tasks[0].total if self.bar.tasks else 0
        self.bar.update(self.task_id, total=(total or 0) + more)

    def cell_started(self, description: str) -> None:
        self.bar.update(self.task_id, description=f"{self.title} · {description}")

    def cell_finished(self, record: CellRecord) -> None:
        style = {"ok": "green", "skipped": "yellow"}.get(record.status, "red")
        line = describe_record(record).replace("[", "\\[")
        self.console.print(f"[{style}]{line}[/] [dim]({record.duration_s:.1f}s)[/]")
        self.bar.advance(self.task_id)

    def note(self, message: str) -> None:
        self.console.print(message.replace("[", "\\["))

    def finish(self, stopped: bool = False) -> None:
        self.bar.stop()
