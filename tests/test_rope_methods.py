"""Every method's frequencies: against transformers' own functions, the published worked numbers
(shared/design/rope-methods.md) and the papers' formulas."""

from __future__ import annotations

import logging
import math

import pytest
import torch
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

from longctx_eval.rope import ScalingSpec, read_rope_base, scaled_config
from longctx_eval.rope.analysis import analyse
from longctx_eval.rope.frequencies import frequencies_at
from longctx_eval.rope.longrope_factors import yarn_derived_factors
from longctx_eval.rope.methods import Llama3Params, LongRopeParams, PRopeParams, YarnParams, ntk_base


def llama2() -> LlamaConfig:
    """Llama-2 7B's rotary shape: d=128, b=1e4, L=4096."""
    return LlamaConfig(hidden_size=4096, num_attention_heads=32, max_position_embeddings=4096)


def llama31_base() -> LlamaConfig:
    """Llama 3.1's rotary shape before scaling: d=128, θ=500000, L=8192."""
    return LlamaConfig(
        hidden_size=4096,
        num_attention_heads=32,
        max_position_embeddings=8192,
        rope_parameters={"rope_type": "default", "rope_theta": 500000.0},
    )


def ours(config: LlamaConfig, spec: ScalingSpec, seq_len: int = 1) -> tuple[torch.Tensor, float]:
    base = read_rope_base(config)
    setting = spec.resolve(base)
    return frequencies_at(
        scaled_config(config, setting.rope_parameters, setting.max_position_embeddings), seq_len
    )


def plain(config: LlamaConfig) -> torch.Tensor:
    base = read_rope_base(config)
    return torch.tensor(base.base_inv_freq(), dtype=torch.float64)


def transformers_direct(rope_parameters: dict, max_pos: int, seq_len: int | None = None, theta: float = 1e4):
    """transformers' own function on a config built (and validated) by its constructor."""
    cfg = LlamaConfig(
        hidden_size=4096,
        num_attention_heads=32,
        max_position_embeddings=max_pos,
        rope_parameters=dict(rope_parameters),
    )
    fn = ROPE_INIT_FUNCTIONS[rope_parameters["rope_type"]]
    inv, att = fn(cfg, "cpu", seq_len=seq_len)
    return inv.double(), att


def test_pi_divides_every_frequency_by_s():
    inv, att = ours(llama2(), ScalingSpec("pi", 4.0))
    torch.testing.assert_close(inv, plain(llama2()) / 4, rtol=1e-6, atol=0)
    assert att == 1.0
    ref, _ = transformers_direct({"rope_type": "linear", "factor": 4.0, "rope_theta": 1e4}, 4096)
    torch.testing.assert_close(inv, ref, rtol=1e-7, atol=0)


def test_ntk_base_matches_yarn_papers_20k_baseline():
    # Llama-2, s=2: NTK base ≈ 20.2k (the YaRN paper's "NTK θ=20k").
    assert ntk_base(1e4, 128, 2.0) == pytest.approx(20221.26, rel=1e-6)
    inv, _ = ours(llama2(), ScalingSpec("ntk", 2.0))
    base = plain(llama2())
    assert inv[0].item() == pytest.approx(base[0].item(), rel=1e-7)  # highest frequency untouched
    # lowest frequency interpolated by exactly 1/s
    assert (inv[-1] / base[-1]).item() == pytest.approx(0.5, rel=1e-5)


def test_yarn_ramp_and_temperature_match_the_paper():
    inv, att = ours(llama2(), ScalingSpec("yarn", 2.0, YarnParams()))
    ratio = (inv / plain(llama2())).tolist()
    untouched = [i for i, r in enumerate(ratio) if abs(r - 1) < 1e-6]
    interpolated = [i for i, r in enumerate(ratio) if abs(r - 0.5) < 1e-6]
    # The ramp runs from pair 20 to pair 46 of 64.
    assert max(untouched) == 20 and min(interpolated) == 46
    assert att == pytest.approx(0.1 * math.log(2) + 1)
    for s, expected in ((16, 1.277), (32, 1.347)):
        _, att = ours(llama2(), ScalingSpec("yarn", float(s), YarnParams()))
        assert att == pytest.approx(expected, abs=5e-4)
    ref, ref_att = transformers_direct(
        {"rope_type": "yarn", "factor": 2.0, "original_max_position_embeddings": 4096, "rope_theta": 1e4},
        8192,
    )
    torch.testing.assert_close(inv, ref, rtol=1e-7, atol=0)
    assert ref_att == pytest.approx(0.1 * math.log(2) + 1)


