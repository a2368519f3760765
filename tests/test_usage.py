"""Frequency-usage analysis (longctx_eval.usage, tasks/analysis.py) against independent computations.

Every expected value is computed here another way: norms from the weights and the hidden states
transformers returns, attention from transformers' eager attention weights, decay from the closed
forms and from transformers' own rotation, positional heads from heads planted by hand.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import LlamaForCausalLM

from longctx_eval.data import load_documents
from longctx_eval.rope.base import read_rope_base
from longctx_eval.rope.frequencies import frequencies_at
from longctx_eval.rope.methods import ScalingSpec
from longctx_eval.tiny import tiny_llama_config
from longctx_eval.usage import UsageResult, analyze
from longctx_eval.usage.decay import gaussian_decay, model_decay, ones_decay
from longctx_eval.usage.ood import ood_share

from .conftest import sweep_dict


def tiny_model(tokenizer: Any, seed: int = 0, **kw: Any) -> Any:
    config = tiny_llama_config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **kw,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config).eval()


def first_tokens(tokenizer: Any, docs_file: Path, indices: list[int], n: int) -> list[list[int]]:
    """The first n tokens of each document, BOS as the tokenizer adds it (not through usage.documents)."""
    texts = load_documents(str(docs_file))
    return [tokenizer(texts[i])["input_ids"][:n] for i in indices]


# --- norms --------------------------------------------------------------------------------------


def independent_norms(model: Any, sequences: list[list[int]]) -> dict[str, np.ndarray]:
    """Mean pair norms from the layer inputs (hidden states + input RMSNorm) and the raw weights."""
    cfg = model.config
    d = cfg.head_dim
    out: dict[str, list[np.ndarray]] = {"q": [], "k": [], "v": []}
    for ids in sequences:
        with torch.no_grad():
            hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states
        per: dict[str, list[np.ndarray]] = {"q": [], "k": [], "v": []}
        for layer_index, layer in enumerate(model.model.layers):
            with torch.no_grad():
                x = layer.input_layernorm(hidden[layer_index])[0]
            for name in ("q", "k", "v"):
                w = getattr(layer.self_attn, f"{name}_proj").weight.detach()
                y = (x @ w.T).reshape(len(ids), -1, d).double()  # [T, heads, d]
                first, second = y[..., : d // 2], y[..., d // 2 :]
                per[name].append(torch.sqrt(first**2 + second**2).mean(dim=0).numpy())
        for name in per:
            out[name].append(np.stack(per[name]))
    return {name: np.mean(v, axis=0) for name, v in out.items()}


@pytest.mark.parametrize("heads,kv_heads", [(2, 2), (4, 2)], ids=["mha", "gqa"])
def test_norms_equal_an_independent_computation(tokenizer: Any, docs_file: Path, heads: int, kv_heads: int):
    model = tiny_model(tokenizer, heads=heads, kv_heads=kv_heads, max_position_embeddings=64)
    result = analyze(model, str(docs_file), 64, tokenizer=tokenizer, documents=2, shuffle=False)
    expected = independent_norms(model, first_tokens(tokenizer, docs_file, result.documents, 64))
    head_dim = 64 // heads
    assert result.rotary_dim == head_dim and result.pass_dims == 0
    for name in ("q", "k", "v"):
        got = np.asarray(getattr(result, f"{name}_norm"))
        want = expected[name]
        assert got.shape == (2, heads if name == "q" else kv_heads, head_dim // 2)
        np.testing.assert_allclose(got, want, rtol=1e-3)
    # The JSON carries what the report and the CLI need.
    data = json.loads(json.dumps(result.to_json()))
    assert {"q_norm", "k_norm", "v_norm", "inv_freq", "length"} <= set(data)
    assert data["length"] == 64 and len(data["inv_freq"]) == head_dim // 2
    assert result.check_error < 1e-4


def test_partial_rotary_pairs_only_the_rotary_dimensions(tokenizer: Any, docs_file: Path):
    from transformers import PhiConfig, PhiForCausalLM

    config = PhiConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=64,
        partial_rotary_factor=0.5,
    )
    torch.manual_seed(0)
    model = PhiForCausalLM(config).eval()
    result = analyze(model, str(docs_file), 64, tokenizer=tokenizer, documents=1, shuffle=False)
    assert (result.head_dim, result.rotary_dim, result.pass_dims) == (32, 16, 16)
    (ids,) = first_tokens(tokenizer, docs_file, result.documents, 64)
    with torch.no_grad():
        hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[0]
        layer = model.model.layers[0]
        q = layer.self_attn.q_proj(layer.input_layernorm(hidden))[0].reshape(64, 2, 32).double()
    # Pairs (i, i + 8) inside the first 16 dimensions; dimensions 16-31 never rotate.
    pairs = torch.sqrt(q[..., :8] ** 2 + q[..., 8:16] ** 2).mean(0)
    np.testing.assert_allclose(result.q_norm[0], pairs.numpy(), rtol=1e-3)
    np.testing.assert_allclose(result.q_pass_norm[0], q[..., 16:].norm(dim=-1).mean(0).numpy(), rtol=1e-3)
    assert len(result.inv_freq) == 8 and len(result.decay[0].ones) == 64


def test_attention_statistics_equal_eager_attention_weights(tokenizer: Any, docs_file: Path):
    model = tiny_model(tokenizer, heads=4, kv_heads=2, max_position_embeddings=64)
    result = analyze(model, str(docs_file), 64, tokenizer=tokenizer, documents=2, offsets=4, shuffle=False)
    model.config._attn_implementation = "eager"
    profiles, entropies, distances = [], [], []
    for ids in first_tokens(tokenizer, docs_file, result.documents, 64):
        with torch.no_grad():
            weights = model(torch.tensor([ids]), output_attentions=True).attentions
        a = torch.stack([w[0] for w in weights]).double()  # [layers, heads, T, T]
        t = torch.arange(64)
        profiles.append(torch.stack([a[..., t[3:], t[3:] - o].mean(-1) for o in range(4)], dim=-1))
        entropies.append(-(a * torch.log(a.clamp(min=1e-300))).sum(-1).mean(-1))
        distances.append((a * (t[:, None] - t[None, :]).clamp(min=0)).sum(-1).mean(-1))
    np.testing.assert_allclose(result.offset_profile, torch.stack(profiles).mean(0).numpy(), atol=1e-5)
    np.testing.assert_allclose(
        result.attention[0].entropy_per_head, torch.stack(entropies).mean(0), atol=1e-4
    )
    np.testing.assert_allclose(
        result.attention[0].mean_distance_per_head, torch.stack(distances).mean(0), atol=1e-3
    )


def test_an_attention_it_cannot_recompute_is_refused(tokenizer: Any, docs_file: Path):
    from transformers import MistralConfig, MistralForCausalLM

    from longctx_eval.usage import UsageError

    def mistral(window: int | None) -> Any:
        config = MistralConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
            max_position_embeddings=64,
            sliding_window=window,
        )
        torch.manual_seed(0)
        return MistralForCausalLM(config).eval()

    kw: dict[str, Any] = {"tokenizer": tokenizer, "documents": 1, "shuffle": False}
    assert analyze(mistral(None), str(docs_file), 64, **kw).check_error < 1e-4
    # A 16-token sliding window: the model's attention is not the full causal one recomputed here.
    with pytest.raises(UsageError, match="sliding windows"):
        analyze(mistral(16), str(docs_file), 64, **kw)


# --- decay --------------------------------------------------------------------------------------


def test_constant_vector_decay_is_the_closed_form(tokenizer: Any, docs_file: Path):
    model = tiny_model(tokenizer, heads=2, kv_heads=2, max_position_embeddings=64)
    result = analyze(
        model, str(docs_file), 128, tokenizer=tokenizer, documents=1, shuffle=False, methods=[("yarn", 4.0)]
    )
    d, base = 32, 10000.0
    theta = np.array([base ** (-2 * i / d) for i in range(d // 2)])  # textbook θ_i, not transformers'
    none, yarn = result.decay
    r = np.asarray(none.distances)
    assert r.tolist() == list(range(128))
    closed = (2 * np.cos(np.outer(r, theta))).sum(axis=1)
    # transformers computes θ in float32: agreement to float32 precision.
    np.testing.assert_allclose(none.ones, closed, rtol=1e-6, atol=1e-5)
    # YaRN's frequencies differ per pair; its temperature multiplies cos and sin by 0.1·ln s + 1.
    yarn_theta = np.asarray(yarn.inv_freq)
    assert not np.allclose(yarn_theta, theta)
    closed_yarn = (2 * np.cos(np.outer(r, yarn_theta))).sum(axis=1) * (0.1 * math.log(4) + 1) ** 2
    np.testing.assert_allclose(yarn.ones, closed_yarn, rtol=1e-6)
    # The closed form decays on average: its far end sits well below its start.
    assert abs(np.mean(none.ones[64:])) < 0.5 * none.ones[0]


def test_gaussian_decay_is_zero_within_its_sampling_interval():
    theta = [10000.0 ** (-2 * i / 64) for i in range(32)]
    r = list(range(256))
    mean, se = gaussian_decay(theta, 1.0, r, samples=4096, seed=3)
    mean_a, se_a = np.asarray(mean), np.asarray(se)
    assert np.all(np.abs(mean_a) <= 4 * se_a)
    # Var(q·R·k) = d for independent standard normals: the standard error is sqrt(d / n).
    np.testing.assert_allclose(se_a, math.sqrt(64 / 4096), rtol=0.1)
    # The same interval rejects the all-ones curve: the test can fail.
    ones = np.asarray(ones_decay(theta, 1.0, r))
    assert np.mean(np.abs(ones) > 4 * se_a) > 0.9


def test_model_decay_matches_transformers_rotation():
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

    config = tiny_llama_config(vocab_size=10, heads=2, kv_heads=1)
    rotary = LlamaRotaryEmbedding(config)
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(2, 32, generator=gen, dtype=torch.float64)  # two query heads
    k = torch.randn(1, 32, generator=gen, dtype=torch.float64)  # one KV head
    r = [0, 1, 5, 17, 60]
    positions = torch.arange(61)[None]
    cos, sin = rotary(torch.zeros(1, dtype=torch.float64), positions)
    expected = []
    for dist in r:
        # q at position dist, k at position 0, through transformers' own apply_rotary_pos_emb.
        qr, _ = apply_rotary_pos_emb(
            q[None, :, None, :], q[None, :, None, :], cos[:, dist : dist + 1], sin[:, dist : dist + 1]
        )
        _, kr = apply_rotary_pos_emb(k[None, :, None, :], k[None, :, None, :], cos[:, :1], sin[:, :1])
        expected.append(float((qr[0, :, 0] * kr[0, :, 0]).sum(-1).mean()))
    got = model_decay(q.numpy(), k.numpy(), rotary.inv_freq.tolist(), 1.0, r)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# --- positional heads ---------------------------------------------------------------------------

CLASSES = 4


def planted_model(tokenizer: Any) -> Any:
    """Layer 0, head 0 attends to the previous token through the rotary alone; head 1 attends to
    tokens whose class (id mod 4) follows its own, wherever they are.

    Embeddings carry a large constant in dimension 0 (so after RMSNorm it is nearly the same for
    every token) and the token's class one-hot in dimensions 1-4.
    """
    model = tiny_model(tokenizer, layers=1, heads=2, kv_heads=2, max_position_embeddings=256)
    d, half = 32, 16
    theta = [10000.0 ** (-2 * i / d) for i in range(half)]
    with torch.no_grad():
        emb = model.model.embed_tokens.weight
        emb[:, 0] = 10.0
        for c in range(CLASSES):
            emb[c::CLASSES, 1 + c] += 3.0
        attn = model.model.layers[0].self_attn
        wq, wk = attn.q_proj.weight, attn.k_proj.weight
        wq.zero_()
        wk.zero_()
        # Head 0: q pair j = (A, 0), k pair j = A(cos θ_j, sin θ_j) for the 8 fastest pairs, so the
        # logit at distance r is ∝ Σ_j cos((r − 1)·θ_j): largest at r = 1.
        amp = 1.5
        for j in range(8):
            wq[j, 0] = amp
            wk[j, 0] = amp * math.cos(theta[j])
            wk[half + j, 0] = amp * math.sin(theta[j])
        # Head 1: class c of the query looks for class c + 1 in the slowest pairs (hardly rotating).
        for c in range(CLASSES):
            wq[d + 12 + c, 1 + c] = 3.0
            wk[d + 12 + c, 1 + (c + 1) % CLASSES] = 3.0
    return model


def test_planted_previous_token_head_is_found_and_content_head_is_not(tokenizer: Any, docs_file: Path):
    model = planted_model(tokenizer)
    result = analyze(model, str(docs_file), 256, tokenizer=tokenizer, documents=2, seed=1)
    heads = {(h.layer, h.head): h for h in result.positional_heads}
    prev = heads[(0, 0)]
    assert prev.offset == 1 and prev.share >= 0.9
    assert prev.shuffled_share is not None and prev.shuffled_share >= 0.9
    assert prev.positional
    assert set(prev.top_pairs) <= set(range(8))  # the bands it was built on
    content = heads[(0, 1)]
    assert not content.positional
    assert content.share < 0.5
    # The content head really is attending somewhere specific: far less spread than uniform.
    entropy = result.attention[0].entropy_per_head[0]
    uniform = np.mean([math.log(t + 1) for t in range(256)])
    assert entropy[1] < uniform - 0.5
    assert result.positional_heads[0].layer == 0 and result.positional_heads[0].head == 0
    assert result.attention[0].offset_share[0][0] == pytest.approx(prev.share)


# --- out-of-distribution share -----------------------------------------------------------------


def test_ood_share_is_zero_at_L_and_grows_beyond_for_none(tokenizer: Any, docs_file: Path):
    model = tiny_model(tokenizer, heads=2, kv_heads=2, max_position_embeddings=64)
    result = analyze(
        model,
        str(docs_file),
        64,
        tokenizer=tokenizer,
        documents=1,
        shuffle=False,
        methods=[("pi", 4.0), ("yarn", 4.0), ("ntk", 4.0)],
        target_lengths=[64, 128, 256],
    )
    share = {(o.label, o.target_length): o for o in result.ood}
    assert share[("none", 64)].share == 0.0 and share[("none", 64)].distance_share == 0.0
    assert share[("none", 128)].share > 0.0
    assert share[("none", 256)].distance_share > share[("none", 128)].distance_share > 0.0
    # Independently: the norm bound of the pairs that have not turned once in L = 64 tokens.
    theta = np.array([10000.0 ** (-2 * i / 32) for i in range(16)])
    bound = (np.asarray(result.q_norm) * np.asarray(result.k_norm)).sum(axis=(0, 1))
    short = 64 * theta < 2 * math.pi
    assert short.any() and not short.all()
    assert share[("none", 128)].share == pytest.approx(bound[short].sum() / bound.sum(), rel=1e-9)
    # PI and YaRN at s·L stay within the trained angles; static NTK does not (its middle pairs).
    assert share[("pi@4", 256)].share == 0.0 and share[("yarn@4", 256)].share == 0.0
    assert share[("ntk@4", 256)].share > 0.0
    assert set(share[("ntk@4", 256)].share_by_kind) == {"blended"}


def test_ood_share_with_uniform_weights_counts_the_short_pairs():
    config = tiny_llama_config(vocab_size=10, heads=2, kv_heads=2, max_position_embeddings=64)
    base = read_rope_base(config)
    setting = ScalingSpec("none").resolve(base)
    weights = np.ones(16)
    theta, _ = frequencies_at(config, 64)
    n_short = int((64 * theta < 2 * math.pi).sum())
    assert ood_share(config, base, setting, 64, weights).share == 0.0
    assert ood_share(config, base, setting, 65, weights).share == pytest.approx(n_short / 16)


# --- the task, through the harness -------------------------------------------------------------


def test_analysis_task_runs_end_to_end(tmp_path: Path, tiny_model_dir: Path, docs_file: Path):
    importlib.import_module("longctx_eval_tasks.analysis")  # registers the task (entry point pending)
    from longctx_eval import load_results
    from longctx_eval.config import parse_sweep
    from longctx_eval.plan import make_plan
    from longctx_eval.progress import PlainProgress
    from longctx_eval.runner import run_plan
    from longctx_eval.usage.plots import decay_from_samples, entropy_points, grids_from_samples, ood_rows

    data = sweep_dict(
        tiny_model_dir,
        methods=["none", {"method": "yarn", "factors": [2]}],
        lengths=[64, 128],
        tasks=[{"task": "analysis", "dataset": str(docs_file), "documents": 2, "decay_points": 32}],
    )
    out = tmp_path / "out"
    run_plan(make_plan(parse_sweep(data)), out, PlainProgress())
    # Read as files (one JSON line per record, one samples file per cell), whatever the store's API.
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert len(records) == 4
    results = load_results(out)
    typed = {r.cell_id: results.samples(r) for r in results.records}
    for r in records:
        assert r["status"] == "ok", r.get("error")
        m = r["metrics"]
        assert m["n_documents"] == 2 and len(m["entropy"]) == 2 and len(m["qk_band_share"]) == 2
        assert 0.0 <= m["ood_share"] <= 1.0 and m["check_error"] < 1e-3
        assert len(m["positional_heads"]) == 4  # 2 layers × 2 heads, under top_heads = 5
        assert len(json.dumps(m)) < 5000
        lines = (out / "samples" / f"{r['cell_id']}.jsonl").read_text().splitlines()
        samples = [json.loads(line) for line in lines]
        assert [s["kind"] for s in samples] == ["layer", "layer", "rope"]
        assert np.asarray(samples[0]["q_norm"]).shape == (2, 16)
        assert np.asarray(samples[0]["k_norm"]).shape == (1, 16)  # GQA: one KV head
        read = typed[r["cell_id"]]  # as the results reader gives them: the task's own classes
        assert grids_from_samples(read).q_norm[1] == samples[1]["q_norm"]
        curves = decay_from_samples(read, "x")
        assert curves is not None and len(curves.model) == 2
    by_cell = {(r["method_label"], r["length"]): r["metrics"] for r in records}
    # The tiny model's L is 64: none at 128 turns its slow pairs past training, YaRN@2 does not.
    assert by_cell[("none", 64)]["ood_share"] == 0.0 and by_cell[("none", 128)]["ood_share"] > 0.0
    assert by_cell[("yarn@2", 128)]["ood_share"] == 0.0
    cells = results.records
    assert set(entropy_points(cells)) == {"none", "yarn@2"}
    assert len(ood_rows(cells, {"none": 0.1}, 128)) == 2


def test_analysis_task_skips_a_backend_without_internals(docs_file: Path):
    from longctx_eval_tasks.analysis import Analysis, AnalysisParams

    from longctx_eval.task import CellContext, TaskEnv

    class Opaque:  # a LanguageModel without torch_model
        def generate(self, prompts: Any, max_new_tokens: int) -> list[Any]:
            return []

        def token_nll(self, sequences: Any, score_from: Any = None) -> list[Any]:
            return []

    task = Analysis(AnalysisParams(dataset=str(docs_file)), TaskEnv(resolve_path=Path))
    ctx = CellContext(length=64, seed=0, lm=Opaque(), prompts=None, length_dependent=False)  # type: ignore[arg-type]
    outcome = task.run(ctx)
    assert outcome.status == "skipped" and "internals" in (outcome.reason or "")


# --- plots --------------------------------------------------------------------------------------


def test_plots_return_png(tokenizer: Any, docs_file: Path):
    from longctx_eval.usage import plots

    model = planted_model(tokenizer)
    result: UsageResult = analyze(
        model, str(docs_file), 64, tokenizer=tokenizer, documents=1, methods=[("pi", 2.0)]
    )
    pngs = [
        plots.norm_heatmaps(result.q_norm, result.k_norm, result.v_norm),
        plots.head_pair_heatmap(result.q_norm, result.k_norm, result.positional_heads),
        plots.decay_plot(result.decay),
        plots.entropy_plot({"none": [(64, 2.0), (128, 2.5)], "pi@2": [(64, 2.2)]}, original_context=64),
        plots.ood_plot([("none", 0.4, 0.0), ("pi@2", 0.0, None)], "passkey accuracy", 128),
    ]
    for png in pngs:
        assert png.startswith(b"\x89PNG")
