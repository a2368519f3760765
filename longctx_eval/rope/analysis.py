"""Per-pair picture of what a method does to a model's rotary frequencies (`longctx-eval rope`)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from longctx_eval.rope.base import RopeBase, scaled_config
from longctx_eval.rope.frequencies import frequencies_at
from longctx_eval.rope.methods import ScalingSpec

_TOL = 1e-6


@dataclass(frozen=True)
class PairRow:
    pair: int
    wavelength_before: float
    wavelength_after: float  # inf for a stopped pair (frequency 0)
    ratio: float  # wavelength_after / wavelength_before (inf when stopped)
    rotations_at_target: float
    kind: str  # extrapolated | interpolated | blended | stopped


@dataclass(frozen=True)
class RopeAnalysis:
    method: str
    label: str  # the leaderboard name, e.g. yarn(beta_fast=16)@4
    factor: float
    target_length: int
    original_context: int
    rope_parameters: dict[str, Any]
    max_position_embeddings: int
    attention_factor: float
    inv_freq: list[float]
    base_inv_freq: list[float]
    pairs: list[PairRow]

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["pairs"] = [_finite(asdict(p)) for p in self.pairs]
        return out


def _finite(row: dict[str, Any]) -> dict[str, Any]:
    # JSON has no infinity: a stopped pair's wavelength is reported as null.
    return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in row.items()}


def plain_setting(base: RopeBase) -> dict[str, Any]:
    rope: dict[str, Any] = {"rope_type": "default", "rope_theta": base.rope_theta}
    if base.partial_rotary_factor != 1.0:
        rope["partial_rotary_factor"] = base.partial_rotary_factor
    return rope


def frequency_record(
    config: Any, base: RopeBase, rope_parameters: dict[str, Any], max_pos: int, length: int
) -> dict[str, Any]:
    """What a record keeps about the rotary setting its cell ran with (the report plots it)."""
    plain, _ = frequencies_at(scaled_config(config, plain_setting(base), base.original_context), 1)
    inv, attention = frequencies_at(scaled_config(config, rope_parameters, max_pos), length)
    return {"inv_freq": inv.tolist(), "base_inv_freq": plain.tolist(), "attention_factor": attention}


def analyse(config: Any, base: RopeBase, spec: ScalingSpec, target_length: int) -> RopeAnalysis:
    """Frequencies before (plain RoPE at rope_theta) and after the method, at `target_length` tokens."""
    setting = spec.resolve(base)
    plain_cfg = scaled_config(config, plain_setting(base), base.original_context)
    before, _ = frequencies_at(plain_cfg, target_length)
    after, attention = frequencies_at(
        scaled_config(config, setting.rope_parameters, setting.max_position_embeddings), target_length
    )
    if after.numel() != before.numel():
        # p-RoPE returns one frequency per pair of the whole head, rotary or not.
        before = before[: after.numel()] if after.numel() < before.numel() else before
    rows = pair_rows(before.tolist(), after.tolist(), target_length)
    return RopeAnalysis(
        method=spec.method,
        label=spec.label(),
        factor=spec.factor,
        target_length=target_length,
        original_context=base.original_context,
        rope_parameters=setting.rope_parameters,
        max_position_embeddings=setting.max_position_embeddings,
        attention_factor=attention,
        inv_freq=after.tolist(),
        base_inv_freq=before.tolist(),
        pairs=rows,
    )


def pair_rows(before: list[float], after: list[float], target: int) -> list[PairRow]:
    ratios = [b / a if a > 0 else math.inf for b, a in zip(before, after, strict=True)]
    finite = [r for r in ratios if math.isfinite(r)]
    top = max(finite) if finite else 1.0
    rows = []
    for i, (b, a, r) in enumerate(zip(before, after, ratios, strict=True)):
        if a == 0:
            kind = "stopped"
        elif abs(r - 1.0) < _TOL:
            kind = "extrapolated"
        elif top > 1.0 + _TOL and r >= top * (1 - _TOL):
            kind = "interpolated"
        else:
            kind = "blended"
        wavelength_after = 2 * math.pi / a if a > 0 else math.inf
        rows.append(
            PairRow(
                pair=i,
                wavelength_before=2 * math.pi / b,
                wavelength_after=wavelength_after,
                ratio=r,
                rotations_at_target=target * a / (2 * math.pi),
                kind=kind,
            )
        )
    return rows
