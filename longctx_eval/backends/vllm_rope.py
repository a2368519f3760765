"""What a vLLM engine needs for a rope setting: `hf_overrides`, `max_model_len`, and its limit.

vLLM (0.3x) reads the same `rope_parameters` as transformers v5, but sizes its cos/sin cache and
checks `max_model_len` its own way, per rope type (vllm/model_executor/layers/rotary_embedding):

- default (none, ntk), proportional (p_rope), llama3: the cache has max_position_embeddings
  positions and so does the derived max_model_len; the frequencies do not depend on it, so it is
  raised to the longest request.
- linear (pi): cache and derived length are max_position_embeddings × factor: raised to
  ⌈longest / factor⌉.
- dynamic: cache of max_position_embeddings positions, base
  b·(α·max_pos/max_trained_positions − (α−1))^(d/(d−2)). We set max_position_embeddings = L·α and
  max_trained_positions = L: one static base b·(α²−α+1)^(d/(d−2)) for every request, at most L·α
  tokens. transformers recomputes the base per forward pass; the two agree only at length L·α.
- yarn: cache of original_max_position_embeddings × factor = L·s positions: at most L·s tokens.
- longrope: cache of max_position_embeddings = L·s positions; the long factors are used for every
  position once max_model_len > L, as a server started from the scaled config (max_model_len
  L·s) uses them for every request; only with the backend's `longrope_short_engine` do requests
  within L get an engine of their own (short factors, as transformers uses them there).

- method plugins (rope type `longctx_eval`): served as longrope with per-pair rescale factors θ_i/θ'_i,
  short = long, and the plugin's attention factor (`rope.plugins.as_longrope`); the cache is
  raised to the longest request. A length-dependent plugin (`longctx_eval_dynamic`) is refused.

A length beyond an engine's limit is not served: the cell is recorded as skipped with the reason.

Proportional (p-RoPE) is served by vLLM's Gemma-4 rotary, which computes exactly transformers'
frequencies (⌊p·d/2⌋ pairs at b^(−2i/d), the rest 0) but refuses `partial_rotary_factor` 0 (NoPE,
p_rope with p = 0): it requires 0 < p ≤ 1 of every rope type. Both libraries count the rotating
pairs as ⌊p·d/2⌋, so any p below 2/d gives none: such engines get p = `NOPE_FACTOR` instead, the
same all-zero frequencies (cos 1, sin 0), which tests/test_vllm_rope.py checks on vLLM's module.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from longctx_eval.rope.methods import RopeSetting
from longctx_eval.rope.plugins import ROPE_TYPE, as_longrope

# Stands in for p = 0 in vLLM (see the module docstring): ⌊1e-6·d/2⌋ = 0 for any head size below 10^6.
NOPE_FACTOR = 1e-6


@dataclass(frozen=True)
class EngineRope:
    hf_overrides: dict[str, Any]
    max_model_len: int
    long_regime: bool | None  # longrope: which factors the engine uses; None for other types


def rope_type(setting: RopeSetting) -> str:
    return str(setting.rope_parameters.get("rope_type", "default"))


def trained_length(setting: RopeSetting) -> int:
    rope = setting.rope_parameters
    return int(rope.get("original_max_position_embeddings") or setting.max_position_embeddings)


def engine_limit(setting: RopeSetting) -> tuple[int, str] | None:
    """The most tokens (prompt + generation) an engine can serve with this setting, and why."""
    rope = setting.rope_parameters
    kind = rope_type(setting)
    if kind == "dynamic":
        n = math.floor(setting.max_position_embeddings * float(rope["factor"]))
        return n, f"vLLM's dynamic NTK is static with a cache of L·factor = {n} tokens"
    if kind == "yarn":
        n = math.floor(int(rope["original_max_position_embeddings"]) * float(rope["factor"]))
        return n, f"vLLM's YaRN cache covers original length × factor = {n} tokens"
    if kind == "longrope":
        n = setting.max_position_embeddings
        return n, f"vLLM's LongRoPE cache covers max_position_embeddings = {n} tokens"
    return None


def engine_rope(setting: RopeSetting, needed: int) -> EngineRope:
    """Overrides for an engine that serves requests of up to `needed` tokens (within its limit)."""
    rope = dict(setting.rope_parameters)
    kind = rope_type(setting)
    max_pos = setting.max_position_embeddings
    long_regime: bool | None = None
    if kind.startswith(ROPE_TYPE):  # a method plugin (a length-dependent one raises here)
        plugin = as_longrope(setting, needed)
        max_pos = max(needed, int(plugin["original_max_position_embeddings"]))
        return EngineRope({"rope_parameters": plugin, "max_position_embeddings": max_pos}, needed, None)
    if kind in ("default", "proportional", "llama3"):
        max_pos = max(max_pos, needed)
        if kind == "proportional" and float(rope.get("partial_rotary_factor", 1.0)) == 0.0:
            rope["partial_rotary_factor"] = NOPE_FACTOR
    elif kind == "linear":
        max_pos = max(max_pos, math.ceil(needed / float(rope["factor"])))
    elif kind == "dynamic":
        # Without max_trained_positions vLLM 0.3x takes it equal to max_position_embeddings, which
        # turns the scaling off and leaves a cache of only L positions (NaN beyond, seen here).
        rope["max_trained_positions"] = setting.max_position_embeddings
        max_pos = math.floor(setting.max_position_embeddings * float(rope["factor"]))
    elif kind == "longrope":
        long_regime = needed > trained_length(setting)
        if "attention_factor" in rope:  # vLLM reads its own keys for LongRoPE's attention factor
            rope["short_mscale"] = rope["long_mscale"] = rope["attention_factor"]
    return EngineRope({"rope_parameters": rope, "max_position_embeddings": max_pos}, needed, long_regime)
