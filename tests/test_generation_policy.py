"""Generating with length-dependent rotaries (dynamic NTK, LongRoPE) under each length policy, against
generation loops written here from plain forwards and plain `generate` on fixed-frequency models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM

from longctx_eval.backends import HFConfig
from longctx_eval.backends.hf import HFBackend
from longctx_eval.config import ModelEntry
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.rope.methods import LongRopeParams

NEW = 12  # generated tokens: from a prompt of 58 (≤ L = 64) generation crosses L, where LongRoPE switches


def backend(model_dir: Path, policy: str) -> HFBackend:
    b = HFBackend(HFConfig(batch_size=4, length_policy=policy, prefix_reuse=False))
    b.load(ModelEntry(name="tiny", path=str(model_dir)), str(model_dir))
    return b


def prompts(seed: int, length: int, n: int = 3) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 300, (n, length), generator=g).tolist()  # within the tiny vocabulary


def model_with(model_dir: Path, rope_parameters: dict[str, Any], max_pos: int) -> Any:
    config = AutoConfig.from_pretrained(model_dir)
    config.rope_parameters = rope_parameters
    config.max_position_embeddings = max_pos
    return AutoModelForCausalLM.from_pretrained(model_dir, config=config).eval()


def plain_generate(model: Any, ids: list[int], eos: int | None) -> list[int]:
    x = torch.tensor([ids])
    with torch.no_grad():
        out = model.generate(
            input_ids=x,
            attention_mask=torch.ones_like(x),
            max_new_tokens=NEW,
            do_sample=False,
            pad_token_id=0,
        )
    return until_eos(out[0, len(ids) :].tolist(), eos)


def reencoding_loop(model: Any, ids: list[int], eos: int | None) -> list[int]:
    """Greedy decoding that runs the whole sequence through the model at every step (no cache)."""
    seq = list(ids)
    for _ in range(NEW):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([seq]), use_cache=False).logits[0, -1]
        seq.append(int(logits.argmax()))
        if seq[-1] == eos:
            break
    return until_eos(seq[len(ids) :], eos)


def until_eos(tokens: list[int], eos: int | None) -> list[int]:
    return tokens[: tokens.index(eos)] if eos is not None and eos in tokens else tokens


def ours(model_dir: Path, policy: str, spec: ScalingSpec, batch: list[list[int]]) -> list[list[int]]:
    b = backend(model_dir, policy)
    lm = b.apply(spec.resolve(read_rope_base(b.config)))
    return [g.token_ids for g in lm.generate(batch, NEW)]


def longrope(
    model_dir: Path, short: list[float] | None = None, long: list[float] | None = None
) -> ScalingSpec:
    n = read_rope_base(AutoConfig.from_pretrained(model_dir)).n_pairs
    short = short or [1.0 + 0.02 * i for i in range(n)]
    long = long or [1.0 + 0.5 * i for i in range(n)]
    return ScalingSpec("longrope", 4.0, LongRopeParams(short_factor=tuple(short), long_factor=tuple(long)))


def dynamic_base(model_dir: Path, factor: float, length: int) -> float:
    """Dynamic NTK's base at a sequence length, by its formula: b·(α·ℓ/L − (α − 1))^(d/(d−2))."""
    base = read_rope_base(AutoConfig.from_pretrained(model_dir))
    d, L = base.rotary_dim, base.original_context
    return base.rope_theta * (factor * length / L - (factor - 1)) ** (d / (d - 2))


@pytest.mark.parametrize("length", [58, 100])
def test_prompt_policy_keeps_dynamic_ntk_at_the_prompts_length(
    tiny_model_dir: Path, tokenizer: Any, length: int
):
    batch = prompts(1, length)
    got = ours(tiny_model_dir, "prompt", ScalingSpec("dynamic_ntk", 2.0), batch)
    # Frozen at the prompt's length, dynamic NTK is plain RoPE with the base it picks there (at or
    # below L it picks nothing: the model's own rope).
    theta = dynamic_base(tiny_model_dir, 2.0, length) if length > 64 else 10000.0
    fixed = model_with(tiny_model_dir, {"rope_type": "default", "rope_theta": theta}, 64)
    assert got == [plain_generate(fixed, ids, tokenizer.eos_token_id) for ids in batch]


@pytest.mark.parametrize(("length", "regime"), [(58, "short"), (100, "long")])
def test_prompt_policy_keeps_longropes_factors_of_the_prompts_length(
    tiny_model_dir: Path, tokenizer: Any, length: int, regime: str
):
    batch = prompts(2, length)
    spec = longrope(tiny_model_dir)
    got = ours(tiny_model_dir, "prompt", spec, batch)
    # The factors of the prompt's regime on both sides: the same model, no switch to make.
    assert spec.params is not None and isinstance(spec.params, LongRopeParams)
    chosen = list(spec.params.short_factor if regime == "short" else spec.params.long_factor)  # type: ignore[arg-type]
    setting = longrope(tiny_model_dir, short=chosen, long=chosen).resolve(
        read_rope_base(AutoConfig.from_pretrained(tiny_model_dir))
    )
    fixed = model_with(tiny_model_dir, setting.rope_parameters, setting.max_position_embeddings)
    assert got == [plain_generate(fixed, ids, tokenizer.eos_token_id) for ids in batch]