def test_yarn_ramp_is_computed_at_the_original_length_not_the_scaled_one():
    # Pitfall: with original_max_position_embeddings missing, transformers takes it from
    # max_position_embeddings (already raised to L·s) and the ramp moves.
    base = read_rope_base(llama2())
    setting = ScalingSpec("yarn", 8.0, YarnParams()).resolve(base)
    assert setting.rope_parameters["original_max_position_embeddings"] == 4096
    assert setting.max_position_embeddings == 4096 * 8


def test_llama3_keeps_29_divides_29_smooths_6():
    inv, att = ours(llama31_base(), ScalingSpec("llama3", 8.0, Llama3Params()))
    ratio = inv / plain(llama31_base())
    kept = int(((ratio - 1).abs() < 1e-6).sum())
    divided = int(((ratio - 1 / 8).abs() < 1e-6).sum())
    assert (kept, divided, 64 - kept - divided) == (29, 29, 6)
    assert att == 1.0


def test_dynamic_ntk_at_alpha_L_is_ntk_with_scale_alpha_squared_minus_alpha_plus_one():
    alpha, L = 4.0, 4096
    inv, _ = ours(llama2(), ScalingSpec("dynamic_ntk", alpha), seq_len=int(alpha * L))
    expected, _ = ours(llama2(), ScalingSpec("ntk", alpha * alpha - alpha + 1))  # 13
    torch.testing.assert_close(inv, expected, rtol=1e-5, atol=0)
    # Below the original length it is plain RoPE.
    short, _ = ours(llama2(), ScalingSpec("dynamic_ntk", alpha), seq_len=1000)
    torch.testing.assert_close(short, plain(llama2()), rtol=1e-6, atol=0)


def test_longrope_uses_long_factors_beyond_L_and_its_attention_factor():
    config = llama2()
    base = read_rope_base(config)
    factors = yarn_derived_factors(config, base, 8.0)
    spec = ScalingSpec("longrope", 8.0, factors.params("test"))
    long_inv, att = ours(config, spec, seq_len=5000)
    short_inv, _ = ours(config, spec, seq_len=1000)
    assert att == pytest.approx(math.sqrt(1 + math.log(8) / math.log(4096)))
    torch.testing.assert_close(short_inv, plain(config), rtol=1e-6, atol=0)
    expected_long = plain(config) / torch.tensor(factors.long_factor, dtype=torch.float64)
    torch.testing.assert_close(long_inv, expected_long, rtol=1e-5, atol=0)
    # The yarn-derived long factors reproduce YaRN's frequencies (without its temperature).
    yarn_inv, _ = ours(config, ScalingSpec("yarn", 8.0, YarnParams()))
    torch.testing.assert_close(long_inv, yarn_inv, rtol=1e-5, atol=0)


def test_p_rope_stops_the_low_frequency_pairs():
    inv, _ = ours(llama2(), ScalingSpec("p_rope", params=PRopeParams(p=0.25)))
    assert int((inv == 0).sum()) == 48  # 64 pairs, the highest-frequency 16 keep rotating
    torch.testing.assert_close(inv[:16], plain(llama2())[:16], rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "spec",
    [
        ScalingSpec("pi", 4.0),
        ScalingSpec("ntk", 4.0),
        ScalingSpec("dynamic_ntk", 4.0),
        ScalingSpec("yarn", 4.0, YarnParams()),
        ScalingSpec("llama3", 4.0, Llama3Params()),
        ScalingSpec("p_rope", params=PRopeParams(p=0.5)),
    ],
    ids=lambda s: s.label(),
)
def test_rope_theta_is_kept_for_high_base_models(spec: ScalingSpec):
    # Replacing rope_parameters without rope_theta would silently fall back to 1e4.
    setting = spec.resolve(read_rope_base(llama31_base()))
    if spec.method == "ntk":
        assert setting.rope_parameters["rope_theta"] == pytest.approx(ntk_base(500000.0, 128, 4.0))
    else:
        assert setting.rope_parameters["rope_theta"] == 500000.0
    # Pair 1 is a high-frequency pair every method but PI and NTK leaves alone: 5e5^(-1/64).
    inv, _ = ours(llama31_base(), spec)
    theta = setting.rope_parameters["rope_theta"]
    expected = theta ** (-1 / 64) / (4.0 if spec.method == "pi" else 1.0)
    assert inv[1].item() == pytest.approx(expected, rel=1e-6)
    assert abs(inv[1].item() - 1e4 ** (-1 / 64)) > 0.04


