"""RoPE scaling methods: specs, their transformers settings, and the frequencies they produce.

Method plugins import what they need from here: `rope_method`, `Frequencies`, `MethodParams`,
`RopeBase` and `builtin_frequencies` (see `rope.plugins`)."""

from longctx_eval.rope.base import RopeBase, RopeConfigError, read_rope_base, scaled_config
from longctx_eval.rope.methods import METHODS, Method, MethodParams, RopeSetting, ScalingSpec
from longctx_eval.rope.plugins import Frequencies, MethodPluginError, builtin_frequencies, rope_method

__all__ = [
    "METHODS",
    "Frequencies",
    "Method",
    "MethodParams",
    "MethodPluginError",
    "RopeBase",
    "RopeConfigError",
    "RopeSetting",
    "ScalingSpec",
    "builtin_frequencies",
    "read_rope_base",
    "rope_method",
    "scaled_config",
]