@pytest.mark.parametrize("method", ["dynamic_ntk", "longrope"])
def test_exact_policy_equals_a_loop_that_reencodes_every_step(
    tiny_model_dir: Path, tokenizer: Any, method: str
):
    batch = prompts(3, 58)
    spec = ScalingSpec("dynamic_ntk", 2.0) if method == "dynamic_ntk" else longrope(tiny_model_dir)
    got = ours(tiny_model_dir, "exact", spec, batch)
    setting = spec.resolve(read_rope_base(AutoConfig.from_pretrained(tiny_model_dir)))
    expected = []
    for ids in batch:  # a fresh model per prompt: dynamic NTK's rotary keeps state between calls
        model = model_with(tiny_model_dir, setting.rope_parameters, setting.max_position_embeddings)
        expected.append(reencoding_loop(model, ids, tokenizer.eos_token_id))
    assert got == expected


@pytest.mark.parametrize("method", ["dynamic_ntk", "longrope"])
def test_transformers_policy_equals_plain_generate(tiny_model_dir: Path, tokenizer: Any, method: str):
    batch = prompts(4, 58)
    spec = ScalingSpec("dynamic_ntk", 2.0) if method == "dynamic_ntk" else longrope(tiny_model_dir)
    got = ours(tiny_model_dir, "transformers", spec, batch)
    setting = spec.resolve(read_rope_base(AutoConfig.from_pretrained(tiny_model_dir)))
    expected = []
    for ids in batch:
        model = model_with(tiny_model_dir, setting.rope_parameters, setting.max_position_embeddings)
        expected.append(plain_generate(model, ids, tokenizer.eos_token_id))
    assert got == expected


REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"
FACTORS = Path(__file__).resolve().parents[1] / "configs" / "longrope" / "reference.json"


@pytest.mark.skipif(not (REFERENCE / "model.safetensors").exists(), reason="no shipped reference model")
def test_on_the_reference_model_the_policies_differ_and_prompt_is_the_fixed_factor_model():
    # A tiny random model barely looks at positions, so the loops above agree on it whatever the
    # policy; the trained reference model does not. Passkey prompts of exactly L = 256 tokens under
    # the shipped LongRoPE factors: generating crosses L, where transformers switches to the long
    # factors while the cache holds keys rotated with the short ones.
    from longctx_eval_tasks.passkey import PasskeyParams, passkey_parts
    from transformers import AutoTokenizer

    from longctx_eval.haystack import Haystack, build_prompt
    from longctx_eval.prompts import PromptFormat
    from longctx_eval.rope.longrope_factors import load_factors

    tok = AutoTokenizer.from_pretrained(REFERENCE)
    fmt, params = PromptFormat(tok), PasskeyParams()
    batch = [
        build_prompt(fmt, Haystack.noise(), passkey_parts(params, key), 256, depth).ids
        for key, depth in [("52791", 0.1), ("11525", 0.5), ("90413", 0.8), ("27384", 0.3)]
    ]
    factors = load_factors(FACTORS)
    spec = ScalingSpec("longrope", factors.factor, factors.params("test"))
    runs = {p: ours(REFERENCE, p, spec, batch) for p in ("prompt", "transformers", "exact")}
    assert runs["prompt"] != runs["transformers"]
    short = tuple(factors.short_factor)
    same = ScalingSpec("longrope", factors.factor, LongRopeParams(short_factor=short, long_factor=short))
    setting = same.resolve(read_rope_base(AutoConfig.from_pretrained(REFERENCE)))
    fixed = model_with(REFERENCE, setting.rope_parameters, setting.max_position_embeddings)
    assert runs["prompt"] == [plain_generate(fixed, ids, tok.eos_token_id) for ids in batch]


def test_the_policy_is_part_of_length_dependent_cells_only(tiny_model_dir: Path):
    from longctx_eval.config import parse_sweep
    from longctx_eval.plan import make_plan

    from .conftest import sweep_dict

    def ids(policy: str) -> dict[str, str]:
        data = sweep_dict(
            tiny_model_dir,
            methods=["none", {"method": "dynamic_ntk", "factors": [2]}],
            backend={"kind": "hf", "length_policy": policy},
        )
        return {f"{c.spec.label()} {c.length}": c.cell_id for c in make_plan(parse_sweep(data)).cells}

    a, b = ids("prompt"), ids("transformers")
    assert all(a[k] == b[k] for k in a if k.startswith("none"))
    assert all(a[k] != b[k] for k in a if k.startswith("dynamic_ntk"))


