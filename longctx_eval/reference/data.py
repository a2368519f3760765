"""Text for the reference model: the Python standard library's own sources, split by a fixed rule.

Every machine with Python has these files, so the corpus is made locally, without a download.
Files are listed in sorted order; a file is held out (never trained on) when a hash of its path
relative to the stdlib root says so. The rule depends on the path only, so it holds on any
Python version: a newer stdlib adds or changes files, but never moves one across the split.

Held-out files longer than a threshold make the perplexity documents shipped with the repo
(`data/reference_docs.jsonl`).
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from dataclasses import dataclass
from pathlib import Path

# Generated tables (encodings, pydoc_data), bundled tools, and tests (which quote other modules heavily).
_SKIP_PARTS = frozenset(
    {
        "test",
        "tests",
        "idlelib",
        "site-packages",
        "lib2to3",
        "turtledemo",
        "pydoc_data",
        "ensurepip",
        "__pycache__",
        "encodings",
    }
)
HELDOUT_ONE_IN = 8


@dataclass(frozen=True)
class Source:
    path: str  # relative to the stdlib root, with forward slashes
    text: str


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def stdlib_sources(root: Path | None = None) -> list[Source]:
    """Every usable .py file of the standard library, sorted by relative path."""
    root = root or stdlib_root()
    out = []
    for f in sorted(root.rglob("*.py"), key=lambda p: p.relative_to(root).as_posix()):
        rel = f.relative_to(root)
        if set(rel.parts) & _SKIP_PARTS:
            continue
        text = f.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n")
        if text.strip():
            out.append(Source(rel.as_posix(), text))
    return out


def is_heldout(path: str) -> bool:
    """One file in HELDOUT_ONE_IN, chosen by a hash of its relative path (stable across versions)."""
    return hashlib.sha256(path.encode()).digest()[0] % HELDOUT_ONE_IN == 0


def training_texts(sources: list[Source], max_chars: int) -> list[str]:
    """The training files, in sorted order, until `max_chars` characters are taken."""
    out, total = [], 0
    for s in sources:
        if is_heldout(s.path):
            continue
        out.append(s.text)
        total += len(s.text)
        if total >= max_chars:
            break
    return out


def heldout_documents(sources: list[Source], min_chars: int, max_chars: int, count: int) -> list[Source]:
    """The first `count` held-out files of at least `min_chars`, each cut at a line end before `max_chars`."""
    out = []
    for s in sources:
        if not is_heldout(s.path) or len(s.text) < min_chars:
            continue
        text = s.text[:max_chars]
        if len(s.text) > max_chars and "\n" in text:
            text = text[: text.rindex("\n") + 1]
        out.append(Source(s.path, text))
        if len(out) == count:
            break
    return out


def write_documents(path: Path, docs: list[Source]) -> Path:
    """One {"text", "source"} record per line; the perplexity task reads the `text` column."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"text": d.text, "source": f"stdlib/{d.path}"}, ensure_ascii=False) + "\n")
    return path


DOCS_MIN_CHARS = 12_000  # at ~3.8 characters a token, about 3,000 tokens: more than 8 × 256
DOCS_MAX_CHARS = 16_000
DOCS_COUNT = 16


def write_reference_docs(path: Path, count: int = DOCS_COUNT) -> Path:
    """The held-out perplexity documents shipped as data/reference_docs.jsonl."""
    return write_documents(
        Path(path), heldout_documents(stdlib_sources(), DOCS_MIN_CHARS, DOCS_MAX_CHARS, count)
    )
