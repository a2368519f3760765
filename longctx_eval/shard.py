"""`--shard K/N`: a deterministic partition of a sweep's cells into N parts.

The unit is a (model, method@factor) group, so each shard loads a model at most once and swaps
the rotary module once per group; groups are dealt largest first to the least-loaded shard.
With fewer groups than shards, single cells are dealt instead. The partition depends only on
the plan, so N independent jobs (a Slurm array, say) given the same YAML cover every cell once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from longctx_eval.plan import Cell

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match:
        raise ValueError(f"expected K/N, e.g. 0/4 (got {text!r})")
    k, n = int(match.group(1)), int(match.group(2))
    if n < 1 or not 0 <= k < n:
        raise ValueError(f"need 0 <= K < N (got {k}/{n}); K is 0-based, as $SLURM_ARRAY_TASK_ID")
    return Shard(k, n)


def shard_cells(cells: Sequence[Cell], shard: Shard) -> list[Cell]:
    groups: dict[Any, list[Cell]] = {}
    for c in cells:
        groups.setdefault(c.group, []).append(c)
    units = list(groups.values()) if len(groups) >= shard.count else [[c] for c in cells]
    loads = [0] * shard.count
    owner: dict[int, int] = {}
    for i in sorted(range(len(units)), key=lambda i: (-len(units[i]), i)):
        j = min(range(shard.count), key=lambda j: (loads[j], j))
        owner[i] = j
        loads[j] += len(units[i])
    return [c for i, unit in enumerate(units) if owner[i] == shard.index for c in unit]


def shard_series(series: Sequence[T], shard: Shard) -> list[T]:
    """A length search's part: whole series (its decisions need all of a series' cells), dealt
    round-robin in plan order."""
    return [s for i, s in enumerate(series) if i % shard.count == shard.index]
