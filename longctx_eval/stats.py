"""Confidence intervals: Wilson for accuracies, bootstrap over documents for perplexity."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z95 = 1.959963984540054


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927); (0, 1) when n = 0."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_perplexity(
    nll_sums: Sequence[float],
    token_counts: Sequence[int],
    seed: int,
    resamples: int = 1000,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap of token-weighted perplexity, resampling whole documents."""
    sums = np.asarray(nll_sums, dtype=np.float64)
    counts = np.asarray(token_counts, dtype=np.float64)
    if len(sums) < 2:
        ppl = float(np.exp(sums.sum() / counts.sum())) if len(sums) else float("nan")
        return ppl, ppl
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sums), size=(resamples, len(sums)))
    ppl = np.exp(sums[picks].sum(axis=1) / counts[picks].sum(axis=1))
    tail = (1 - level) / 2
    return float(np.quantile(ppl, tail)), float(np.quantile(ppl, 1 - tail))
