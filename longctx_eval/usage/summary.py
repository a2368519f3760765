"""From measured layers to the numbers the analysis reports, once for both of its readers.

`analyze` (one model, its own rope and every method) and the `analysis` task (one cell's rotary
setting, on the harness's live model) measure the same `LayerMeasure`s and turn them into the same
figures here: the norm grids and their band shares, the offset profiles and positional heads, the
attention entropy and distance, the decay curves and the norm bound the out-of-distribution share
weighs. Each figure is computed in this module only; the callers arrange them into their own
records (`UsageResult`, `AnalysisMetrics` and the analysis samples).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from longctx_eval.rope.frequencies import frequencies_at
from longctx_eval.rope.methods import ScalingSpec
from longctx_eval.usage.decay import decay_distances, gaussian_decay, model_decay, ones_decay
from longctx_eval.usage.measure import LayerMeasure, stacked
from longctx_eval.usage.norms import band_shares, qk_bound
from longctx_eval.usage.positional import PositionalHead, at_offsets, positional_heads
from longctx_eval.usage.result import DecayCurves, MethodAttention

NORMS = ("q_norm", "k_norm", "v_norm", "q_pass_norm", "k_pass_norm", "v_pass_norm")


def norm_grids(layers: Sequence[LayerMeasure]) -> dict[str, Any]:
    """The mean pair norms of q, k and v ([layer][head][pair]) and of their pass dimensions
    ([layer][head]), under the names of `NORMS`."""
    return {name: stacked(layers, name).tolist() for name in NORMS}


def norm_bound(layers: Sequence[LayerMeasure]) -> np.ndarray:
    """[layers, heads, pairs]: the Cauchy–Schwarz bound ‖q^i‖·‖k^i‖ (`norms.qk_bound`)."""
    return qk_bound(stacked(layers, "q_norm"), stacked(layers, "k_norm"))


def qk_band_share(layers: Sequence[LayerMeasure]) -> list[list[float]]:
    """[layer][quarter]: the share of the bound in each quarter of the pairs, fastest first."""
    return band_shares(norm_bound(layers))


def pair_weight(layers: Sequence[LayerMeasure]) -> np.ndarray:
    """[pairs]: the bound summed over layers and heads, what the out-of-distribution share weighs."""
    weight: np.ndarray = norm_bound(layers).sum(axis=(0, 1))
    return weight


def check_error(layers: Sequence[LayerMeasure]) -> float:
    """The largest relative error of the attention recomputation check over the layers."""
    return float(max(m.check_error for m in layers))


@dataclass(frozen=True)
class Offsets:
    """Where each head's attention sits, on the real text and on the same tokens shuffled."""

    profile: np.ndarray  # [layers, heads, offsets]: mean attention mass, real text
    shuffled: np.ndarray | None  # the same on shuffled tokens (None: not run)
    contrast: np.ndarray  # [layers, heads, pairs]: band contrast at each head's own strongest offset
    heads: list[PositionalHead]  # every head, most positional first

    @property
    def best(self) -> np.ndarray:
        """[layers, heads]: each head's strongest offset on the real text."""
        best: np.ndarray = self.profile.argmax(axis=-1)
        return best


def offsets(real: Sequence[LayerMeasure], mixed: Sequence[LayerMeasure] | None, threshold: float) -> Offsets:
    profile, contrast = stacked(real, "offset_profile"), stacked(real, "band_contrast")
    again = None if mixed is None else stacked(mixed, "offset_profile")
    return Offsets(
        profile=profile,
        shuffled=again,
        contrast=at_offsets(profile, contrast),
        heads=positional_heads(profile, again, contrast, threshold),
    )


def method_attention(
    spec: ScalingSpec | None, layers: Sequence[LayerMeasure], best: np.ndarray
) -> MethodAttention:
    """Entropy and distance of `layers` (measured under `spec`, None: a setting with no method name),
    and each head's mass at its offset `best` [layers, heads]."""
    entropy, distance = stacked(layers, "entropy"), stacked(layers, "mean_distance")
    profile = stacked(layers, "offset_profile")
    return MethodAttention(
        label=None if spec is None else spec.label(),
        method=None if spec is None else spec.method,
        factor=None if spec is None else spec.factor,
        entropy=entropy.mean(axis=1).tolist(),
        entropy_per_head=entropy.tolist(),
        mean_distance=distance.mean(axis=1).tolist(),
        mean_distance_per_head=distance.tolist(),
        offset_share=np.take_along_axis(profile, best[..., None], axis=-1)[..., 0].tolist(),
    )


def decay_curves(
    rope_config: Any,
    length: int,
    layers: Sequence[LayerMeasure],
    points: int,
    samples: int,
    seed: int,
    spec: ScalingSpec | None = None,
) -> DecayCurves:
    """The three decay curves under the frequencies `rope_config` (a model config carrying the
    setting) gives at `length`, the model's own vectors from `layers`."""
    inv, attention = frequencies_at(rope_config, length)
    theta = inv.tolist()
    r = decay_distances(length, points)
    mean, se = gaussian_decay(theta, attention, r, samples, seed)
    return DecayCurves(
        label=None if spec is None else spec.label(),
        method=None if spec is None else spec.method,
        factor=None if spec is None else spec.factor,
        inv_freq=theta,
        attention_factor=attention,
        distances=r,
        ones=ones_decay(theta, attention, r),
        gaussian_mean=mean,
        gaussian_se=se,
        model=[model_decay(m.q_mean, m.k_mean, theta, attention, r) for m in layers],
    )
