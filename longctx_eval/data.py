"""Documents from local files or the hub, always through `datasets`.

A local `.txt` file holds one document per line; `.jsonl`/`.json` and `.parquet` files hold one
document per record in a text column. Anything else that is not an existing path is taken as a
hub dataset id (`datasets.load_dataset(id, name=..., split=...)`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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


@lru_cache(maxsize=16)
def load_documents(
    source: str, column: str = "text", split: str = "train", subset: str | None = None
) -> tuple[str, ...]:
    """All non-empty documents of a dataset, in file order."""
    import datasets

    kind = dataset_kind(source)
    try:
        if kind == "hub":
            ds = datasets.load_dataset(source, name=subset, split=split)
        else:
            ds = datasets.load_dataset(kind, data_files=source, split="train")
    except Exception as exc:
        raise DatasetError(f"cannot load dataset {source!r}: {exc}") from exc
    if column not in ds.column_names:
        raise DatasetError(
            f"dataset {source!r} has no column {column!r} (columns: {', '.join(ds.column_names)})"
        )
    return tuple(text for text in ds[column] if isinstance(text, str) and text.strip())
