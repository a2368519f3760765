"""The results directory: append-only records, one samples file per cell, a manifest.

    <dir>/records.jsonl           one line per finished cell (ok, failed or skipped): `CellRecord`
    <dir>/samples/<cell_id>.jsonl every sample of the cell: prompt length, needle offset, output, score
    <dir>/rope/<key>.json         the rotary frequencies a group of cells ran with (once per group)
    <dir>/params/<key>.json       a task entry's settings (once per entry)
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
import gc
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from longctx_eval.records import (
    SCHEMA_VERSION,
    CellRecord,
    RopeFrequencies,
    Sample,
    content_key,
    upgrade_record,
)

RECORDS = "records.jsonl"
SAMPLES = "samples"
ROPE = "rope"
PARAMS = "params"
MANIFEST = "manifest.json"
FINISHED = ("ok", "skipped")  # failed cells are retried when a sweep is run again


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", fallback=_json_default)
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(value: Any) -> str:
    """JSON with NaN/inf written as null, so every line stays valid JSON for any reader."""
    return json.dumps(_finite(value), default=_json_default, ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, BaseModel):  # a typed record or payload: its JSON form, then the same rule
        # (fallback: a plugin's numpy values kept as extras, which pydantic cannot serialise)
        value = value.model_dump(mode="json", fallback=_json_default)
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


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off while many long-lived objects are built (bulk reading).

    Records and samples carry many small containers (their metrics' lists); building 100k records
    with the collector on triggers collections that each walk every live object, so the cost per
    record rose with their number: 115 -> 155-200 µs from 10k to 100k records (json.loads and
    validation), flat at 66-83 µs with the collector off (benchmarks/README.md, report scale).
    Reading creates no reference cycles, so nothing is left for the collector to find later.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextmanager
def gc_frozen() -> Iterator[None]:
    """The objects alive now (a report's loaded records) left out of garbage collections until
    the block ends (`gc.freeze`): a report builds many short-lived objects, and every full
    collection would otherwise walk every record again. Reports hold no cycles among records."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@dataclass
class RecordFile:
    """What records.jsonl holds: the records in file order, and the frequencies old-format lines
    carried inline (the current format keeps them under rope/)."""

    records: list[CellRecord] = field(default_factory=list)
    inline_frequencies: dict[str, dict[str, Any]] = field(default_factory=dict)


def read_record_file(directory: Path) -> RecordFile:
    """Every readable record line, upgraded to the current format.

    A damaged line — torn by a crash, not valid UTF-8 or JSON, not an object, or missing a field a
    record needs — is skipped with a warning naming the line, so one bad line never makes a whole
    directory unreadable.
    """
    path = Path(directory) / RECORDS
    out = RecordFile()
    if not path.exists():
        return out
    with gc_paused():
        for n, raw_line in enumerate(path.read_bytes().split(b"\n"), start=1):
            if raw_line.strip():
                _read_record_line(path, n, raw_line, out)
    return out


def _current_record(raw_line: bytes) -> CellRecord | None:
    """The record of a current-format line, parsed and validated in one step by pydantic's own
    JSON parser (about 3× faster than json.loads then validation); None for anything else (an
    older format, a damaged line), which the slow path reads and explains."""
    try:
        rec = CellRecord.model_validate_json(raw_line)
    except ValidationError:
        return None
    if "schema_version" not in rec.model_fields_set or rec.schema_version < SCHEMA_VERSION:
        return None  # format 1 wrote no schema_version: upgrade_record moves its inline frequencies
    return rec


def _read_record_line(path: Path, n: int, raw_line: bytes, out: RecordFile) -> None:
    fast = _current_record(raw_line)
    if fast is not None:
        out.records.append(fast)
        return
    problem, record = _parse_line(raw_line)
    if problem is not None:
        warnings.warn(f"{path}:{n}: skipping a {problem}", stacklevel=3)
        return
    assert record is not None
    upgraded, inline = upgrade_record(record)
    try:
        rec = CellRecord.model_validate(upgraded)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        warnings.warn(f"{path}:{n}: skipping a record with a bad field ({where}: {err['msg']})", stacklevel=3)
        return
    if inline is not None and rec.rope_key is not None:
        out.inline_frequencies[rec.rope_key] = inline
    out.records.append(rec)


def _parse_line(raw: bytes) -> tuple[str | None, dict[str, Any] | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "line that is not valid UTF-8", None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return "torn or corrupt record line", None
    if not isinstance(value, dict):
        return f"record line that is a JSON {type(value).__name__}, not an object", None
    return None, value


def read_records(directory: Path) -> list[CellRecord]:
    """Every readable record of a results directory, in file order (see `read_record_file`)."""
    return read_record_file(directory).records


def latest_by_cell(records: Iterable[CellRecord]) -> dict[str, CellRecord]:
    """The last record of each cell (a failed cell re-run later has several), in the order of
    those last records: the order in which the cells were last written."""
    out: dict[str, CellRecord] = {}
    for r in records:
        out.pop(r.cell_id, None)
        out[r.cell_id] = r
    return out


_STRAY_AGE_S = 60.0  # a temporary file older than this belongs to a process that died mid-write


class ResultStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self._offset = 0  # how far finished_since_start has read records.jsonl
        self._finished: set[str] = set()

    def finished_ids(self) -> set[str]:
        """Cells whose latest record is ok or skipped and whose samples file is there (a deleted
        samples file sends its cell back to be run)."""
        return {
            cid
            for cid, r in latest_by_cell(read_records(self.dir)).items()
            if r.status in FINISHED and (r.n_samples == 0 or (self.dir / SAMPLES / f"{cid}.jsonl").exists())
        }

    def watch_from_now(self) -> None:
        """From here on, `finished_since_start` reports cells other processes finish."""
        path = self.dir / RECORDS
        self._offset = path.stat().st_size if path.exists() else 0
        self._finished = set()

    def finished_since_start(self) -> set[str]:
        """Cells with a finished record appended since `watch_from_now` (another process sharing the
        directory may have written some), reading only what is new since the last call."""
        path = self.dir / RECORDS
        if not path.exists():
            return self._finished
        with open(path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        end = data.rfind(b"\n") + 1  # a line still being written is read next time
        for raw in data[:end].split(b"\n"):
            problem, value = _parse_line(raw) if raw.strip() else ("empty", None)
            if problem is None and value is not None and value.get("status") in FINISHED:
                self._finished.add(str(value.get("cell_id")))
        self._offset += end
        return self._finished

    def clean_stray_files(self) -> None:
        """Remove temporary files a killed process left behind (old enough not to be in flight)."""
        now = time.time()
        for folder in (self.dir, self.dir / SAMPLES, self.dir / ROPE, self.dir / PARAMS):
            if not folder.is_dir():
                continue
            for f in folder.glob(".*.tmp"):
                try:
                    if now - f.stat().st_mtime > _STRAY_AGE_S:
                        f.unlink()
                except OSError:
                    pass  # another process cleaned it first

    def write_cell(
        self,
        record: CellRecord,
        samples: Sequence[Sample] | None,
        rope: RopeFrequencies | None = None,
    ) -> None:
        """The group's frequencies and the samples first (atomically), then the record line that
        makes the cell finished: a record never points at a file that is not complete."""
        if rope is not None and record.rope_key is not None:
            path = self.dir / ROPE / f"{record.rope_key}.json"
            if not path.exists():
                atomic_write(path, dumps(rope) + "\n")
        if record.task_params:
            key = content_key(record.task_params)
            path = self.dir / PARAMS / f"{key}.json"
            if not path.exists():
                atomic_write(path, dumps(record.task_params) + "\n")
            record = record.model_copy(update={"task_params": {}, "task_params_key": key})
        if samples is not None:
            text = "".join(dumps(s) + "\n" for s in samples)
            atomic_write(self.dir / SAMPLES / f"{record.cell_id}.jsonl", text)
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
                except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError) as exc:
                    # Its run history cannot be read back; keep the file for a human instead of
                    # overwriting it, and say where it went.
                    kept = path.with_name(f"{MANIFEST}.unreadable-{int(time.time())}")
                    os.replace(path, kept)
                    warnings.warn(
                        f"{path} could not be read ({type(exc).__name__}); it was kept as {kept.name} "
                        "and a new manifest starts with this run",
                        stacklevel=2,
                    )
            text = json.dumps(_finite({**base, "runs": [*runs, run]}), indent=2, default=_json_default)
            atomic_write(path, text + "\n")

    def read_samples(self, cell_id: str, sample_classes: Sequence[type[Sample]] = (Sample,)) -> list[Sample]:
        return read_samples(self.dir, cell_id, sample_classes)


def read_samples(
    directory: Path, cell_id: str, sample_classes: Sequence[type[Sample]] = (Sample,)
) -> list[Sample]:
    """A cell's samples ([] when it has none), each as the first of `sample_classes` that takes it
    (its task's own class first: see `payloads.classes_for`); a damaged line is skipped with a
    warning."""
    path = Path(directory) / SAMPLES / f"{cell_id}.jsonl"
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    out = []
    with gc_paused():
        for n, raw in enumerate(data.split(b"\n"), start=1):
            if not raw.strip():
                continue
            sample = _first_that_takes(raw, sample_classes)
            if sample is not None:
                out.append(sample)
                continue
            problem, value = _parse_line(raw)
            if problem is not None or value is None:
                warnings.warn(f"{path}:{n}: skipping a damaged sample line", stacklevel=2)
                continue
            out.append(Sample.model_validate(value))
    return out


def _first_that_takes(raw: bytes, classes: Sequence[type[Sample]]) -> Sample | None:
    try:  # pydantic's JSON parser in one step: about twice as fast as json.loads then validation
        return classes[0].model_validate_json(raw)
    except ValidationError:
        pass
    if len(classes) == 1:
        return None
    try:  # the other candidates from one parse of the line
        value = json.loads(raw)
    except ValueError:
        return None
    for cls in classes[1:]:
        try:
            return cls.model_validate(value)
        except ValidationError:
            continue
    return None


def read_task_params(directory: Path, key: str) -> dict[str, Any] | None:
    try:
        value = json.loads((Path(directory) / PARAMS / f"{key}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def read_frequencies(directory: Path, key: str) -> RopeFrequencies | None:
    path = Path(directory) / ROPE / f"{key}.json"
    try:
        return RopeFrequencies.model_validate_json(path.read_bytes())
    except (OSError, ValidationError):
        return None
