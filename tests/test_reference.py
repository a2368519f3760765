"""The reference model: its training function runs and saves a loadable model, its planted copy
circuit copies at step 0, and the shipped checkpoint retrieves a passkey at its native length and
loses perplexity at 8L unscaled."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

from longctx_eval.reference import ReferenceSettings, train_reference
from longctx_eval.reference.episodes import EpisodeMaker
from longctx_eval.reference.init import plant_induction_circuit

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "models" / "reference"
DOCS = REPO / "data" / "reference_docs.jsonl"


@pytest.mark.slow
def test_train_reference_saves_a_loadable_model(tmp_path: Path):
    small = ReferenceSettings(
        train_chars=150_000, tokenizer_chars=150_000, vocab_size=1024, batch_size=4, log_every=1
    )
    summary = train_reference(tmp_path / "m", seed=0, steps=2, settings=small, log=None)
    assert summary["settings"]["steps"] == 2 and summary["native_length"] == small.native_length
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m", dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    assert model.config.max_position_embeddings == small.native_length
    assert model.config.rope_parameters["rope_type"] == "default"
    assert tok("x")["input_ids"][0] == tok.bos_token_id
    assert (tmp_path / "m" / "README.md").exists()
    assert json.loads((tmp_path / "m" / "training_summary.json").read_text())["seed"] == 0
    # Reproducible: the same seed writes the same bytes.
    again = train_reference(tmp_path / "again", seed=0, steps=2, settings=small, log=None)
    assert again["model_sha256"] == summary["model_sha256"]


def test_episodes_are_exact_length_and_end_with_the_answer(tmp_path: Path):
    from longctx_eval.tiny import train_tokenizer

    from .conftest import corpus

    tok = train_tokenizer(corpus(), vocab_size=1000)
    maker = EpisodeMaker(tok)
    rng = np.random.default_rng(0)
    for kind in ("passkey", "niah"):
        ep = maker.make(rng, kind, maker.min_length() + 40)
        assert ep.answer_start == maker.min_length() + 40
        answer = tok.decode(ep.ids[ep.answer_start :], skip_special_tokens=True)
        assert answer.strip().rstrip(".").isdigit() and ep.ids[-1] == tok.eos_token_id


def test_planted_circuit_copies_at_initialisation():
    cfg = LlamaConfig(
        vocab_size=512,
        hidden_size=96,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        rope_parameters={"rope_type": "default", "rope_theta": 1000.0},
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).eval()
    plant_induction_circuit(model, torch.Generator().manual_seed(0))
    run = torch.randint(3, 512, (4, 40), generator=torch.Generator().manual_seed(1))
    ids = torch.cat([run, run], dim=1)
    with torch.no_grad():
        pred = model(input_ids=ids).logits.argmax(-1)
    # Token j of the repeat (j >= 1) predicts token j + 1 of the run.
    assert (pred[:, 40:-1] == ids[:, 41:]).float().mean() > 0.8


def _run_shipped(out: Path, lengths: list[int], task: dict) -> list[dict]:
    """Run the harness itself (not the training script) on the shipped checkpoint, `none` only."""
    from longctx_eval.config import parse_sweep
    from longctx_eval.plan import make_plan
    from longctx_eval.progress import PlainProgress
    from longctx_eval.runner import run_plan
    from longctx_eval.store import read_records

    sweep = {
        "name": "reference-check",
        "seed": 3,
        "backend": {"kind": "hf", "dtype": "float32", "batch_size": 5},
        "models": [{"name": "reference", "path": str(SHIPPED)}],
        "methods": ["none"],
        "lengths": lengths,
        "tasks": [task],
    }
    run_plan(make_plan(parse_sweep(sweep)), out, PlainProgress(io.StringIO()))
    records = sorted(read_records(out), key=lambda r: r.length)
    assert all(r.status == "ok" for r in records), records
    return records


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="no shipped reference checkpoint")
def test_shipped_checkpoint_retrieves_a_passkey_at_its_native_length(tmp_path: Path):
    L = AutoConfig.from_pretrained(SHIPPED).max_position_embeddings
    (record,) = _run_shipped(tmp_path / "out", [L], {"task": "passkey", "samples": 5})
    assert record.metrics.accuracy >= 0.8


@pytest.mark.skipif(not (SHIPPED / "config.json").exists(), reason="no shipped reference checkpoint")
@pytest.mark.slow
def test_shipped_checkpoint_degrades_beyond_its_native_length(tmp_path: Path):
    # The yardstick the quickstart needs: unscaled, the model's perplexity at 8L is at least 1.5x
    # its perplexity at L on the shipped held-out documents (the model card has the figures).
    L = AutoConfig.from_pretrained(SHIPPED).max_position_embeddings
    task = {"task": "perplexity", "dataset": str(DOCS), "documents": 16, "mode": "truncate"}
    at_l, at_8l = _run_shipped(tmp_path / "out", [L, 8 * L], task)
    assert at_8l.metrics.ppl >= 1.5 * at_l.metrics.ppl


def test_shipped_docs_are_long_enough():
    tok = AutoTokenizer.from_pretrained(SHIPPED) if (SHIPPED / "tokenizer.json").exists() else None
    lines = DOCS.read_text().splitlines()
    assert len(lines) >= 4
    if tok is not None:
        L = AutoConfig.from_pretrained(SHIPPED).max_position_embeddings
        lengths = [
            len(tok(json.loads(line)["text"], add_special_tokens=False)["input_ids"]) for line in lines
        ]
        assert min(lengths) >= 8 * L


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--steps", "0"], "--steps: must be >= 1"),
        ([], "is not empty; give a new directory"),
        (["--init", "zeros"], "--init: unknown initialisation 'zeros' (valid: planted, random)"),
    ],
)
def test_train_reference_command_refuses_bad_input(tmp_path: Path, args: list[str], message: str):
    from typer.testing import CliRunner

    from longctx_eval.cli import app

    (tmp_path / "old.txt").write_text("a finished run\n")
    result = CliRunner().invoke(app, ["train-reference", "--output", str(tmp_path), *args])
    assert result.exit_code == 2 and message in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["old.txt"]  # nothing written, nothing lost


def test_random_init_settings_and_card():
    from longctx_eval.reference import variant_settings
    from longctx_eval.reference.card import render_card

    assert not variant_settings(init="random").plant_circuit and variant_settings().plant_circuit
    summary = json.loads((SHIPPED / "training_summary.json").read_text())
    planted = render_card(summary)
    assert "## What is planted" in planted and "induction head (layer 1, head 0)" in planted
    summary["settings"]["plant_circuit"] = False
    card = render_card(summary)
    assert "--init random" in card and 'variant_settings(init="random")' in card
    assert "Nothing: every weight starts from transformers' random initialisation" in card


@pytest.mark.slow
def test_random_init_plants_nothing(tmp_path: Path):
    # The planted circuit zeroes every MLP output projection; with nothing planted they keep
    # transformers' random values.
    from longctx_eval.reference import variant_settings

    small = dataclasses.replace(
        variant_settings(init="random"),
        train_chars=150_000,
        tokenizer_chars=150_000,
        vocab_size=1024,
        batch_size=4,
    )
    train_reference(tmp_path / "m", seed=0, steps=1, settings=small, log=None)
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "m", dtype=torch.float32)
    assert all(float(layer.mlp.down_proj.weight.abs().max()) > 0 for layer in model.model.layers)
