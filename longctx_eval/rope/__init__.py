"""RoPE scaling methods: specs, their transformers settings, and the frequencies they produce."""

from longctx_eval.rope.base import RopeBase, RopeConfigError, read_rope_base, scaled_config
from longctx_eval.rope.methods import METHODS, Method, MethodParams, RopeSetting, ScalingSpec

__all__ = [
    "METHODS",
    "Method",
    "MethodParams",
    "RopeBase",
    "RopeConfigError",
    "RopeSetting",
    "ScalingSpec",
    "read_rope_base",
    "scaled_config",
]
