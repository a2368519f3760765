"""The reference model's position encodings: RoPE, p-RoPE and NoPE, each saved as a stock Llama.

p-RoPE (Barbero et al. 2024, "Round and Round We Go!") is a change made before training: the
highest-frequency fraction p of the rotary pairs rotates as in RoPE, the remaining low-frequency
pairs never rotate. Applied to a model trained with full RoPE it measures only damage, so the
variants are trained from scratch with the default recipe, changing nothing but this.

How each is saved (config.json `rope_parameters`, read unchanged by transformers and vLLM):
- default: `{"rope_type": "default", "rope_theta": b}`, θ_i = b^(−2i/d) on all d/2 pairs;
- p_rope: transformers' `proportional` type with `partial_rotary_factor` p: the first ⌊p·d/2⌋ pairs
  keep θ_i = b^(−2i/d), exactly RoPE's frequencies (the exponent is over the whole head, unlike
  `partial_rotary_factor` on the other types, which re-spaces the kept pairs), the rest get 0;
- none (NoPE): the same type with p = 0: every frequency is 0, so cos = 1 and sin = 0 at every
  position and the rotation is the identity, bit for bit. The model stays a plain
  `LlamaForCausalLM` that `AutoModelForCausalLM` loads; no custom code.
"""

from __future__ import annotations

import math
from typing import Any

VARIANTS = ("default", "p_rope", "none")
# Initial weights: the planted induction circuit (reference/init.py) or transformers' own random
# initialisation with nothing planted (the control for the frequency-usage analysis).
INITS = ("planted", "random")
P_DEFAULT = 0.75  # the paper's Gemma ablation keeps 75% of the pairs rotating
# Pairs the planted previous-token head needs rotating (reference/init.py's FAST_PLANES; kept
# here as a number so that checking options imports no torch).
PREVIOUS_TOKEN_PLANES = 8


def rope_parameters(rope: str, p: float | None, rope_theta: float) -> dict[str, Any]:
    """The `rope_parameters` a variant's config carries (options checked by `check_variant`)."""
    if rope == "default":
        return {"rope_type": "default", "rope_theta": rope_theta}
    # transformers requires rope_theta for this type even when nothing rotates (NoPE).
    kept = 0.0 if rope == "none" else float(P_DEFAULT if p is None else p)
    return {"rope_type": "proportional", "rope_theta": rope_theta, "partial_rotary_factor": kept}


def rotating_pairs(p: float, head_dim: int) -> int:
    """How many pairs rotate under `proportional`: ⌊p·d/2⌋, as transformers and vLLM count them."""
    return int(p * head_dim // 2)


def check_variant(
    rope: str, p: float | None, rope_theta: float | None, head_dim: int = 64, init: str = "planted"
) -> list[tuple[str, str]]:
    """Every problem with a variant's settings `rope`, `p`, `rope_theta`, `init`, named by
    setting (empty: fine)."""
    problems: list[tuple[str, str]] = []
    if init not in INITS:
        problems.append(("init", f"unknown initialisation {init!r} (valid: {', '.join(INITS)})"))
    if rope not in VARIANTS:
        problems.append(("rope", f"unknown variant {rope!r} (valid: {', '.join(VARIANTS)})"))
        return problems
    if p is not None and rope != "p_rope":
        problems.append(("p", f"applies to the p_rope variant only (got {rope})"))
    if rope_theta is not None and rope == "none":
        problems.append(("rope_theta", "NoPE (the none variant) has no frequencies to set"))
    if rope_theta is not None and not (math.isfinite(rope_theta) and rope_theta > 1.0):
        problems.append(("rope_theta", f"must be a number > 1 (got {rope_theta:g})"))
    if rope == "p_rope" and p is not None:
        if not (math.isfinite(p) and 0.0 < p < 1.0):
            hint = " (p = 0 is the none variant, p = 1 the default one)" if p in (0.0, 1.0) else ""
            problems.append(("p", f"must be strictly between 0 and 1 (got {p:g}){hint}"))
        elif init == "planted" and rotating_pairs(p, head_dim) < PREVIOUS_TOKEN_PLANES:
            need = PREVIOUS_TOKEN_PLANES * 2 / head_dim
            problems.append(
                (
                    "p",
                    f"{p:g} leaves {rotating_pairs(p, head_dim)} of {head_dim // 2} pairs rotating; the "
                    f"planted previous-token head needs the {PREVIOUS_TOKEN_PLANES} fastest (p >= {need:g})",
                )
            )
    return problems
