"""Summaries of the measured pair norms: the Cauchy–Schwarz bound of each band's q·k contribution.

Pair i of a query head h contributes q̃^i·k̃^i to the logit, bounded by ‖q^i‖·‖k^i‖ (rotation keeps
norms). `qk_bound` is that bound with mean norms, each query head matched to its KV head (GQA):
for a query and a key drawn independently it is exactly the mean of ‖q^i‖·‖k^i‖.
"""

from __future__ import annotations

import numpy as np


def qk_bound(q_norm: np.ndarray, k_norm: np.ndarray) -> np.ndarray:
    """[layers, heads, pairs] from q norms [layers, heads, pairs] and k norms [layers, kv_heads, pairs]."""
    q, k = np.asarray(q_norm, dtype=float), np.asarray(k_norm, dtype=float)
    bound: np.ndarray = q * np.repeat(k, q.shape[1] // k.shape[1], axis=1)
    return bound


def band_shares(bound: np.ndarray, bands: int = 4) -> list[list[float]]:
    """Per layer, the share of the bound in `bands` equal groups of pairs, highest frequencies first."""
    out = []
    for layer in np.asarray(bound, dtype=float):
        per_pair = layer.sum(axis=0)
        groups = np.array_split(per_pair, bands)
        total = float(per_pair.sum()) or 1.0
        out.append([float(g.sum()) / total for g in groups])
    return out


def top_pairs(values: np.ndarray, n: int) -> list[int]:
    """Indices of the `n` largest values, largest first."""
    return [int(i) for i in np.argsort(-np.asarray(values, dtype=float), kind="stable")[:n]]
