"""The reference model's position-encoding variants (RoPE, p-RoPE, NoPE): the options, the saved
configs, the frequencies transformers really uses (against the textbook formula and a plain-RoPE
twin), reproducible training, the p_rope method on such models and the shipped checkpoints."""

from __future__ import annotations

import copy
import hashlib
import json
import math
from dataclasses import asdict
from pathlib import Path

import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding, apply_rotary_pos_emb

from longctx_eval.reference import ReferenceSettings, train_reference, variant_settings
from longctx_eval.reference.card import render_card, variant_scores
from longctx_eval.reference.init import FAST_PLANES, plant_induction_circuit
from longctx_eval.reference.variants import check_variant, rope_parameters
from longctx_eval.rope import ScalingSpec, read_rope_base
from longctx_eval.rope.analysis import analyse
from longctx_eval.rope.methods import PRopeParams

REPO = Path(__file__).resolve().parents[1]
SHIPPED = {"p_rope": REPO / "models" / "reference-prope", "none": REPO / "models" / "reference-nope"}
SMALL = dict(train_chars=150_000, tokenizer_chars=150_000, vocab_size=1024, batch_size=4, log_every=1)


def textbook(theta: float, head_dim: int, pairs: int) -> torch.Tensor:
    """θ_i = b^(−2i/d) in float64, written out here rather than taken from any library."""
    return torch.tensor([theta ** (-2 * i / head_dim) for i in range(pairs)], dtype=torch.float64)


def plain_rope(config: LlamaConfig) -> torch.Tensor:
    """The frequencies the same model would use with plain RoPE at the same base."""
    twin = copy.deepcopy(config)
    twin.rope_parameters = {"rope_type": "default", "rope_theta": config.rope_parameters["rope_theta"]}
    return LlamaRotaryEmbedding(twin).inv_freq


