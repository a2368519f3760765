"""The results directory: append-only records, one samples file per cell, a manifest.

    <dir>/records.jsonl           one line per finished cell (ok, failed or skipped)
    <dir>/samples/<cell_id>.jsonl every sample of the cell: prompt length, needle offset, output, score
    <dir>/manifest.json           resolved config, versions, hardware, git sha, one entry per run

A cell's samples file is written to a temporary name, fsynced and renamed before its record line
is appended (one write, O_APPEND, then fsync), so a record never points at a half-written samples
file and a process killed at any moment loses at most the cell in flight. Earlier lines are never
rewritten; a line torn by a crash is skipped on reading (and fenced off with a newline before the
next append, so it cannot swallow the next record).

Several processes may write one directory (the shards of a sweep on a shared file system): every
append and manifest update holds an exclusive `flock` on `<dir>/.lock`, so lines never interleave
and no run entry of the manifest is lost.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RECORDS = "records.jsonl"
SAMPLES = "samples"
MANIFEST = "manifest.json"
FINISHED = ("ok", "skipped")  # failed cells are retried when a sweep is run again


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    """JSON with NaN/inf written as null, so every line stays valid JSON for any reader."""
    return json.dumps(_finite(value), default=_json_default, ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once, at import: os.umask is process-wide and racy under threads


def atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private (0600); results are for sharing, like any file `open` makes.
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_records(directory: Path) -> list[dict[str, Any]]:
    """Every complete record line (a torn or corrupt line is skipped with a warning)."""
    path = Path(directory) / RECORDS
    if not path.exists():
        return []
    records = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            warnings.warn(f"{path}:{n}: skipping a torn or corrupt record line", stacklevel=2)
    return records


def latest_by_cell(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The last record of each cell (a failed cell re-run later has several)."""
    return {r["cell_id"]: r for r in records if "cell_id" in r}


class ResultStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def finished_ids(self) -> set[str]:
        return {
            cid for cid, r in latest_by_cell(read_records(self.dir)).items() if r.get("status") in FINISHED
        }

    def write_cell(self, record: dict[str, Any], samples: list[dict[str, Any]] | None) -> None:
        """Samples first (atomically), then the record line that makes the cell finished."""
        if samples is not None:
            text = "".join(dumps(s) + "\n" for s in samples)
            atomic_write(self.dir / SAMPLES / f"{record['cell_id']}.jsonl", text)
        self._append(dumps(record) + "\n")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _append(self, line: str) -> None:
        with self._locked():
            self._append_unlocked(line)

    def _append_unlocked(self, line: str) -> None:
        path = self.dir / RECORDS
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:
                with open(path, "rb") as f:
                    f.seek(size - 1)
                    if f.read(1) != b"\n":
                        line = "\n" + line  # fence off a line torn by an earlier crash
            data = line.encode("utf-8")
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(f"short write to {path}")
            os.fsync(fd)
        finally:
            os.close(fd)

    def write_manifest(self, run: dict[str, Any], base: dict[str, Any]) -> None:
        """Keep one manifest: the latest config and facts, plus one entry per run."""
        path = self.dir / MANIFEST
        with self._locked():
            runs: list[dict[str, Any]] = []
            if path.exists():
                try:
                    runs = list(json.loads(path.read_text()).get("runs", []))
                except (json.JSONDecodeError, AttributeError):
                    runs = []
            text = json.dumps(_finite({**base, "runs": [*runs, run]}), indent=2, default=_json_default)
            atomic_write(path, text + "\n")

    def read_samples(self, cell_id: str) -> list[dict[str, Any]]:
        path = self.dir / SAMPLES / f"{cell_id}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
