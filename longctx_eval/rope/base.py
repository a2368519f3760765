"""What a model's config says about its rotary embedding, and scaled copies of that config.

No torch here: the sweep config is validated against these facts before anything heavy loads.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any


class RopeConfigError(ValueError):
    """The model's config cannot be used with a method (a field is missing or incompatible)."""


@dataclass(frozen=True)
class RopeBase:
    """The unscaled rotary set-up of a model, read from its config."""

    rope_theta: float
    head_dim: int
    rotary_dim: int
    partial_rotary_factor: float
    original_context: int
    max_position_embeddings: int
    rope_parameters: dict[str, Any]  # the model's own dict, as shipped

    @property
    def n_pairs(self) -> int:
        return self.rotary_dim // 2

    def base_inv_freq(self) -> list[float]:
        """θ_i = b^(−2i/d): the textbook formula, for tests and formulas that compare against it."""
        return [self.rope_theta ** (-2 * i / self.rotary_dim) for i in range(self.n_pairs)]


def read_rope_base(config: Any, original_context: int | None = None) -> RopeBase:
    """Read the rotary set-up; `original_context` overrides the trained length read from the config."""
    params = dict(getattr(config, "rope_parameters", None) or {})
    layer_types = getattr(config, "layer_types", None) or ()
    if any(key in params for key in layer_types):
        raise RopeConfigError("per-layer rope_parameters (nested by layer type) are not supported yet")
    theta = params.get("rope_theta") or getattr(config, "rope_theta", None)
    if theta is None:
        raise RopeConfigError("the model config has no rope_theta: is this a RoPE model?")
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    if params.get("rope_type") == "proportional":
        # p-RoPE / NoPE: every pair of the head is a rotary pair; `partial_rotary_factor` is the
        # share that rotates (the rest have frequency 0), not a shorter rotary dimension.
        prf = 1.0
    else:
        given = params.get("partial_rotary_factor", getattr(config, "partial_rotary_factor", None))
        prf = float(given) if given is not None else 1.0
    trained = (
        original_context
        or params.get("original_max_position_embeddings")
        or getattr(config, "original_max_position_embeddings", None)
        or getattr(config, "max_position_embeddings", None)
    )
    if not trained:
        raise RopeConfigError("cannot tell the model's trained context: set models[].original_context")
    return RopeBase(
        rope_theta=float(theta),
        head_dim=int(head_dim),
        rotary_dim=int(head_dim * prf),
        partial_rotary_factor=prf,
        original_context=int(trained),
        max_position_embeddings=int(getattr(config, "max_position_embeddings", None) or trained),
        rope_parameters=params,
    )


def scaled_config(config: Any, rope_parameters: dict[str, Any], max_position_embeddings: int) -> Any:
    """A copy of `config` carrying new rope settings; the original config is left untouched.

    Assigning `rope_parameters` after construction skips transformers' validation; the methods
    module validates the values itself before they get here.
    """
    new = copy.deepcopy(config)
    new.rope_parameters = copy.deepcopy(rope_parameters)
    new.max_position_embeddings = int(max_position_embeddings)
    # Phi-3 style configs keep the trained length outside rope_parameters, and transformers gives
    # that attribute priority during standardisation: keep the two in step.
    if (
        hasattr(new, "original_max_position_embeddings")
        and "original_max_position_embeddings" in rope_parameters
    ):
        new.original_max_position_embeddings = rope_parameters["original_max_position_embeddings"]
    return new
