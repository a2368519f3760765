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


def mcnemar_exact(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs (McNemar 1947, exact binomial form).

    `first_only`: pairs the first system got right and the second wrong; `second_only` the reverse.
    Under the null each discordant pair goes either way with probability 1/2.
    """
    n = first_only + second_only
    if n == 0:
        return 1.0
    k = min(first_only, second_only)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap_mean_difference(
    first: Sequence[float], second: Sequence[float], seed: int, resamples: int = 2000, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap of mean(first − second), resampling pairs (both systems scored the same
    samples, so the pair, not the sample, is the unit)."""
    diff = np.asarray(first, dtype=np.float64) - np.asarray(second, dtype=np.float64)
    if len(diff) < 2:
        value = float(diff.mean()) if len(diff) else float("nan")
        return value, value
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[picks].mean(axis=1)
    tail = (1 - level) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_bootstrap_ppl_ratio(
    nll_first: Sequence[float],
    nll_second: Sequence[float],
    tokens_first: Sequence[int],
    tokens_second: Sequence[int],
    seed: int,
    resamples: int = 2000,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap of ppl(first) / ppl(second), token-weighted, resampling documents
    jointly: the same documents under two systems."""
    a, b = np.asarray(nll_first, dtype=np.float64), np.asarray(nll_second, dtype=np.float64)
    na, nb = np.asarray(tokens_first, dtype=np.float64), np.asarray(tokens_second, dtype=np.float64)
    if len(a) < 2:
        value = float(np.exp(a.sum() / na.sum() - b.sum() / nb.sum())) if len(a) else float("nan")
        return value, value
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(a), size=(resamples, len(a)))
    log_ratio = a[picks].sum(axis=1) / na[picks].sum(axis=1) - b[picks].sum(axis=1) / nb[picks].sum(axis=1)
    tail = (1 - level) / 2
    return float(np.exp(np.quantile(log_ratio, tail))), float(np.exp(np.quantile(log_ratio, 1 - tail)))


def weighted_mean_interval(
    values: Sequence[float], counts: Sequence[int], weights: Sequence[float], z: float = Z95
) -> tuple[float, float, float]:
    """A weighted mean of accuracies and its normal-approximation 95% interval (a group average,
    such as RULER's, over independent members): var = Σ w_i² p_i(1 − p_i) / n_i / (Σ w_i)²."""
    w = np.asarray(weights, dtype=np.float64)
    p = np.asarray(values, dtype=np.float64)
    n = np.maximum(np.asarray(counts, dtype=np.float64), 1.0)
    mean = float((w * p).sum() / w.sum())
    half = z * math.sqrt(float((w**2 * p * (1 - p) / n).sum())) / float(w.sum())
    return mean, max(0.0, mean - half), min(1.0, mean + half)
