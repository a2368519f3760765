"""One forward pass per sequence, reduced layer by layer to the numbers the analysis keeps.

`measure` runs a sequence through the model's decoder (no logits: a (tokens × vocab) tensor is
never made) under `capture`, and keeps per layer: the pair norms of q, k and v, the mean q and k
vectors (rotary dimensions; the decay over the model's own vectors needs only those), and the
attention statistics. `mean_over` averages documents, each with the same weight; `measure_documents`
runs the documents as they are and shuffled, as `analyze` and the `analysis` task both do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from longctx_eval.rope.frequencies import reset_rotary_state, rotary_modules
from longctx_eval.usage.attention import attention_stats
from longctx_eval.usage.capture import LayerTensors, capture
from longctx_eval.usage.documents import shuffled
from longctx_eval.usage.pairs import pair_norms


@dataclass(frozen=True)
class LayerMeasure:
    """One layer on one sequence (or averaged over several): numpy arrays, float64."""

    q_norm: np.ndarray  # [heads, pairs]
    k_norm: np.ndarray  # [kv_heads, pairs]
    v_norm: np.ndarray  # [kv_heads, pairs]
    q_pass_norm: np.ndarray  # [heads]: the non-rotary dimensions (0 for a fully rotary model)
    k_pass_norm: np.ndarray  # [kv_heads]
    v_pass_norm: np.ndarray  # [kv_heads]
    q_mean: np.ndarray  # [heads, rotary_dim]
    k_mean: np.ndarray  # [kv_heads, rotary_dim]
    entropy: np.ndarray  # [heads]
    mean_distance: np.ndarray  # [heads]
    offset_profile: np.ndarray  # [heads, offsets]
    band_contrast: np.ndarray  # [heads, offsets, pairs]
    check_error: np.ndarray  # scalar: the attention check's relative error

    @property
    def rotary_dim(self) -> int:
        return int(self.q_mean.shape[-1])


def _layer(t: LayerTensors, offsets: int) -> LayerMeasure:
    rotary_dim = t.cos.shape[-1]
    q_norm, q_pass = pair_norms(t.q, rotary_dim)
    k_norm, k_pass = pair_norms(t.k, rotary_dim)
    v_norm, v_pass = pair_norms(t.v, rotary_dim)
    stats = attention_stats(t, offsets)

    def np64(x: torch.Tensor) -> np.ndarray:
        return x.detach().cpu().double().numpy()

    return LayerMeasure(
        q_norm=np64(q_norm),
        k_norm=np64(k_norm),
        v_norm=np64(v_norm),
        q_pass_norm=np64(q_pass),
        k_pass_norm=np64(k_pass),
        v_pass_norm=np64(v_pass),
        q_mean=np64(t.q[..., :rotary_dim].mean(dim=1)),
        k_mean=np64(t.k[..., :rotary_dim].mean(dim=1)),
        entropy=np64(stats.entropy),
        mean_distance=np64(stats.mean_distance),
        offset_profile=np64(stats.offset_profile),
        band_contrast=np64(stats.band_contrast),
        check_error=np.asarray(stats.check_error),
    )


@torch.inference_mode()
def measure(model: Any, ids: Sequence[int], offsets: int) -> list[LayerMeasure]:
    """Every layer of `model` on one sequence of token ids, in layer order."""
    layers: list[LayerMeasure] = []
    for _, module in rotary_modules(model):
        # Dynamic NTK keeps the longest length it has seen: start each sequence afresh.
        reset_rotary_state(module)
    device = next(model.parameters()).device
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else model
    with capture(model, lambda t: layers.append(_layer(t, offsets))):
        decoder(input_ids=torch.tensor([list(ids)], device=device), use_cache=False)
    return layers


def mean_over(documents: Sequence[Sequence[LayerMeasure]]) -> list[LayerMeasure]:
    """Layer by layer mean over documents (the check error: the largest)."""
    if not documents:
        raise ValueError("no documents to average")
    out = []
    for per_doc in zip(*documents, strict=True):
        values = {
            f.name: np.mean([getattr(m, f.name) for m in per_doc], axis=0) for f in fields(LayerMeasure)
        }
        values["check_error"] = np.max([m.check_error for m in per_doc])
        out.append(LayerMeasure(**values))
    return out


def stacked(layers: Sequence[LayerMeasure], name: str) -> np.ndarray:
    """One field of every layer as one array, layers first."""
    return np.stack([getattr(m, name) for m in layers])


def measure_all(model: Any, sequences: Sequence[Sequence[int]], offsets: int) -> list[LayerMeasure]:
    """Every layer of `model`, averaged over `sequences` (one forward pass each)."""
    return mean_over([measure(model, ids, offsets) for ids in sequences])


def measure_documents(
    model: Any, docs: Sequence[tuple[int, list[int]]], offsets: int, keep: int, seed: int, shuffle: bool
) -> tuple[list[LayerMeasure], list[LayerMeasure] | None]:
    """(real, shuffled) layers over (document index, ids) pairs: the shuffled run (None without
    `shuffle`) keeps the first `keep` tokens (BOS) in place and seeds document i's order with seed + i,
    so a document is shuffled the same way whichever documents run beside it."""
    real = measure_all(model, [ids for _, ids in docs], offsets)
    if not shuffle:
        return real, None
    return real, measure_all(model, [shuffled(ids, keep, seed + i) for i, ids in docs], offsets)
