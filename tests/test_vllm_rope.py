"""How rope settings become vLLM engine overrides (pure translation; no engine needed)."""

from __future__ import annotations

import pytest
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

from longctx_eval.backends.vllm_rope import NOPE_FACTOR, engine_limit, engine_rope
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.rope.longrope_factors import yarn_derived_factors
from longctx_eval.rope.methods import Llama3Params, PRopeParams, YarnParams

CONFIG = LlamaConfig(hidden_size=256, num_attention_heads=4, max_position_embeddings=512)
BASE = read_rope_base(CONFIG)


def setting(spec: ScalingSpec):
    return spec.resolve(BASE)


@pytest.mark.parametrize(
    "spec",
    [
        ScalingSpec("none"),
        ScalingSpec("ntk", 4.0),
        ScalingSpec("llama3", 4.0, Llama3Params()),
        ScalingSpec("p_rope", params=PRopeParams(p=0.5)),
    ],
    ids=lambda s: s.label(),
)
def test_types_without_a_limit_get_their_cache_raised(spec: ScalingSpec):
    s = setting(spec)
    assert engine_limit(s) is None
    rope = engine_rope(s, 4097)
    assert rope.hf_overrides["max_position_embeddings"] == 4097 and rope.max_model_len == 4097
    assert rope.hf_overrides["rope_parameters"] == s.rope_parameters  # frequencies unchanged


def test_linear_cache_is_max_position_times_factor():
    rope = engine_rope(setting(ScalingSpec("pi", 4.0)), 4097)
    assert rope.hf_overrides["max_position_embeddings"] == 1025  # ×4 ≥ 4097
    assert engine_rope(setting(ScalingSpec("pi", 4.0)), 100).hf_overrides["max_position_embeddings"] == 512


def test_yarn_serves_original_times_factor():
    s = setting(ScalingSpec("yarn", 4.0, YarnParams()))
    assert engine_limit(s)[0] == 2048
    rope = engine_rope(s, 2048)
    assert rope.hf_overrides["max_position_embeddings"] == 2048
    assert rope.hf_overrides["rope_parameters"]["original_max_position_embeddings"] == 512


def test_dynamic_is_made_static_at_L_times_alpha():
    s = setting(ScalingSpec("dynamic_ntk", 3.0))
    assert engine_limit(s)[0] == 1536
    rope = engine_rope(s, 1536)
    # vLLM: base' = b·(α·max_pos/max_trained − (α−1))^(d/(d−2)) = b·(α²−α+1)^…, cache max_pos = L·α
    assert rope.hf_overrides["max_position_embeddings"] == 1536
    assert rope.hf_overrides["rope_parameters"]["max_trained_positions"] == 512


def test_longrope_regimes_and_mscale():
    factors = yarn_derived_factors(CONFIG, BASE, 4.0)
    params = factors.params("t").model_copy(update={"attention_factor": 1.2})
    s = setting(ScalingSpec("longrope", 4.0, params))
    assert engine_limit(s)[0] == 2048
    assert engine_rope(s, 512).long_regime is False
    long = engine_rope(s, 1000)
    assert long.long_regime is True
    assert (
        long.hf_overrides["rope_parameters"]["short_mscale"]
        == long.hf_overrides["rope_parameters"]["long_mscale"]
        == 1.2
    )


def proportional(p: float) -> LlamaConfig:
    """A reference-sized model (head_dim 64) trained with p-RoPE (p > 0) or NoPE (p = 0)."""
    return LlamaConfig(
        hidden_size=192,
        num_attention_heads=3,
        max_position_embeddings=256,
        rope_parameters={"rope_type": "proportional", "rope_theta": 1000.0, "partial_rotary_factor": p},
    )


def test_nope_gets_a_factor_vllm_accepts_and_p_rope_is_passed_unchanged():
    for p in (0.75, 0.0):
        s = ScalingSpec("none").resolve(read_rope_base(proportional(p)))
        rope = engine_rope(s, 2049)
        assert engine_limit(s) is None and rope.max_model_len == 2049
        sent = rope.hf_overrides["rope_parameters"]["partial_rotary_factor"]
        # vLLM refuses 0 (it wants 0 < p <= 1); 1e-6 also leaves ⌊p·64/2⌋ = 0 pairs rotating.
        assert sent == (0.75 if p else NOPE_FACTOR) and int(sent * 64 // 2) == (24 if p else 0)


@pytest.mark.slow  # importing vLLM takes ~10 s on 2 cores
@pytest.mark.parametrize("p", [0.75, 0.0], ids=["p_rope", "nope"])
def test_vllm_rotary_uses_exactly_the_frequencies_transformers_uses(p: float):
    """vLLM's own rotary module, built from the overrides an engine would get (no engine started)."""
    pytest.importorskip("vllm", reason="vLLM is not installed")
    import torch
    from vllm.config import VllmConfig, set_current_vllm_config
    from vllm.model_executor.layers.rotary_embedding import get_rope

    config = proportional(p)
    rope = engine_rope(ScalingSpec("none").resolve(read_rope_base(config)), 2049)
    with set_current_vllm_config(VllmConfig()):
        module = get_rope(
            64,
            max_position=rope.hf_overrides["max_position_embeddings"],
            rope_parameters=rope.hf_overrides["rope_parameters"],
            dtype=torch.float32,
        )
    hf = LlamaRotaryEmbedding(config).inv_freq
    kept = int(p * 64 // 2)
    assert torch.equal(hf[kept:], torch.zeros(32 - kept))
    # What vLLM multiplies positions by, and what its cos/sin cache holds at every position.
    assert torch.equal(module._compute_inv_freq(module.base), hf)
    cache = module.cos_sin_cache
    assert cache.shape == (2049, 64)
    cos, sin = cache[:, :32], cache[:, 32:]
    assert torch.equal(cos[:, kept:], torch.ones(2049, 32 - kept))
    assert torch.equal(sin[:, kept:], torch.zeros(2049, 32 - kept))
    angles = torch.arange(2049, dtype=torch.float32)[:, None] * hf[None, :kept]
    torch.testing.assert_close(cos[:, :kept], angles.cos(), rtol=0, atol=1e-5)
    torch.testing.assert_close(sin[:, :kept], angles.sin(), rtol=0, atol=1e-5)
