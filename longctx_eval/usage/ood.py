"""Out-of-distribution norm share: how much of the q·k norm sits in pairs turned further than training.

The rule, per rotary pair i, for a method at a target length T (θ_i: the model's own frequencies
at its trained length L, as transformers computes them; θ'_i: the method's at T):

- a pair that completed at least one full turn within L (L·θ_i ≥ 2π) saw every angle in training
  and is never out of distribution;
- any other pair covered the angles [0, L·θ_i) in training; at T under the method it spans
  [0, T·θ'_i). It is out of distribution when T·θ'_i > L·θ_i (relative tolerance 1e-9).

Spans are counted in positions (L, T), not in largest distances (L−1, T−1), so that PI at T = s·L
lands exactly on its training span: it is what interpolation is designed to do.

`share` is the share of the Cauchy–Schwarz bound Σ ‖q^i‖·‖k^i‖ (see `norms.qk_bound`, summed over
layers and heads) in out-of-distribution pairs. It is 0 for `none` at L, and for `none` at any
T > L every pair short of a full turn counts. `distance_share` weighs each out-of-distribution
pair by the fraction of distances r in [0, T) whose angle r·θ'_i lies beyond L·θ_i, that is
1 − L·θ_i/(T·θ'_i): it keeps growing with T where `share` has already jumped.

Each pair also carries the class `longctx_eval.rope.analysis` gives it (extrapolated: frequency
kept; interpolated: divided by the largest ratio; blended: in between; stopped: frequency 0), and
`share_by_kind` splits the out-of-distribution share by class (under `none` every pair is
"extrapolated"; NTK's are "blended"; interpolated pairs go out only past the length their ratio
covers).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from longctx_eval.rope.analysis import frequency_record, pair_rows
from longctx_eval.rope.base import RopeBase, scaled_config
from longctx_eval.rope.frequencies import frequencies_at
from longctx_eval.rope.methods import RopeSetting, ScalingSpec
from longctx_eval.usage.result import OODShare, PairOOD

_TOL = 1e-9


def trained_frequencies(config: Any, base: RopeBase) -> list[float]:
    """The model's own frequencies at its trained length L."""
    own = ScalingSpec("none").resolve(base)
    inv, _ = frequencies_at(
        scaled_config(config, own.rope_parameters, own.max_position_embeddings), base.original_context
    )
    return [float(x) for x in inv]


def ood_pairs(config: Any, base: RopeBase, setting: RopeSetting, target_length: int) -> list[PairOOD]:
    """One row per pair for a rotary setting (a method@factor resolved on the model) at `target_length`."""
    trained = trained_frequencies(config, base)
    record = frequency_record(
        config, base, setting.rope_parameters, setting.max_position_embeddings, target_length
    )
    after: list[float] = record["inv_freq"]
    if len(after) != len(trained):
        raise ValueError(f"the setting has {len(after)} frequencies, the model {len(trained)}")
    # The classes exactly as `longctx-eval rope` prints them (plain RoPE before, the setting after).
    kinds = [row.kind for row in pair_rows(record["base_inv_freq"][: len(after)], after, target_length)]
    rows = []
    L, T = base.original_context, target_length
    for i, (theta, new, kind) in enumerate(zip(trained, after, kinds, strict=True)):
        full_turn = L * theta >= 2 * math.pi
        trained_span, span = L * theta, T * new
        ood = not full_turn and span > trained_span * (1 + _TOL)
        rows.append(
            PairOOD(
                pair=i,
                kind=kind,
                full_turn=full_turn,
                trained_span=trained_span,
                span=span,
                ood=ood,
                beyond=1.0 - trained_span / span if ood else 0.0,
            )
        )
    return rows


def ood_share(
    config: Any,
    base: RopeBase,
    setting: RopeSetting,
    target_length: int,
    weight: np.ndarray,
    spec: ScalingSpec | None = None,
) -> OODShare:
    """The share for one setting at `target_length`; `weight` is the per-pair norm bound [pairs]."""
    pairs = ood_pairs(config, base, setting, target_length)
    w = np.asarray(weight, dtype=float)
    if w.shape != (len(pairs),):
        raise ValueError(f"weights for {w.shape} pairs, frequencies for {len(pairs)}")
    total = float(w.sum()) or 1.0
    by_kind: dict[str, float] = {}
    for p in pairs:
        if p.ood:
            by_kind[p.kind] = by_kind.get(p.kind, 0.0) + float(w[p.pair]) / total
    return OODShare(
        label=None if spec is None else spec.label(),
        method=None if spec is None else spec.method,
        factor=None if spec is None else spec.factor,
        target_length=target_length,
        original_context=base.original_context,
        share=sum(float(w[p.pair]) for p in pairs if p.ood) / total,
        distance_share=sum(float(w[p.pair]) * p.beyond for p in pairs) / total,
        share_by_kind=by_kind,
        pairs=pairs,
    )
