"""The decay of q·R(r)·k with the distance r, for three kinds of vectors (Barbero et al. 2024, §3).

For pair i turning at θ_i, R(m)q · R(n)k = Σ_i [(q1k1 + q2k2)·cos(rθ_i) + (q1k2 − q2k1)·sin(rθ_i)]
with r = m − n (see `pairs.pair_dot_terms`), times the square of the rotary module's attention
scaling (YaRN and LongRoPE multiply cos and sin by it). Three averages:

- ones: q = k = (1, …, 1), giving Σ_i 2·cos(rθ_i): the curve behind "RoPE decays with distance";
- gaussian: q, k independent N(0, I), whose expectation is 0 at every r (no decay at all); the
  sample mean over `samples` draws is reported with its standard error;
- model: a query and a key drawn independently from one layer's measured vectors (every position,
  every head with its own KV head); by bilinearity that expectation is μ_q·R(r)·μ_k, the mean
  query against the mean key, averaged over heads.

Only rotary dimensions enter (a partial-rotary model's pass dimensions add a constant).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from longctx_eval.usage.pairs import pair_dot_terms


def decay_distances(length: int, points: int) -> list[int]:
    """Distances 0 … length−1, all of them or `points` evenly spread (both ends included)."""
    if length <= points:
        return list(range(length))
    return sorted({int(x) for x in np.linspace(0, length - 1, points).round()})


def _curves(
    q: torch.Tensor, k: torch.Tensor, inv_freq: Sequence[float], attention: float, r: Sequence[int]
) -> torch.Tensor:
    """[n, distances] for n (q, k) vector pairs [n, rotary_dim]."""
    theta = torch.as_tensor(list(inv_freq), dtype=torch.float64)
    if 2 * theta.numel() != q.shape[-1]:
        raise ValueError(f"{theta.numel()} frequencies for vectors of {q.shape[-1]} rotary dimensions")
    angles = theta[:, None] * torch.as_tensor(list(r), dtype=torch.float64)[None, :]
    c_cos, c_sin = pair_dot_terms(q.double(), k.double())
    return (c_cos @ torch.cos(angles) + c_sin @ torch.sin(angles)) * attention**2


def ones_decay(inv_freq: Sequence[float], attention: float, r: Sequence[int]) -> list[float]:
    ones = torch.ones(1, 2 * len(inv_freq), dtype=torch.float64)
    return _curves(ones, ones, inv_freq, attention, r)[0].tolist()


def gaussian_decay(
    inv_freq: Sequence[float], attention: float, r: Sequence[int], samples: int, seed: int
) -> tuple[list[float], list[float]]:
    """(mean, standard error) over `samples` independent Gaussian (q, k) draws (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(samples, 2 * len(inv_freq), generator=gen, dtype=torch.float64)
    k = torch.randn(samples, 2 * len(inv_freq), generator=gen, dtype=torch.float64)
    curves = _curves(q, k, inv_freq, attention, r)
    se = curves.std(dim=0, unbiased=True) / samples**0.5
    return curves.mean(dim=0).tolist(), se.tolist()


def model_decay(
    q_mean: np.ndarray, k_mean: np.ndarray, inv_freq: Sequence[float], attention: float, r: Sequence[int]
) -> list[float]:
    """μ_q·R(r)·μ_k averaged over query heads, each with its KV head; means are [heads, rotary_dim]."""
    q = torch.as_tensor(q_mean, dtype=torch.float64)
    k = torch.as_tensor(k_mean, dtype=torch.float64).repeat_interleave(q.shape[0] // k_mean.shape[0], dim=0)
    return _curves(q, k, inv_freq, attention, r).mean(dim=0).tolist()
