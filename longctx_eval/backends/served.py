"""The `served` length policy: the frequencies a vLLM server uses, on the transformers backend.

vLLM (0.3x, `vllm/model_executor/layers/rotary_embedding`) fixes a length-dependent rotary once,
when the engine starts, from the engine's maximum length, and uses it for every request:
- LongRoPE (`Phi3LongRoPEScaledRotaryEmbedding`): the long factors at every position as soon as
  `max_model_len` exceeds the original length L (so the KV cache never holds two rotations); a
  server started from the scaled config serves up to `max_position_embeddings` = L·s > L tokens,
  so every request, however short, gets the long factors;
- dynamic NTK (`DynamicNTKScalingRotaryEmbedding`): one static base
  b·(α·max_pos/L − (α − 1))^(d/(d−2)) for the engine's `max_position_embeddings`, L·α here
  (backends/vllm_rope.py), which is transformers' dynamic base at a sequence of L·α tokens.

So `served` asks the model's own transformers rotary for its frequencies at that one length
(`served_length`) and keeps them for the whole call, prompt and generated tokens alike: the
frequencies still come from transformers' `ROPE_INIT_FUNCTIONS`, only the length they are picked
at is the engine's instead of the sequence's.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from longctx_eval.rope.frequencies import reset_rotary_state, rotary_modules
from longctx_eval.rope.methods import RopeSetting


def served_length(setting: RopeSetting) -> int:
    """The sequence length whose frequencies a vLLM engine serving this setting uses everywhere."""
    rope = setting.rope_parameters
    kind = str(rope.get("rope_type", "default"))
    if "dynamic" in kind:
        # The engine's cache: max_position_embeddings (L here) × factor, as vllm_rope.engine_limit.
        return math.floor(setting.max_position_embeddings * float(rope["factor"]))
    # LongRoPE: the scaled config's max_position_embeddings (L·s), what a server is started with.
    return setting.max_position_embeddings


@contextmanager
def served_frequencies(model: torch.nn.Module, seq_len: int) -> Iterator[None]:
    """Every rotary module of `model` at the frequencies transformers picks for `seq_len` tokens,
    frozen there (no per-forward update) until the block ends."""
    modules: list[Any] = [m for _, m in rotary_modules(model)]
    saved = [m.rope_type for m in modules]
    try:
        for m in modules:
            reset_rotary_state(m)
            freq: Any = m.inv_freq
            # A length-dependent rotary reads only max(position_ids) + 1 (rope.frequencies_at).
            probe = torch.zeros(1, dtype=torch.float32, device=freq.device)
            with torch.no_grad():
                m(probe, torch.tensor([[seq_len - 1]], device=freq.device))
            m.rope_type = "served"  # anything not dynamic/longrope: transformers updates nothing more
        yield
    finally:
        for m, rope_type in zip(modules, saved, strict=True):
            m.rope_type = rope_type
            reset_rotary_state(m)