@pytest.mark.parametrize("length", [40, 58, 100])
def test_served_policy_uses_longropes_long_factors_at_every_length(
    tiny_model_dir: Path, tokenizer: Any, length: int
):
    # vLLM's Phi3LongRoPEScaledRotaryEmbedding: max_model_len > L, so the long factors everywhere,
    # short prompts included (the prompt policy uses the short ones within L).
    batch = prompts(5, length)
    spec = longrope(tiny_model_dir)
    got = ours(tiny_model_dir, "served", spec, batch)
    assert spec.params is not None and isinstance(spec.params, LongRopeParams)
    long = list(spec.params.long_factor)  # type: ignore[arg-type]
    setting = longrope(tiny_model_dir, short=long, long=long).resolve(
        read_rope_base(AutoConfig.from_pretrained(tiny_model_dir))
    )
    fixed = model_with(tiny_model_dir, setting.rope_parameters, setting.max_position_embeddings)
    assert got == [plain_generate(fixed, ids, tokenizer.eos_token_id) for ids in batch]
    # Greedy tokens of a random model barely depend on positions: the token NLLs do, and show
    # which factors ran (the long ones, where the prompt policy uses the short ones within L).
    served = nlls(tiny_model_dir, "served", spec, batch)
    with torch.no_grad():
        logits = fixed(input_ids=torch.tensor(batch)).logits.float()
    expected = torch.nn.functional.cross_entropy(
        logits[:, :-1].transpose(1, 2), torch.tensor(batch)[:, 1:], reduction="none"
    )
    assert torch.allclose(torch.tensor(np.array(served)), expected.double(), atol=1e-4)
    prompt = nlls(tiny_model_dir, "prompt", spec, batch)
    assert (np.abs(np.array(served) - np.array(prompt)).max() > 1e-3) == (length <= 64)


def nlls(model_dir: Path, policy: str, spec: ScalingSpec, batch: list[list[int]]) -> list[Any]:
    b = backend(model_dir, policy)
    return b.apply(spec.resolve(read_rope_base(b.config))).token_nll(batch)


@pytest.mark.parametrize("length", [40, 100])
def test_served_policy_uses_dynamic_ntks_one_base_at_l_times_factor(
    tiny_model_dir: Path, tokenizer: Any, length: int
):
    # vLLM's DynamicNTKScalingRotaryEmbedding: one base for an engine of L·α positions, whatever
    # the request's length: b·(α·(L·α)/L − (α − 1))^(d/(d−2)), by the formula.
    batch = prompts(6, length)
    got = ours(tiny_model_dir, "served", ScalingSpec("dynamic_ntk", 2.0), batch)
    fixed = model_with(
        tiny_model_dir, {"rope_type": "default", "rope_theta": dynamic_base(tiny_model_dir, 2.0, 128)}, 64
    )
    assert got == [plain_generate(fixed, ids, tokenizer.eos_token_id) for ids in batch]


def test_a_method_entry_names_its_own_policy_and_it_reaches_label_identity_and_record(tiny_model_dir: Path):
    from longctx_eval.config import parse_sweep
    from longctx_eval.plan import make_plan

    from .conftest import sweep_dict

    data = sweep_dict(
        tiny_model_dir,
        methods=[
            {"method": "dynamic_ntk", "factors": [2]},
            {"method": "dynamic_ntk", "factors": [2], "generation": "served"},
        ],
        backend={"kind": "hf", "length_policy": "prompt"},
    )
    plan = make_plan(parse_sweep(data))
    labels = sorted({c.spec.label() for c in plan.cells})
    assert labels == ["dynamic_ntk(generation=served)@2", "dynamic_ntk@2"]
    policies = {c.spec.label(): plan.config.backend.generation_policy(c.setting) for c in plan.cells}
    assert policies == {"dynamic_ntk@2": "prompt", "dynamic_ntk(generation=served)@2": "served"}
    assert len({c.cell_id for c in plan.cells}) == len(plan.cells)


def test_vllm_runs_only_the_served_policy(tiny_model_dir: Path):
    from longctx_eval.backends import VLLMConfig
    from longctx_eval.rope.methods import RopeSetting

    cfg = VLLMConfig()
    longrope_setting = RopeSetting({"rope_type": "longrope"}, 512)
    assert cfg.generation_policy(longrope_setting) == "served"
    assert VLLMConfig(longrope_short_engine=True).generation_policy(longrope_setting) == "short_factor_engine"
    assert (
        VLLMConfig(longrope_short_engine=True).generation_policy(RopeSetting({"rope_type": "dynamic"}, 64))
        == "served"
    )
    assert cfg.generation_policies() == ("served",)
