"""Queries, keys and values of every attention layer, before rotation, one layer at a time.

Forward hooks on each attention module's projections (or on its q/k norm when it has one: Qwen3,
OLMo2, Phi's qk_layernorm normalise after projecting and rotate the normalised vectors) take the
unrotated q, k and v; a hook on the rotary module takes the cos/sin the model really uses; a
pre-hook on the output projection takes the attention output. When an attention module finishes,
`on_layer` gets that layer's tensors and they are dropped before the next layer runs: nothing of
more than one layer is ever held, and the callback itself bounds what it materialises.

One sequence per forward pass (batch of one): documents are measured one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from longctx_eval.rope.frequencies import rotary_modules

_QUERY = ("q_norm", "q_layernorm", "q_proj")
_KEY = ("k_norm", "k_layernorm", "k_proj")
_OUTPUT = ("o_proj", "dense", "out_proj")


class UsageError(RuntimeError):
    """The model cannot be measured (an attention layout or rotary set-up this module does not know)."""


@dataclass(frozen=True)
class LayerTensors:
    """One layer's tensors for one sequence, float32, before rotation."""

    layer: int
    q: torch.Tensor  # [heads, tokens, head_dim]
    k: torch.Tensor  # [kv_heads, tokens, head_dim]
    v: torch.Tensor  # [kv_heads, tokens, v_head_dim]
    cos: torch.Tensor  # [tokens, rotary_dim], attention scaling included
    sin: torch.Tensor
    scaling: float  # softmax scale of the logits (1/sqrt(head_dim) for Llama)
    attn_out: torch.Tensor | None  # [tokens, heads * v_head_dim]: what the output projection got
    model_dtype: torch.dtype  # what the model computed in (the check's tolerance depends on it)


def attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The attention modules of `model`, in layer order: those with q_proj, k_proj and v_proj."""
    found = [
        m
        for m in model.modules()
        if all(isinstance(getattr(m, name, None), torch.nn.Module) for name in ("q_proj", "k_proj", "v_proj"))
    ]
    if not found:
        raise UsageError(
            f"{type(model).__name__}: no attention module with separate q_proj/k_proj/v_proj "
            "(fused projections are not supported)"
        )
    return found


def _child(module: torch.nn.Module, names: tuple[str, ...]) -> torch.nn.Module | None:
    for name in names:
        child = getattr(module, name, None)
        if isinstance(child, torch.nn.Module):
            return child
    return None


def _head_dim(attn: torch.nn.Module, model: torch.nn.Module) -> int:
    head_dim = getattr(attn, "head_dim", None)
    if head_dim is None:
        cfg: Any = getattr(model, "config", None)
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    return int(head_dim)


def _heads(x: torch.Tensor, tokens: int, head_dim: int) -> torch.Tensor:
    """[heads, tokens, head_dim] from a hooked output of layout [1, T, H*d], [1, T, H, d] or [1, H, T, d]."""
    x = x.detach()[0].float()
    if x.dim() == 3 and x.shape[0] != tokens:  # [H, T, d]: already transposed (Phi's qk_layernorm)
        return x
    return x.reshape(tokens, -1, head_dim).transpose(0, 1)


@contextmanager
def capture(model: torch.nn.Module, on_layer: Callable[[LayerTensors], None]) -> Iterator[None]:
    """While inside, each forward pass of `model` (one sequence) calls `on_layer` once per layer."""
    rotaries = rotary_modules(model)
    if len(rotaries) != 1:
        raise UsageError(
            f"{type(model).__name__} has {len(rotaries)} rotary modules; exactly one is supported"
        )
    state: dict[str, Any] = {}
    handles = [rotaries[0][1].register_forward_hook(lambda _m, _i, out: state.__setitem__("rope", out))]

    def stash(key: str) -> Callable[..., None]:
        return lambda _m, _i, out: state.__setitem__(key, out)

    for index, attn in enumerate(attention_modules(model)):
        head_dim = _head_dim(attn, model)
        sources = {"q": _child(attn, _QUERY), "k": _child(attn, _KEY), "v": attn.get_submodule("v_proj")}
        for key, module in sources.items():
            assert module is not None
            handles.append(module.register_forward_hook(stash(key)))
        out_proj = _child(attn, _OUTPUT)
        if out_proj is not None:
            handles.append(
                out_proj.register_forward_pre_hook(lambda _m, args: state.__setitem__("out", args[0]))
            )
        handles.append(attn.register_forward_hook(_finish(index, attn, head_dim, state, on_layer)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _finish(
    index: int,
    attn: torch.nn.Module,
    head_dim: int,
    state: dict[str, Any],
    on_layer: Callable[[LayerTensors], None],
) -> Callable[..., None]:
    def hook(_module: torch.nn.Module, _args: Any, _out: Any) -> None:
        cos, sin = state["rope"]
        if cos.shape[0] != 1:
            raise UsageError("one sequence per forward pass, please (batch size 1)")
        tokens = cos.shape[-2]
        out = state.pop("out", None)
        q_raw = state.pop("q")
        tensors = LayerTensors(
            layer=index,
            q=_heads(q_raw, tokens, head_dim),
            k=_heads(state.pop("k"), tokens, head_dim),
            v=_heads(state.pop("v"), tokens, head_dim),
            cos=cos.detach()[0].float(),
            sin=sin.detach()[0].float(),
            scaling=float(getattr(attn, "scaling", head_dim**-0.5)),
            attn_out=None if out is None else out.detach()[0].float(),
            model_dtype=q_raw.dtype,
        )
        on_layer(tensors)

    return hook
