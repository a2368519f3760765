"""A planted induction circuit: the copy mechanism that training alone finds too late on a CPU.

Retrieval (passkey, NIAH) rests on induction heads: a head in one layer copies each token's
predecessor into it (a previous-token head), a head in the next layer matches the current token
against those predecessors and copies what followed. From a random initialisation this circuit
forms only after a long plateau: millions of tokens even for tiny models (Olsson et al. 2022;
Aoyama et al. 2025 fit N ≈ 10^5.7·sqrt(batch × context) tokens), more than a 30-minute CPU run
sees. We measured it while building this recipe: from a random init, neither the tasks' own
episodes nor hundreds of steps of pure copy data escaped the plateau within the CPU budget.

So the initial weights hold the circuit, and training tunes it and learns everything else. The
model stays a plain `LlamaForCausalLM`; these are initial values that training is free to move.

Layout of the residual stream at init (hidden size d):
- coordinate 0: 1 for every token, so after RMSNorm every position carries one shared direction;
- I = coordinates 1 … d/2−1: the token's identity (its embedding);
- P = coordinates d/2 … d−1: the previous token's identity, written by the previous-token head.
Every attention and MLP output projection starts at zero (a common init: each block starts as
the identity), except the two planted heads, so nothing else disturbs the circuit at step 0.

Layer 0, head 0 (previous token): query and key read only coordinate 0 into the fastest rotary
planes, the query turned back by one position's angle, so the score of key s from query t is
Σ_i w²·cos((t − s − 1)·θ_i), largest at s = t − 1. Its value reads I, its output writes P.
Layer 1, head 0 (induction): query reads I (the current token), key reads P (each position's
predecessor), both through the same random map M into the slowest rotary planes, where positions
up to L apart barely rotate: the score is high where the predecessor equals the current token.
Its value reads I and its output writes back into I, so the next token is the copied one.

Variants (reference/variants.py). p-RoPE: the same circuit from the same draws. The previous-token
head needs its planes rotating, so p must keep the FAST_PLANES fastest pairs (checked against the
model's own rotary frequencies); the induction head's slowest planes are, for p = 0.75, exactly
the stopped pairs, where its content match holds at any distance. NoPE: nothing rotates, and a
previous-token head cannot be built from the weights alone: without positions, attention tells
t − 1 from t − 2 only through the causal mask, e.g. a 1/(t+1) signal from uniform attention to
BOS, whose neighbours differ by ~1/t² (1.5e-5 at t = 256), below the few percent by which the
RMSNorm rescales each token (its own embedding sets its norm). So `previous_token=False` plants
the rest (embedding layout, the induction head, the previous-token head's value and output) and
leaves layer 0's query and key at their random initial values, for training to find what
position signal the causal mask gives. Everything else is planted and calibrated exactly as for
RoPE, with the rotary given RoPE's frequencies during planting only, so the NoPE model starts
from the RoPE model's weights but for those two matrices.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

CONSTANT_DIM = 0
FAST_PLANES = 8  # previous-token head: the fastest planes (slower ones barely tell t−1 from t−10)
SLOW_PLANES = 8  # induction head: the slowest planes (they turn little over L)
EMBED_STD = 0.1  # identity coordinates: big enough that a copied token wins the logits
PREV_LOGIT = 6.0  # previous-token score per plane at the peak
MATCH_LOGIT = 14.0  # induction score of a matching position (measured, then scaled to this)
COPY_GAIN = 3.0  # the copied token's weight in the residual, against the current token's 1


def _head_dim(cfg: Any) -> int:
    return int(getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads)


def plant_induction_circuit(model: Any, generator: Any = None, previous_token: bool = True) -> None:
    """Set the initial weights described in the module docstring (in place).

    `previous_token=False` (NoPE) leaves layer 0's query and key as they are; the random draws are
    the same either way, so variants differ only where their position encoding makes them differ.
    """
    import torch

    cfg = model.config
    d, hd = cfg.hidden_size, _head_dim(cfg)
    if cfg.num_attention_heads != cfg.num_key_value_heads:
        raise ValueError("the planted circuit assumes one key/value head per query head")
    half = hd // 2
    ident = torch.arange(1, d // 2)  # I
    prev = torch.arange(d // 2, d // 2 + hd)  # the part of P the previous-token head writes
    theta = float(cfg.rope_parameters["rope_theta"])
    angles = torch.tensor([theta ** (-2 * i / hd) for i in range(half)], dtype=torch.float64)
    if previous_token:
        _check_fast_planes(model, angles)
    else:
        a0 = model.model.layers[0].self_attn
        kept = (a0.q_proj.weight[:hd].detach().clone(), a0.k_proj.weight[:hd].detach().clone())
        with _rope_frequencies(model, angles):
            plant_induction_circuit(model, generator, previous_token=True)
        with torch.no_grad():
            a0.q_proj.weight[:hd] = kept[0]
            a0.k_proj.weight[:hd] = kept[1]
        return
    slow = torch.tensor(
        [i for i in range(half - SLOW_PLANES, half)] + [i + half for i in range(half - SLOW_PLANES, half)]
    )
    M = torch.randn(hd, len(ident), generator=generator) / len(ident) ** 0.5  # identity → head space

    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        emb = model.get_input_embeddings().weight
        emb.zero_()
        emb[:, ident] = torch.randn(emb.shape[0], len(ident), generator=generator) * EMBED_STD
        emb[:, CONSTANT_DIM] = 1.0
        c = float((1.0 / emb.pow(2).mean(dim=1).sqrt()).mean())  # coordinate 0 after RMSNorm

        a0 = model.model.layers[0].self_attn
        w = (PREV_LOGIT * hd**0.5) ** 0.5 / c
        for proj in (a0.q_proj, a0.k_proj, a0.v_proj):
            proj.weight[:hd].zero_()
        for i in range(FAST_PLANES):
            a0.q_proj.weight[i, CONSTANT_DIM] = w * torch.cos(angles[i])
            a0.q_proj.weight[i + half, CONSTANT_DIM] = -w * torch.sin(angles[i])
            a0.k_proj.weight[i, CONSTANT_DIM] = w
        a0.v_proj.weight[:hd, ident] = M
        a0.o_proj.weight[prev, :hd] = torch.eye(hd) / c  # P holds about as much as I

        a1 = model.model.layers[1].self_attn
        for proj in (a1.q_proj, a1.k_proj, a1.v_proj):
            proj.weight[:hd].zero_()
        a1.q_proj.weight[slow.unsqueeze(1), ident.unsqueeze(0)] = M[: len(slow)]
        a1.k_proj.weight[slow, prev[: len(slow)]] = 1.0
        a1.v_proj.weight[:hd, ident] = M
        a1.o_proj.weight[ident.unsqueeze(1), torch.arange(hd).unsqueeze(0)] = M.T
    _calibrate(model, generator)


@contextmanager
def _rope_frequencies(model: Any, angles: Any) -> Iterator[None]:
    """The model's rotary temporarily at RoPE's frequencies (NoPE: plant and calibrate as RoPE)."""
    import torch

    rotary = model.model.rotary_emb
    own = rotary.inv_freq
    # The rotary class's own default computation, so the calibration sees RoPE's frequencies to
    # the last bit (the formula in float64 differs from them in float32 rounding).
    default = getattr(type(rotary), "compute_default_rope_parameters", None)
    rotary.inv_freq = default(model.config)[0] if default else angles.to(torch.float32)
    try:
        yield
    finally:
        rotary.inv_freq = own


def _check_fast_planes(model: Any, angles: Any) -> None:
    """The previous-token head's planes must rotate, at the frequencies its query was turned by.

    Read from the model's own rotary module, so a rope type whose frequencies differ from
    θ_i = b^(−2i/d) (or that stops a fast pair) is refused rather than planted wrongly.
    """
    import torch

    used = getattr(getattr(model.model, "rotary_emb", None), "inv_freq", None)
    if used is None:
        return
    fast = used.detach().to(torch.float64)[:FAST_PLANES]
    if not torch.allclose(fast, angles[:FAST_PLANES], rtol=1e-6, atol=0.0):
        raise ValueError(
            f"the planted previous-token head needs its {FAST_PLANES} fastest pairs rotating at "
            f"θ_i = b^(−2i/d); the model's rotary gives {[round(float(f), 6) for f in fast]}"
        )


def _calibrate(model: Any, generator: Any) -> None:
    """Scale the induction head's query and output so match scores and copy strength hit targets."""
    import torch

    cfg = model.config
    hd = _head_dim(cfg)
    seq = torch.randint(3, cfg.vocab_size, (4, 48), generator=generator)
    ids = torch.cat([seq, seq], dim=1)  # every token of the repeat has a match 48 back
    a1 = model.model.layers[1].self_attn
    captured: dict[str, Any] = {}

    def grab(_mod: Any, args: Any, kwargs: Any) -> None:
        captured["x"] = kwargs.get("hidden_states", args[0] if args else None)

    with torch.no_grad():
        hook = a1.register_forward_pre_hook(grab, with_kwargs=True)
        try:
            out = model.model(input_ids=ids, use_cache=False, output_hidden_states=True)
        finally:
            hook.remove()
        x = captured["x"]
        q = a1.q_proj(x)[..., :hd]
        k = a1.k_proj(x)[..., :hd]
        scores = torch.einsum("bth,bsh->bts", q, k) / hd**0.5
        t = torch.arange(49, 96)
        match = scores[:, t, t - 47].mean()  # query t (token j) and key t-47 (predecessor j)
        a1.q_proj.weight[:hd] *= MATCH_LOGIT / float(match)
        # The copied token's share of the residual: its output norm against the embedding's.
        out = model.model(input_ids=ids, use_cache=False, output_hidden_states=True)
        h0, h2 = out.hidden_states[1], out.hidden_states[2]
        gain = float(
            (h2 - h0)[:, t].norm(dim=-1).mean() / model.get_input_embeddings()(ids).norm(dim=-1).mean()
        )
        a1.o_proj.weight[:, :hd] *= COPY_GAIN / gain
