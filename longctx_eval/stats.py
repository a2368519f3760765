"""Confidence intervals: Wilson for accuracies, bootstrap over documents for perplexity."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

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
    return min(1.0, 2.0 * float(tail))


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


# -- exact paired tests and multiplicity ---------------------------------------------------------
# scipy is not a dependency of this project (numpy is); the binomial quantities below are small
# sums computed exactly with math.comb, so they are written out rather than adding scipy for them.


def z_for(level: float) -> float:
    """The two-sided normal quantile of `level` (1.96 at 0.95), by bisection on math.erf (no scipy)."""
    target = 1 - (1 - level) / 2
    lo, hi = 0.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X ≤ k), X ~ Binomial(n, p), summed exactly term by term."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(0, k + 1))


@functools.lru_cache(maxsize=65536)  # tables repeat the same (k, n) many times
def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval of a binomial proportion: the parameters no one-sided exact
    test at (1 − level)/2 rejects. Found by bisection on the exact binomial tails."""
    if n <= 0:
        return 0.0, 1.0
    tail = (1 - level) / 2

    def solve(f: Any) -> float:  # f increasing in p; the p where f crosses 0
        lo, hi = 0.0, 1.0
        for _ in range(55):  # 2^-55: below a double's resolution of [0, 1]
            mid = (lo + hi) / 2
            if f(mid) < 0:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    # lower: P(X ≥ k | p) = tail; upper: P(X ≤ k | p) = tail.
    low = 0.0 if k == 0 else solve(lambda p: (1 - _binom_cdf(k - 1, n, p)) - tail)
    high = 1.0 if k == n else solve(lambda p: tail - _binom_cdf(k, n, p))
    return low, high


def paired_difference_exact(
    first_only: int, second_only: int, n: int, level: float = 0.95
) -> tuple[float, float]:
    """An interval of the difference of two paired proportions that agrees with exact McNemar.

    Conditional on the m = b + c discordant pairs, b ~ Binomial(m, φ) and the difference is
    (2φ − 1)·m/n; the Clopper–Pearson interval of φ mapped through that line excludes 0 exactly
    when the two-sided exact McNemar p-value is below 1 − level (both invert the same two
    one-sided binomial tests). With no discordant pair the interval is [0, 0]: the data show no
    difference at all, and the conditional interval says no more than that.
    """
    m = first_only + second_only
    if n <= 0:
        return float("nan"), float("nan")
    if m == 0:
        return 0.0, 0.0
    lo, hi = clopper_pearson(first_only, m, level)
    return (2 * lo - 1) * m / n, (2 * hi - 1) * m / n


EXACT_FLIPS = 12  # up to this many pairs every sign pattern is enumerated (4,096): exact


def sign_flip_p_value(
    differences: Sequence[float], seed: int, resamples: int = 4000, statistic: Any = None
) -> float:
    """Two-sided paired randomisation test: under "no difference" each pair's two systems are
    exchangeable, so each difference's sign is a fair coin. Exact (every sign pattern) up to
    `EXACT_FLIPS` pairs; beyond, Monte Carlo with the (1 + hits) / (1 + resamples) correction
    (never 0). `statistic` maps a ±1 sign matrix (patterns × pairs) to one value per row; by
    default the mean of the signed differences."""
    d = np.asarray(differences, dtype=np.float64)
    if len(d) == 0 or not np.any(d):
        return 1.0
    exact = len(d) <= EXACT_FLIPS
    if exact:
        patterns = np.arange(2 ** len(d))[:, None] >> np.arange(len(d))[None, :] & 1
        signs = np.where(patterns == 1, -1.0, 1.0)
    else:
        signs = np.random.default_rng(seed).choice(np.array([-1.0, 1.0]), size=(resamples, len(d)))
    if statistic is None:
        observed = abs(float(d.mean()))
        flipped = np.abs((signs * d).mean(axis=1))
    else:
        observed = abs(float(statistic(np.ones((1, len(d))))[0]))
        flipped = np.abs(statistic(signs))
    hits = int(np.sum(flipped >= observed - 1e-12))
    return hits / len(signs) if exact else (1 + hits) / (1 + resamples)


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (1979): the family-wise error stays at α with no independence
    assumption. None (no test) stays None and does not count in the family."""
    tested = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(tested)
    out: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def mover_mean_interval(
    values: Sequence[float], intervals: Sequence[tuple[float, float]], weights: Sequence[float]
) -> tuple[float, float, float]:
    """A weighted mean of independent estimates and its interval by MOVER (Zou & Donner 2008;
    Newcombe's square-and-add): each member's own interval is carried into the mean,
    L = m − √Σ(wᵢ(pᵢ − lᵢ))² / Σw, U = m + √Σ(wᵢ(uᵢ − pᵢ))² / Σw. With Wilson member intervals a
    member that is all right or all wrong over 5 samples still contributes its (wide) uncertainty,
    where a plug-in variance p(1 − p)/n would give it none."""
    w = np.asarray(weights, dtype=np.float64)
    p = np.asarray(values, dtype=np.float64)
    lo = np.asarray([a for a, _ in intervals], dtype=np.float64)
    hi = np.asarray([b for _, b in intervals], dtype=np.float64)
    total = float(w.sum())
    mean = float((w * p).sum() / total)
    down = math.sqrt(float(((w * (p - lo)) ** 2).sum())) / total
    up = math.sqrt(float(((w * (hi - p)) ** 2).sum())) / total
    return mean, mean - down, mean + up
