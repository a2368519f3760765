"""Documents from local files or the hub, always through `datasets`.

A local `.txt` file holds one document per line; `.jsonl`/`.json` and `.parquet` files hold one
document per record in a text column. Anything else that is not an existing path is taken as a
hub dataset id (`datasets.load_dataset(id, name=..., split=...)`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

_BUILDERS = {".txt": "text", ".jsonl": "json", ".json": "json", ".parquet": "parquet"}


class DatasetError(ValueError):
    pass


def dataset_kind(source: str) -> str:
    """'text' | 'json' | 'parquet' for a local file, 'hub' otherwise."""
    path = Path(source)
    if path.exists():
        builder = _BUILDERS.get(path.suffix.lower())
        if builder is None:
            raise DatasetError(f"{source}: unsupported file type (use .txt, .jsonl, .json or .parquet)")
        return builder
    return "hub"


def resolve_source(value: str, resolve_path: Callable[[str], Path]) -> str:
    """A dataset setting as a source: an existing local file or directory (resolved), else a hub id.

    A value that looks like a file (a known suffix, or a path) but is not there is an error: it
    would otherwise be sent to the hub as a dataset id and fail there, slowly and obscurely.
    """
    path = resolve_path(value)
    if path.exists():
        dataset_kind(str(path))  # an unsupported file type is an error now, not in a cell
        return str(path)
    if value.endswith(tuple(_BUILDERS)) or value.startswith((".", "/", "~")):
        raise DatasetError(f"no such file: {value}")
    return value


def load_dataset(source: str, split: str = "train", subset: str | None = None) -> Any:
    """A `datasets.Dataset` from a local file (by its type) or the hub."""
    import datasets

    # Its "Generating train split" bars would be drawn through the harness's own progress display.
    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    kind = dataset_kind(source)
    try:
        if kind == "hub":
            return datasets.load_dataset(source, name=subset, split=split)
        return datasets.load_dataset(kind, data_files=source, split="train")
    except Exception as exc:
        raise DatasetError(f"cannot load dataset {source!r}: {exc}") from exc


@lru_cache(maxsize=16)
def load_documents(
    source: str, column: str = "text", split: str = "train", subset: str | None = None
) -> tuple[str, ...]:
    """All non-empty documents of a dataset, in file order."""
    ds = load_dataset(source, split, subset)
    if column not in ds.column_names:
        raise DatasetError(
            f"dataset {source!r} has no column {column!r} (columns: {', '.join(ds.column_names)})"
        )
    return tuple(text for text in ds[column] if isinstance(text, str) and text.strip())