def check_frequencies(model: torch.nn.Module, p: float) -> None:
    """Stopped pairs exactly 0; rotating ones exactly plain RoPE's (and the formula's)."""
    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    kept = math.floor(p * head_dim / 2)
    inv = model.model.rotary_emb.inv_freq
    assert inv.shape == (head_dim // 2,)
    assert torch.equal(inv[kept:], torch.zeros(head_dim // 2 - kept))
    assert torch.equal(inv[:kept], plain_rope(cfg)[:kept])
    expected = textbook(float(cfg.rope_parameters["rope_theta"]), head_dim, kept)
    torch.testing.assert_close(inv[:kept].double(), expected, rtol=1e-6, atol=0)
    # What the attention receives: cos 1 and sin 0 on every stopped dimension, at every position.
    positions = torch.arange(0, 4096, 7).unsqueeze(0)
    cos, sin = model.model.rotary_emb(torch.zeros(1, dtype=torch.float32), positions)
    stopped = torch.cat(
        [torch.arange(kept, head_dim // 2), torch.arange(kept, head_dim // 2) + head_dim // 2]
    )
    assert torch.equal(cos[..., stopped], torch.ones_like(cos[..., stopped]))
    assert torch.equal(sin[..., stopped], torch.zeros_like(sin[..., stopped]))


# --- options --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rope", "p", "theta", "field", "message"),
    [
        ("rope", None, None, "rope", "unknown variant 'rope' (valid: default, p_rope, none)"),
        ("default", 0.5, None, "p", "applies to the p_rope variant only"),
        ("none", None, 1e4, "rope_theta", "NoPE (the none variant) has no frequencies"),
        ("p_rope", 0.0, None, "p", "p = 0 is the none variant"),
        ("p_rope", 1.0, None, "p", "p = 1 the default one"),
        ("p_rope", 0.2, None, "p", f"planted previous-token head needs the {FAST_PLANES} fastest"),
        ("default", None, 0.5, "rope_theta", "must be a number > 1"),
    ],
)
def test_bad_variant_options_are_refused(
    rope: str, p: float | None, theta: float | None, field: str, message: str
):
    problems = check_variant(rope, p, theta, head_dim=64)
    assert [f for f, _ in problems] == [field]
    assert message in problems[0][1]


@pytest.mark.parametrize(
    ("rope", "p", "theta"), [("default", None, None), ("p_rope", 0.25, 5e3), ("none", None, None)]
)
def test_good_variant_options_pass(rope: str, p: float | None, theta: float | None):
    assert check_variant(rope, p, theta, head_dim=64) == []


def test_variant_settings_change_only_the_position_encoding():
    base = asdict(ReferenceSettings())
    for rope, p, changed in [
        ("p_rope", None, {"rope": "p_rope", "p": 0.75}),
        ("none", None, {"rope": "none"}),
    ]:
        s = asdict(variant_settings(rope, p))
        assert {k: v for k, v in s.items() if base[k] != v} == changed
    assert variant_settings() == ReferenceSettings()  # the default recipe, untouched


def test_train_reference_command_reports_every_bad_option_at_once(tmp_path: Path):
    from typer.testing import CliRunner

    from longctx_eval.cli import app

    args = [
        "train-reference",
        "--output",
        str(tmp_path / "m"),
        "--rope",
        "none",
        "--p",
        "0.5",
        "--rope-theta",
        "10",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    # The library names the parameters (p, rope_theta); the command line names them as typed.
    assert "--p: applies to the p_rope variant only (got none)" in result.output
    assert "--rope-theta: NoPE (the none variant) has no frequencies" in result.output
    assert not (tmp_path / "m").exists()


# --- what each variant saves, and the frequencies transformers gives it ---------------------------


@pytest.mark.parametrize(
    ("rope", "p", "expected"),
    [
        ("default", None, {"rope_type": "default", "rope_theta": 1000.0}),
        ("p_rope", 0.75, {"rope_type": "proportional", "rope_theta": 1000.0, "partial_rotary_factor": 0.75}),
        ("none", None, {"rope_type": "proportional", "rope_theta": 1000.0, "partial_rotary_factor": 0.0}),
    ],
)
def test_rope_parameters_of_each_variant(rope: str, p: float | None, expected: dict):
    assert rope_parameters(rope, p, 1000.0) == expected


def variant_config(rope: str, p: float | None = None) -> LlamaConfig:
    """A small model with the reference's head (64 wide, 32 pairs) and a variant's rope."""
    return LlamaConfig(
        vocab_size=512,
        hidden_size=192,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=3,
        num_key_value_heads=3,
        max_position_embeddings=256,
        rope_parameters=rope_parameters(rope, p, 1000.0),
        tie_word_embeddings=True,
    )


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each variant's config on a random model, saved in HF format (no training: fast)."""
    tmp = tmp_path_factory.mktemp("saved")
    for rope in ("p_rope", "none"):
        torch.manual_seed(0)
        LlamaForCausalLM(variant_config(rope, 0.75 if rope == "p_rope" else None)).save_pretrained(tmp / rope)
    return {rope: tmp / rope for rope in ("p_rope", "none")}


@pytest.mark.parametrize(("rope", "p"), [("p_rope", 0.75), ("none", 0.0)])
def test_variants_load_with_automodel_and_use_the_intended_frequencies(saved: dict, rope: str, p: float):
    model = AutoModelForCausalLM.from_pretrained(saved[rope], dtype=torch.float32)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.rope_parameters["rope_type"] == "proportional"
    assert model.config.rope_parameters["partial_rotary_factor"] == p
    check_frequencies(model, p)


def test_nope_rotation_is_the_identity_bit_for_bit(saved: dict):
    model = AutoModelForCausalLM.from_pretrained(saved["none"], dtype=torch.float32)
    q, k = torch.randn(2, 3, 50, 64, generator=torch.Generator().manual_seed(0)).unbind(0)
    cos, sin = model.model.rotary_emb(q, torch.arange(5000, 5050).unsqueeze(0))
    q_rot, k_rot = apply_rotary_pos_emb(q.unsqueeze(0), k.unsqueeze(0), cos, sin)
    assert torch.equal(q_rot[0], q) and torch.equal(k_rot[0], k)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict, dict]]:
    """Each variant trained for 2 steps, twice with the same seed: (directory, summary, again)."""
    tmp = tmp_path_factory.mktemp("variants")
    out = {}
    for rope in ("p_rope", "none"):
        settings = ReferenceSettings(**{**asdict(variant_settings(rope)), **SMALL})
        first = train_reference(tmp / rope, seed=0, steps=2, settings=settings, log=None)
        again = train_reference(tmp / f"{rope}-again", seed=0, steps=2, settings=settings, log=None)
        out[rope] = (tmp / rope, first, again)
    return out


@pytest.mark.slow
@pytest.mark.parametrize(("rope", "p"), [("p_rope", 0.75), ("none", 0.0)])
def test_variant_training_is_reproducible_and_saves_a_loadable_model(trained: dict, rope: str, p: float):
    path, first, again = trained[rope]
    assert again["model_sha256"] == first["model_sha256"]
    other = trained["none" if rope == "p_rope" else "p_rope"][1]
    assert other["model_sha256"] != first["model_sha256"]  # the variants really differ
    assert first["settings"]["rope"] == rope and first["settings"]["p"] == (p or None)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    check_frequencies(model, p)
    card = (path / "README.md").read_text()
    assert first["model_sha256"] in card and "configs/rope-variants.yaml" in card


def test_p_rope_plants_the_copy_circuit_on_rotating_pairs():
    models = {}
    for rope in ("p_rope", "default", "none"):
        torch.manual_seed(0)
        model = LlamaForCausalLM(variant_config(rope, 0.75 if rope == "p_rope" else None)).eval()
        plant_induction_circuit(model, torch.Generator().manual_seed(0), previous_token=rope != "none")
        models[rope] = model
    a0 = models["p_rope"].model.layers[0].self_attn
    planes = a0.k_proj.weight[:64].abs().sum(dim=1).nonzero().flatten().tolist()
    rotating = models["p_rope"].model.rotary_emb.inv_freq.nonzero().flatten().tolist()
    assert planes == list(range(FAST_PLANES)) and set(planes) <= set(rotating)
    run = torch.randint(3, 512, (4, 40), generator=torch.Generator().manual_seed(1))
    ids = torch.cat([run, run], dim=1)
    with torch.no_grad():
        pred = models["p_rope"](input_ids=ids).logits.argmax(-1)
    assert (pred[:, 40:-1] == ids[:, 41:]).float().mean() > 0.8
    # NoPE starts from the RoPE model's weights but for the rotary previous-token head's q and k.
    rope_w, nope_w = models["default"].state_dict(), models["none"].state_dict()
    differ = [name for name in rope_w if not torch.equal(rope_w[name], nope_w[name])]
    assert differ == ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight"]
    assert torch.equal(
        rope_w["model.layers.0.self_attn.q_proj.weight"][64:],
        nope_w["model.layers.0.self_attn.q_proj.weight"][64:],
    )


# --- the p_rope method on models trained with p-RoPE or NoPE --------------------------------------


def proportional_config(p: float) -> LlamaConfig:
    return LlamaConfig(
        hidden_size=192,
        num_attention_heads=3,
        max_position_embeddings=256,
        rope_parameters=rope_parameters("p_rope" if p else "none", p, 1000.0),
    )


def test_p_rope_method_accepts_p_zero_and_stops_every_pair():
    base = read_rope_base(LlamaConfig(hidden_size=192, num_attention_heads=3, max_position_embeddings=256))
    rows = analyse(
        LlamaConfig(hidden_size=192, num_attention_heads=3, max_position_embeddings=256),
        base,
        ScalingSpec("p_rope", params=PRopeParams(p=0.0)),
        2048,
    ).pairs
    assert [r.kind for r in rows] == ["stopped"] * 32
    assert ScalingSpec("p_rope", params=PRopeParams(p=0.0)).label() == "p_rope(p=0)"


def test_rope_table_of_a_p_rope_model_shows_its_stopped_pairs():
    config = proportional_config(0.75)
    rows = analyse(config, read_rope_base(config), ScalingSpec("none"), 2048).pairs
    assert [r.kind for r in rows] == ["extrapolated"] * 24 + ["stopped"] * 8
    assert all(math.isinf(r.wavelength_after) and r.rotations_at_target == 0 for r in rows[24:])


@pytest.mark.parametrize(
    ("rope", "method", "stopped"),
    [("p_rope", ["none"], 8), ("none", ["none"], 32), ("p_rope", ["p_rope", "--param", "p=0.5"], 16)],
)
def test_rope_command_lists_the_pairs_p_rope_stops(saved: dict, rope: str, method: list[str], stopped: int):
    from typer.testing import CliRunner

    from longctx_eval.cli import app

    command = ["rope", "--model", str(saved[rope]), "--json", "--method", *method]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    kinds = [row["kind"] for row in json.loads(result.output)["pairs"]]
    assert kinds == ["extrapolated"] * (32 - stopped) + ["stopped"] * stopped


@pytest.mark.parametrize(
    ("own", "p", "ok"),
    [(0.75, 0.5, True), (0.75, 0.75, True), (0.75, 1.0, False), (0.0, 0.0, True), (0.0, 0.5, False)],
)
def test_p_rope_method_never_rotates_pairs_a_model_was_trained_without(own: float, p: float, ok: bool):
    base = read_rope_base(proportional_config(own))
    spec = ScalingSpec("p_rope", params=PRopeParams(p=p))
    if ok:
        assert spec.resolve(base).rope_parameters["partial_rotary_factor"] == p
    else:
        with pytest.raises(ValueError, match="trained without rotation"):
            spec.resolve(base)


# --- cards and the shipped checkpoints ------------------------------------------------------------


def test_variant_scores_quote_one_model_from_a_leaderboard(tmp_path: Path):
    def cell(length: int, value: float, text: str, n: int) -> dict:
        return {"length": length, "status": "ok", "value": value, "low": 0, "high": 1, "n": n, "text": text}

    def row(model: str, values: list[dict]) -> dict:
        return {"model": model, "backend": "hf", "method_label": "none", "method": "none", "values": values}

    board = {  # a leaderboard.json as `report` writes it: read through its model (reporting.summary)
        "title": "variants",
        "options": {},
        "tasks": ["passkey", "perplexity"],
        "leaderboard_tasks": ["passkey"],
        "leaderboard": [],
        "tables": [
            {
                "task": "passkey",
                "metric": "accuracy",
                "higher_is_better": True,
                "lengths": [256, 2048],
                "rows": [
                    row(
                        "a",
                        [cell(256, 1.0, "1.00 [0.91, 1.00]", 40), cell(2048, 0.1, "0.10 [0.04, 0.23]", 40)],
                    ),
                    row(
                        "b",
                        [cell(256, 0.5, "0.50 [0.35, 0.65]", 40), cell(2048, 0.0, "0.00 [0.00, 0.09]", 40)],
                    ),
                ],
            },
            {
                "task": "perplexity",
                "metric": "ppl",
                "higher_is_better": False,
                "lengths": [256, 2048],
                "rows": [
                    row("a", [cell(256, 30.0, "30.0 [20, 40]", 16), cell(2048, 60.0, "60.0 [50, 70]", 16)]),
                ],
            },
        ],
    }
    path = tmp_path / "leaderboard.json"
    path.write_text(json.dumps(board))
    text = variant_scores(path, "a")
    assert "passkey accuracy 1.00 [0.91, 1.00] (40 samples) at L = 256" in text
    assert "perplexity 30.0 [20, 40] at L and 60.0 [50, 70] at 2048 tokens (2.00×, 16 documents)" in text
    assert "| a | none | 1.00 [0.91, 1.00] | 0.10 [0.04, 0.23] |" in text and "0.50" not in text
    beside = variant_scores(path, "a", beside=("b",))
    assert beside.index("| a | none | 1.00") < beside.index(
        "| b | none | 0.50 [0.35, 0.65] | 0.00 [0.00, 0.09] |"
    )
    with pytest.raises(ValueError, match="no rows for model 'c'"):
        variant_scores(path, "c")


@pytest.mark.parametrize("rope", ["p_rope", "none"])
def test_shipped_variant_checkpoints(rope: str):
    path = SHIPPED[rope]
    if not (path / "config.json").exists():
        pytest.skip(f"no shipped {rope} checkpoint")
    summary = json.loads((path / "training_summary.json").read_text())
    assert summary["settings"]["rope"] == rope
    assert AutoConfig.from_pretrained(path).rope_parameters == rope_parameters(
        rope, summary["settings"]["p"], 1000.0
    )
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    check_frequencies(model, summary["settings"]["p"] or 0.0)
    assert hashlib.sha256((path / "model.safetensors").read_bytes()).hexdigest() == summary["model_sha256"]
    assert (
        render_card(summary).split("## Scores")[0] == (path / "README.md").read_text().split("## Scores")[0]
    )
