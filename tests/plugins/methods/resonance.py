"""Resonance RoPE (Wang et al. 2024, arXiv 2403.00071) as a method plugin.

Each pair's wavelength λ_i = 2π/θ_i is rounded to the nearest whole number of tokens, θ'_i =
2π / round(λ_i), so every pair's angle repeats exactly at integer positions. As in the authors'
code, every pair is rounded, after the scaling it builds on: plain RoPE (`resonance`, no factor)
or YaRN (`resonance_yarn`, whose ramp and attention temperature it keeps).
"""

import math

from pydantic import Field

from longctx_eval.rope import Frequencies, MethodParams, RopeBase, builtin_frequencies, rope_method
from longctx_eval.rope.methods import YarnParams


def rounded(inv_freq: list[float]) -> list[float]:
    return [2 * math.pi / max(1, round(2 * math.pi / theta)) for theta in inv_freq]


@rope_method("resonance", takes_factor=False)
def resonance(base: RopeBase, factor: float, params: MethodParams, length: int | None) -> Frequencies:
    """Resonance RoPE: every wavelength rounded to a whole number of tokens"""
    return Frequencies(rounded(base.base_inv_freq()))


class ResonanceYarnParams(MethodParams):
    beta_fast: float = Field(32.0, gt=0, description="YaRN: rotations above which a pair is left as is")
    beta_slow: float = Field(1.0, gt=0, description="YaRN: rotations below which a pair is interpolated")


@rope_method("resonance_yarn", ResonanceYarnParams)
def resonance_yarn(
    base: RopeBase, factor: float, params: ResonanceYarnParams, length: int | None
) -> Frequencies:
    """Resonance YaRN: YaRN's frequencies, each wavelength rounded to a whole number of tokens"""
    yarn = builtin_frequencies(
        base, "yarn", factor, YarnParams(beta_fast=params.beta_fast, beta_slow=params.beta_slow)
    )
    return Frequencies(rounded(list(yarn.inv_freq)), yarn.attention_factor)
