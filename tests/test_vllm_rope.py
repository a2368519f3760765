"""How rope settings become vLLM engine overrides (pure translation; no engine needed)."""

from __future__ import annotations

import pytest
from transformers import LlamaConfig

from longctx_eval.backends.vllm_rope import engine_limit, engine_rope
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
