"""What the perplexity task's modes share: documents tokenized on demand, sliding windows, and
the loss-by-position profile. Registers no task."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np


class TokenizedDocuments:
    """Documents tokenized in blocks as far as they are needed: a large dataset is not tokenized
    whole when its first few long documents are all a sweep uses."""

    _BLOCK = 32

    def __init__(self, texts: tuple[str, ...], tokenizer: Any) -> None:
        self.texts, self.tokenizer = texts, tokenizer
        self._ids: list[list[int]] = []

    def __getitem__(self, i: int) -> list[int]:
        while len(self._ids) <= i:
            block = list(self.texts[len(self._ids) : len(self._ids) + self._BLOCK])
            self._ids += [list(x) for x in self.tokenizer(block, add_special_tokens=False)["input_ids"]]
        return self._ids[i]

    def first_with(self, need: int, k: int) -> list[int]:
        """Indices of the first k documents with at least `need` tokens."""
        out: list[int] = []
        for i in range(len(self.texts)):
            if len(out) == k:
                break
            if len(self[i]) >= need:
                out.append(i)
        return out


def sliding_windows(
    stream: list[int], window: int, stride: int
) -> tuple[list[list[int]], list[int], list[np.ndarray]]:
    """Windows of `window` tokens every `stride` tokens; each scores only tokens new to it.

    Returns the windows, where scoring starts in each, and the scored tokens' positions within
    their window (for the loss-by-position profile).
    """
    windows, score_from, positions = [], [], []
    prev_end = 0
    for begin in range(0, max(len(stream) - 1, 1), stride):
        end = min(begin + window, len(stream))
        new = end - prev_end
        start = max(1, (end - begin) - new)
        windows.append(stream[begin:end])
        score_from.append(start)
        positions.append(np.arange(start, end - begin))
        prev_end = end
        if end == len(stream):
            break
    return windows, score_from, positions


def loss_by_position(per_doc: list[dict[str, Any]], length: int, bins: int) -> list[dict[str, Any]]:
    edges = np.linspace(0, length, bins + 1).astype(int)
    nll = np.concatenate([d["nll"] for d in per_doc])
    pos = np.concatenate([d["positions"] for d in per_doc])
    out = []
    for lo, hi in itertools.pairwise(edges):
        mask = (pos >= lo) & (pos < hi)
        n = int(mask.sum())
        out.append({"start": int(lo), "end": int(hi), "nll": float(nll[mask].mean()) if n else None, "n": n})
    return out
