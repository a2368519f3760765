"""What one layer's attention does on one sequence: entropy, distance, offsets, and which bands.

The attention is recomputed from the captured q/k (rotated with the model's own cos/sin) a block
of query rows at a time, so memory stays at heads × block × tokens whatever the length. Each
block's weights give, per head:

- entropy: −Σ_s a_ts·ln a_ts (nats), averaged over every query t (YaRN's temperature diagnostic);
- mean attended distance: Σ_s a_ts·(t − s), averaged over every query;
- offset profile: the mass a_t,t−o at offsets o = 0 … K−1 (0: the token itself, 1: the previous
  one), averaged over the queries t ≥ K−1 that have all K offsets;
- band contrast, per offset and rotary pair i: the pair's share of the logit of the key at that
  offset minus its mean share over all visible keys, scaling·(q̃_t^i·k̃_{t−o}^i − q̃_t^i·mean_{s≤t} k̃_s^i),
  averaged over the same queries: the bands that make that offset stand out.

The last block's attention output is compared with what the model itself fed its output
projection: a mismatch (sliding windows, logit soft-capping, another pairing of dimensions) raises
rather than report numbers of a different attention.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from longctx_eval.usage.capture import LayerTensors, UsageError
from longctx_eval.usage.pairs import rotate, split_pairs

# Attention weights held at once (floats): 16M floats = 64 MiB per block.
_BLOCK_FLOATS = 1 << 24
_CHECKED_ROWS = 8


@dataclass(frozen=True)
class AttentionStats:
    entropy: torch.Tensor  # [heads]
    mean_distance: torch.Tensor  # [heads]
    offset_profile: torch.Tensor  # [heads, offsets]
    band_contrast: torch.Tensor  # [heads, offsets, pairs]
    check_error: float  # max |ours − model's| / max |model's| over the checked rows (0 if unchecked)


def _tolerance(t: LayerTensors) -> float:
    return 1e-3 if t.model_dtype in (torch.float32, torch.float64) else 3e-2


def attention_stats(t: LayerTensors, offsets: int) -> AttentionStats:
    """Statistics of layer `t` (see the module docstring); `offsets` is K."""
    heads, tokens, _ = t.q.shape
    rep = heads // t.k.shape[0]
    q = rotate(t.q, t.cos, t.sin)
    k = rotate(t.k, t.cos, t.sin).repeat_interleave(rep, dim=0)
    v = t.v.repeat_interleave(rep, dim=0)
    rows = max(1, _BLOCK_FLOATS // (heads * tokens))
    first = min(offsets - 1, tokens - 1)  # queries before this lack some offsets
    entropy = q.new_zeros(heads)
    distance = q.new_zeros(heads)
    profile = q.new_zeros(heads, offsets)
    check = 0.0
    for t0 in range(0, tokens, rows):
        t1 = min(t0 + rows, tokens)
        a = _weights(q[:, t0:t1], k[:, :t1], t.scaling, t0)
        entropy -= torch.special.xlogy(a, a).sum(dim=(1, 2))
        dev = a.device
        gaps = (
            torch.arange(t0, t1, dtype=a.dtype, device=dev)[:, None]
            - torch.arange(t1, dtype=a.dtype, device=dev)[None, :]
        )
        distance += (a * gaps.clamp(min=0)).sum(dim=(1, 2))
        query = torch.arange(max(t0, first), t1, device=dev)
        for o in range(min(offsets, tokens)):
            profile[:, o] += a[:, query - t0, query - o].sum(dim=1)
        if t1 == tokens and t.attn_out is not None:
            check = _check(a, v, t)
    scale = max(tokens - first, 1)
    return AttentionStats(
        entropy=entropy / tokens,
        mean_distance=distance / tokens,
        offset_profile=profile / scale,
        band_contrast=_band_contrast(q, k, t.scaling, t.cos.shape[-1], offsets, first),
        check_error=check,
    )


def _weights(q: torch.Tensor, k: torch.Tensor, scaling: float, t0: int) -> torch.Tensor:
    """Causal softmax attention of query rows t0 … t0+B−1 over keys 0 … t0+B−1."""
    logits = torch.matmul(q, k.transpose(1, 2)) * scaling
    rows, cols = logits.shape[1], logits.shape[2]
    dev = logits.device
    future = torch.arange(cols, device=dev)[None, :] > torch.arange(t0, t0 + rows, device=dev)[:, None]
    return torch.softmax(logits.masked_fill(future, float("-inf")), dim=-1)


def _check(a: torch.Tensor, v: torch.Tensor, t: LayerTensors) -> float:
    assert t.attn_out is not None
    n = min(_CHECKED_ROWS, a.shape[1])
    ours = torch.matmul(a[:, -n:], v[:, : a.shape[2]]).transpose(0, 1).reshape(n, -1)
    theirs = t.attn_out[-n:]
    error = float((ours - theirs).abs().max() / theirs.abs().max().clamp(min=1e-12))
    if error > _tolerance(t):
        raise UsageError(
            f"layer {t.layer}: the attention recomputed from q/k/v differs from the model's "
            f"(relative error {error:.2g}); sliding windows, logit soft-capping and interleaved "
            "rotary pairs are not supported"
        )
    return error


def _band_contrast(
    q: torch.Tensor, k: torch.Tensor, scaling: float, rotary_dim: int, offsets: int, first: int
) -> torch.Tensor:
    """[heads, offsets, pairs]: see the module docstring. O(offsets × tokens × head_dim)."""
    tokens = q.shape[1]
    counts = torch.arange(1, tokens + 1, dtype=k.dtype, device=k.device)[None, :, None]
    k_mean = k.cumsum(dim=1) / counts  # mean over the keys each query can see
    qa, qb, _ = split_pairs(q, rotary_dim)
    ma, mb, _ = split_pairs(k_mean, rotary_dim)
    baseline = (qa * ma + qb * mb)[:, first:]
    out = []
    for o in range(offsets):
        if o > first:
            out.append(torch.zeros_like(baseline[:, 0]))
            continue
        ka, kb, _ = split_pairs(k[:, first - o : tokens - o], rotary_dim)
        out.append(((qa[:, first:] * ka + qb[:, first:] * kb) - baseline).mean(dim=1))
    return torch.stack(out, dim=1) * scaling
