"""The model's own rotary module: find it, swap it, and read the frequencies it really uses.

Frequencies are never computed by hand here: a scaled config is handed to the model's own rotary
class (which calls transformers' `ROPE_INIT_FUNCTIONS`), so what we report is what the model runs.
Method plugins reach that class the same way: importing this module registers their rope types
in `ROPE_INIT_FUNCTIONS`, the dict transformers documents as the place to add custom rope types.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch

from longctx_eval.rope.base import RopeBase, RopeConfigError, scaled_config
from longctx_eval.rope.methods import RopeSetting
from longctx_eval.rope.plugins import PLUGIN_ROPE_TYPES, plugin_frequencies


def _plugin_init(
    config: Any, device: Any = None, seq_len: Any = None, layer_type: str | None = None
) -> tuple[torch.Tensor, float]:
    """transformers' rope init function for a method plugin: the plugin's checked frequencies.

    Called by the model's rotary class when it is built, and for `longctx_eval_dynamic` again by
    transformers' `dynamic_rope_update` with the forward pass's length (`seq_len`)."""
    rope = config.rope_parameters if layer_type is None else config.rope_parameters[layer_type]
    freqs = plugin_frequencies(rope, int(seq_len) if seq_len is not None else None)
    return torch.tensor(freqs.inv_freq, dtype=torch.float32, device=device), freqs.attention_factor


def register_rope_types() -> None:
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    for kind in PLUGIN_ROPE_TYPES:
        ROPE_INIT_FUNCTIONS.setdefault(kind, _plugin_init)


register_rope_types()


def rotary_class(config: Any) -> type[torch.nn.Module]:
    """The model's own rotary-embedding class, found next to its causal-LM class."""
    from transformers import AutoModelForCausalLM

    try:
        model_cls: Any = AutoModelForCausalLM._model_mapping[type(config)]
    except KeyError:
        raise RopeConfigError(f"no causal-LM class registered for {type(config).__name__}") from None
    module = importlib.import_module(model_cls.__module__)
    prefix = model_cls.__name__.removesuffix("ForCausalLM")
    candidates = [name for name in dir(module) if name.endswith("RotaryEmbedding")]
    preferred = f"{prefix}RotaryEmbedding"
    name = preferred if preferred in candidates else (candidates[0] if len(candidates) == 1 else None)
    if name is None:
        raise RopeConfigError(f"cannot find the rotary embedding class of {model_cls.__name__}")
    cls: type[torch.nn.Module] = getattr(module, name)
    return cls


def rotary_modules(model: torch.nn.Module) -> list[tuple[str, torch.nn.Module]]:
    """Every rotary-embedding module inside a loaded model (usually one, `model.rotary_emb`)."""
    return [
        (name, module)
        for name, module in model.named_modules()
        if type(module).__name__.endswith("RotaryEmbedding") and hasattr(module, "inv_freq")
    ]


def reset_rotary_state(module: torch.nn.Module) -> None:
    """Undo the per-forward state of dynamic and longrope rotaries.

    transformers' dynamic NTK only grows its cached length and never shrinks it above the original
    length, so without a reset a 1500-token request after a 2000-token one would be rotated for
    2000 tokens: results would depend on the order of the cells.
    """
    original = getattr(module, "original_inv_freq", None)
    if original is None:
        return
    module.register_buffer("inv_freq", original.clone(), persistent=False)
    if hasattr(module, "original_max_seq_len"):
        module.max_seq_len_cached = module.original_max_seq_len


def frequencies_at(config: Any, seq_len: int) -> tuple[torch.Tensor, float]:
    """(inv_freq, attention_scaling) the model's rotary module uses for a sequence of `seq_len` tokens."""
    module: Any = rotary_class(config)(config=config)
    reset_rotary_state(module)
    # Length-dependent rotaries read only max(position_ids) + 1: one position is enough.
    positions = torch.tensor([[seq_len - 1]], dtype=torch.long)
    probe = torch.zeros(1, dtype=torch.float32)
    with torch.no_grad():
        module(probe, positions)
    inv_freq = module.inv_freq.detach().to(torch.float64).cpu()
    return inv_freq, float(module.attention_scaling)


def frequencies_of_setting(
    base: RopeBase, setting: RopeSetting, length: int | None = None
) -> tuple[list[float], float]:
    """(inv_freq, attention factor) of a setting without the model's config: transformers' own init
    function for the rope type, on a bare config carrying the base's dimensions. The `default` type
    is computed by each model's rotary class (there is no init function for it): θ_i = b^(−2i/d)
    over the rotary dimension, in float32 as those classes do."""
    from transformers import LlamaConfig
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    rope = setting.rope_parameters
    kind = str(rope.get("rope_type", "default"))
    if kind == "default":
        d = base.rotary_dim
        theta = float(rope.get("rope_theta", base.rope_theta))
        inv = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        return inv.to(torch.float64).tolist(), 1.0
    bare = LlamaConfig(
        hidden_size=base.head_dim,
        num_attention_heads=1,
        head_dim=base.head_dim,
        max_position_embeddings=base.max_position_embeddings,
    )
    config = scaled_config(bare, rope, setting.max_position_embeddings)
    kwargs = {} if length is None else {"seq_len": length}
    inv, attention = ROPE_INIT_FUNCTIONS[kind](config, None, **kwargs)
    return inv.to(torch.float64).tolist(), float(attention)