@pytest.mark.parametrize(
    "spec",
    [
        ScalingSpec("pi", 2.0),
        ScalingSpec("dynamic_ntk", 2.0),
        ScalingSpec("yarn", 2.0, YarnParams()),
        ScalingSpec("llama3", 2.0, Llama3Params()),
        ScalingSpec("p_rope", params=PRopeParams(p=0.5)),
    ],
    ids=lambda s: s.label(),
)
def test_transformers_validation_is_silent_on_our_settings(
    spec: ScalingSpec, caplog: pytest.LogCaptureFixture
):
    base = read_rope_base(llama2())
    setting = spec.resolve(base)
    cfg = scaled_config(llama2(), setting.rope_parameters, setting.max_position_embeddings)
    logger = logging.getLogger("transformers.modeling_rope_utils")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.WARNING, logger="transformers.modeling_rope_utils"):
            cfg.validate_rope()
    finally:
        logger.removeHandler(caplog.handler)
    assert not caplog.records, [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (ScalingSpec("pi", 0.5), "factor must be a number >= 1"),
        (ScalingSpec("yarn", 2.0, YarnParams(beta_fast=1.0, beta_slow=2.0)), "beta_fast"),
        (
            ScalingSpec("llama3", 2.0, Llama3Params(low_freq_factor=4.0, high_freq_factor=1.0)),
            "high_freq_factor",
        ),
        (
            ScalingSpec("longrope", 2.0, LongRopeParams(short_factor=(1.0,), long_factor=(1.0,))),
            "rotary pairs",
        ),
        (ScalingSpec("longrope", 2.0, LongRopeParams()), "needs short_factor"),
    ],
)
def test_bad_values_transformers_only_warns_about_are_refused(spec: ScalingSpec, message: str):
    with pytest.raises(ValueError, match=message):
        spec.resolve(read_rope_base(llama2()))


def test_p_rope_refuses_partial_rotary_models():
    config = LlamaConfig(hidden_size=256, num_attention_heads=4, max_position_embeddings=512)
    config.rope_parameters = {"rope_type": "default", "rope_theta": 1e4, "partial_rotary_factor": 0.5}
    with pytest.raises(ValueError, match="fully rotary"):
        ScalingSpec("p_rope", params=PRopeParams(p=0.5)).resolve(read_rope_base(config))


def test_analysis_classifies_pairs():
    base = read_rope_base(llama2())
    kinds = {p.kind for p in analyse(llama2(), base, ScalingSpec("pi", 2.0), 8192).pairs}
    assert kinds == {"interpolated"}
    rows = analyse(llama2(), base, ScalingSpec("yarn", 2.0, YarnParams()), 8192).pairs
    assert [r.kind for r in rows[:21]] == ["extrapolated"] * 21
    assert [r.kind for r in rows[46:]] == ["interpolated"] * 18
    assert rows[30].kind == "blended"
    # rotations at the target: target / wavelength after scaling
    assert rows[63].rotations_at_target == pytest.approx(8192 / rows[63].wavelength_after)


def test_length_dependence_follows_the_rope_type_not_the_method_name():
    base = read_rope_base(llama2())
    assert ScalingSpec("dynamic_ntk", 2.0).resolve(base).length_dependent
    assert not ScalingSpec("yarn", 2.0, YarnParams()).resolve(base).length_dependent
    # `none` on a model that ships LongRoPE (Phi-3 style) picks frequencies by length too.
    phi3 = LlamaConfig(hidden_size=4096, num_attention_heads=32, max_position_embeddings=16384)
    phi3.rope_parameters = {
        "rope_type": "longrope",
        "rope_theta": 1e4,
        "short_factor": [1.0] * 64,
        "long_factor": [4.0] * 64,
        "original_max_position_embeddings": 4096,
        "factor": 4.0,
    }
    assert ScalingSpec("none").resolve(read_rope_base(phi3)).length_dependent


@pytest.mark.parametrize("p", [0.75, 0.0])
def test_a_p_rope_or_nope_model_is_read_whole_and_refuses_scaling(p: float):
    from transformers import LlamaConfig

    from longctx_eval.rope import ScalingSpec, read_rope_base

    config = LlamaConfig(
        hidden_size=256,
        num_attention_heads=4,
        max_position_embeddings=256,
        rope_parameters={"rope_type": "proportional", "rope_theta": 1000.0, "partial_rotary_factor": p},
    )
    base = read_rope_base(config)
    assert base.rotary_dim == 64 and base.n_pairs == 32  # not 0.75 × 64 (nor 1.0 × 64 by `or` for p = 0)
    assert ScalingSpec("none").resolve(base).rope_parameters["partial_rotary_factor"] == p
    for method in ("pi", "ntk", "yarn", "llama3", "dynamic_ntk"):
        with pytest.raises(ValueError, match="cannot scale a model trained with p-RoPE"):
            ScalingSpec(method, 2.0).resolve(base)
