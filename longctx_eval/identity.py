"""Fingerprints of what a cell reads: the model's files and the task's local data files.

A cell id hashes these, so a model re-saved in place after more training, or a dataset rewritten
at the same path, gives new cell ids: the sweep runs them again instead of reusing stale numbers.

- Model directory: the small files (config, tokenizer, generation config) in full; each weight file
  by its size, its safetensors header (tensor names, dtypes, shapes, offsets) and 16 chunks of 64 KiB
  spread evenly over its bytes. Training changes every weight, so it changes the sampled bytes; a
  140 GB checkpoint costs a few MB of reads. mtimes are left out on purpose: a copy of the same
  model on another node (a Ray worker, a git checkout) must give the same cell ids.
- Local data files (a perplexity dataset, a haystack): sha256 of the whole content, remembered by
  (path, size, mtime) in a small cache file so a large dataset is read once, not on every run.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any, ClassVar

from longctx_eval.store import atomic_write

_SMALL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
_CHUNKS, _CHUNK = 16, 64 * 1024
CACHE_ENV = "LONGCTX_EVAL_CACHE_DIR"


def fingerprint_model_dir(directory: Path) -> str:
    h = hashlib.sha256()
    for name in _SMALL_FILES:
        f = directory / name
        if f.exists():
            h.update(name.encode() + b"\0" + f.read_bytes())
    for f in sorted(directory.iterdir()):
        if f.suffix in _WEIGHT_SUFFIXES and f.is_file():
            h.update(f"{f.name}:{weight_fingerprint(f)}".encode())
    return h.hexdigest()[:16]


def weight_fingerprint(path: Path) -> str:
    """Size, safetensors header and evenly spread sampled chunks of one weight file."""
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with open(path, "rb") as f:
        if path.suffix == ".safetensors" and size >= 8:
            (header_len,) = struct.unpack("<Q", f.read(8))
            if header_len <= min(size - 8, 100 * 2**20):
                h.update(f.read(header_len))
        for k in range(_CHUNKS):
            f.seek(max(0, (size - _CHUNK) * k // max(1, _CHUNKS - 1)))
            h.update(f.read(_CHUNK))
    return h.hexdigest()[:16]


def fingerprint_data(path: Path) -> str:
    """Content hash of a local file (or of every file under a directory), cached by size and mtime."""
    path = path.resolve()
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f"{f.relative_to(path).as_posix()}:{fingerprint_data(f)}".encode())
        return h.hexdigest()[:16]
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    cache = JsonCache.named("content-hashes.json")
    if isinstance(cache.entries.get(key), str):
        return str(cache.entries[key])
    with open(path, "rb") as stream:
        digest = hashlib.file_digest(stream, "sha256").hexdigest()[:16]
    cache.put(key, digest)
    return digest


class JsonCache:
    """A small JSON object of results kept between runs in the cache directory (`cache_dir`),
    rewritten atomically on every `put`; one instance per file in a process, so it also serves as
    the process's memo. Used for data-file hashes and NIAH's minimum length per tokenizer."""

    _instances: ClassVar[dict[Path, JsonCache]] = {}

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            self.entries: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            self.entries = {}

    @classmethod
    def named(cls, name: str) -> JsonCache:
        """The cache file `name` of the current cache directory (which the environment may change)."""
        path = cache_dir() / name
        if path not in cls._instances:
            cls._instances[path] = cls(path)
        return cls._instances[path]

    def put(self, key: str, value: Any) -> None:
        self.entries[key] = value
        try:
            atomic_write(self.path, json.dumps(self.entries, sort_keys=True) + "\n")
        except OSError:
            pass  # a read-only home only costs computing it again next time


def cache_dir() -> Path:
    root = os.environ.get(CACHE_ENV) or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "longctx-eval"
    )
    return Path(root)
