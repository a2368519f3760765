"""Rotary pairs as transformers' Llama-family models form them, and what a rotation does to them.

With `rotate_half` (Llama, Mistral, Qwen, Phi, Gemma ...), dimension i of a head is paired with
i + d/2 for i < d/2, where d is the rotary width (head_dim × partial_rotary_factor: the width of
the model's own cos/sin). Pair i turns at frequency θ_i, pair 0 being the fastest. Dimensions past
d (partial rotary) never rotate: they are kept apart as the "pass" part.

The rotation is written out here (two lines) rather than borrowed from a model module, because the
pairs are needed one by one; `capture` checks every layer it measures against the model's own
attention output, so a model that pairs differently (interleaved dimensions) is refused, never
silently mismeasured.
"""

from __future__ import annotations

import torch


def split_pairs(x: torch.Tensor, rotary_dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(first, second, pass) parts of `x` [..., head_dim]: pair i is (first[..., i], second[..., i])."""
    half = rotary_dim // 2
    return x[..., :half], x[..., half:rotary_dim], x[..., rotary_dim:]


def pair_norms(x: torch.Tensor, rotary_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean L2 norm over tokens of each pair's 2-D chunk, and of the pass part.

    `x` is [heads, tokens, head_dim]; returns ([heads, pairs], [heads]). The pass norm is 0 for a
    fully rotary model.
    """
    a, b, rest = split_pairs(x, rotary_dim)
    pairs = torch.sqrt(a * a + b * b).mean(dim=1)
    rest_norm = rest.norm(dim=-1).mean(dim=1) if rest.shape[-1] else x.new_zeros(x.shape[0])
    return pairs, rest_norm


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """`x` [heads, tokens, head_dim] rotated by the model's cos/sin [tokens, rotary_dim].

    cos and sin are the rotary module's own output, attention scaling (YaRN, LongRoPE) included.
    """
    rotary_dim = cos.shape[-1]
    a, b, rest = split_pairs(x, rotary_dim)
    c, s = cos[:, : rotary_dim // 2], sin[:, : rotary_dim // 2]
    return torch.cat((a * c - b * s, b * c + a * s, rest), dim=-1)


def pair_dot_terms(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair, the coefficients of cos(rθ) and sin(rθ) in R(m)q · R(n)k with r = m − n.

    For q = (q1, q2), k = (k1, k2) in one pair: R(m)q · R(n)k = (q1k1 + q2k2)·cos(rθ)
    + (q1k2 − q2k1)·sin(rθ). Inputs are [..., rotary_dim]; outputs [..., pairs].
    """
    half = q.shape[-1] // 2
    q1, q2, k1, k2 = q[..., :half], q[..., half:], k[..., :half], k[..., half:]
    return q1 * k1 + q2 * k2, q1 * k2 - q2 * k1
