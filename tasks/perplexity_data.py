"""What the perplexity task's modes share: the shape of their samples and metrics, documents
tokenized on demand, sliding windows, and the loss-by-position profile. Registers no task."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from longctx_eval.payloads import LossBin, PerplexityMetrics, PerplexitySample


class PerplexityTaskSample(PerplexitySample):
    """One sample of any mode: the family's fields (truncate and sliding record only those), plus
    the needle episode's (mode `needle`) or the key tokens' (mode `key_tokens`) where it has them."""

    # mode needle: the passkey/NIAH episode whose answer tokens are scored
    target: str | None = None
    needle_token_offset: int | None = None
    depth: float | None = None
    depth_requested: float | None = None
    cut_mid_word: bool | None = None
    # mode key_tokens: `n_scored_tokens`/`nll_sum`/`ppl` are over the key tokens; these over all
    n_tokens_all: int | None = None
    nll_sum_all: float | None = None
    ppl_all: float | None = None
    key_positions: list[int] | None = None  # token index in the sequence
    evaluator: str | None = None
    evaluator_context: int | None = None
    key_short_context: int | None = None
    key_stride: int | None = None


class PerplexityTaskMetrics(PerplexityMetrics):
    """A cell of any mode: the family's metrics, plus the key tokens' (mode `key_tokens`)."""

    n_key_tokens: int | None = None
    key_fraction: float | None = None  # key tokens / scored tokens
    ppl_rest: float | None = None  # over the tokens that are not key tokens
    ppl_all: float | None = None  # over every scored token
    n_tokens_all: int | None = None
    evaluator_context: int | None = None  # C, K, W: the evaluator's long and short context, stride
    key_short_context: int | None = None
    key_stride: int | None = None


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


def loss_by_position(per_doc: list[dict[str, Any]], length: int, bins: int) -> list[LossBin]:
    edges = np.linspace(0, length, bins + 1).astype(int)
    nll = np.concatenate([d["nll"] for d in per_doc])
    pos = np.concatenate([d["positions"] for d in per_doc])
    out = []
    for lo, hi in itertools.pairwise(edges):
        mask = (pos >= lo) & (pos < hi)
        n = int(mask.sum())
        out.append(LossBin(start=int(lo), end=int(hi), nll=float(nll[mask].mean()) if n else None, n=n))
    return out
